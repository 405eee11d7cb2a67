"""``triage serve`` as a child process for the benchmarks (and the reliability tests that drive them): a free
loopback port, the environment of a server on one model and database, start and wait for ``/ready``, kill,
start again on the same port, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(work_dir: Path, model_path: Path, database_url: str,
              base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``triage serve`` on ``model_path`` and ``database_url``, registry polling off."""
    return {**(os.environ if base is None else base), "TRIAGE_WORK_DIR": str(work_dir),
            "TRIAGE_MODEL_PATH": str(model_path), "TRIAGE_DATABASE_URL": database_url,
            "TRIAGE_MODEL_POLL_SECONDS": "0", "TRIAGE_LOG_FORMAT": "json"}


class ManagedServer:
    """``triage serve`` as a child process on a fixed loopback port, which can be killed and started again
    on the same port and database. Its output goes to ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path, port: int | None = None) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_key(self, name: str, role: str) -> str:
        """A new key on the server's database (migrated first), as `triage keys create` makes it, in process."""
        from serving.auth import Role, create_key
        from serving.db.engine import make_engine, make_sessionmaker, transaction, upgrade

        engine = make_engine(self.env["TRIAGE_DATABASE_URL"])
        try:
            upgrade(engine)
            with transaction(make_sessionmaker(engine)) as session:
                return create_key(session, name, Role(role)).secret
        finally:
            engine.dispose()

    def start(self, timeout: float = 120.0) -> None:
        """Start the server and wait until ``/ready`` answers 200."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "triage", "serve", "--port", str(self.port)], env=self.env, cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 120.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log_path}:\n"
                                   + self.log_tail())
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server was not ready within {timeout:g} s; see {self.log_path}:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, requests in flight cut off."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
