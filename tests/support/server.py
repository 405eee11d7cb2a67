"""Starting a server and waiting for it: a free port, polling ``/ready`` (of an app in a TestClient or of a
base URL) until it answers as wanted, and a live ``python -m triage serve`` process.

    with live_server(env, tmp_path / "server.log") as server:   # started, ready (or failed with its log)
        httpx.get(f"{server.base}/health")
    # stopped: SIGTERM, then a kill (and a failure) if it is still running 30 s later

``start_server`` starts without waiting, for a test that starts several at the same moment and then waits for
each (``LiveServer.wait_ready``, one deadline for all).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from benchmarks.server import free_port
from tests.support import REPO

#: ``until(status, body)``: whether the answer of the polled route is the one waited for.
Condition = Callable[[int, dict[str, Any]], bool]
#: ``python -m triage``, the CLI as the tests run it.
TRIAGE = (sys.executable, "-m", "triage")
#: How much of a server's log a failure shows.
LOG_TAIL_CHARS = 6000


class Client(Protocol):
    """What is polled: a TestClient (Starlette's, on its own copy of httpx) or an httpx client."""

    @property
    def base_url(self) -> Any: ...

    def get(self, url: str) -> Any: ...


def is_ready(status: int, body: dict[str, Any]) -> bool:
    """The default condition: 200."""
    return status == 200


def _body(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"text": response.text[:500]}
    return body if isinstance(body, dict) else {"body": body}


def wait_ready(target: Client | str, timeout: float = 30.0, *, until: Condition = is_ready,
               path: str = "/ready", poll: float = 0.05, deadline: float | None = None,
               alive: Callable[[], None] | None = None) -> Any:
    """Poll ``path`` of ``target`` (a TestClient or another httpx client, or a base URL such as
    ``http://127.0.0.1:8123``) every ``poll`` seconds until ``until(status, body)`` holds (by default: status
    200), and return that answer. Gives up after ``timeout`` seconds, or at ``deadline`` (a ``time.monotonic()``
    value) when given, with an AssertionError naming the last answer. A base URL that refuses connections (a
    server still starting) is waited for; ``alive``, when given, is called before each attempt (to stop at once
    when the server process has died)."""
    started = time.monotonic()
    end = started + timeout if deadline is None else deadline
    where = target if isinstance(target, str) else str(target.base_url)
    last = "no answer"
    while True:
        if alive is not None:
            alive()
        try:
            response = httpx.get(f"{target}{path}", timeout=5) if isinstance(target, str) else target.get(path)
        except httpx.TransportError as error:
            last = f"no answer ({error!r})"
        else:
            body = _body(response)
            if until(response.status_code, body):
                return response
            last = f"{response.status_code} {body}"
        if time.monotonic() >= end:
            seconds = round(end - started, 1)
            raise AssertionError(f"{path} of {where} never got there in {seconds:g} s; last answer: {last}")
        time.sleep(poll)


class ServerExited(AssertionError):
    """The server process ended while it was waited for."""


@dataclass
class LiveServer:
    """A ``triage serve`` process on 127.0.0.1:``port``, its output (stdout and stderr) in ``log_path``."""

    base: str
    process: subprocess.Popen[str]
    log_path: Path

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""
        return text[-chars:]

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ServerExited(f"{self.base}: the server exited ({self.process.returncode}) at start-up; "
                               f"its log ends:\n{self.log_tail()}")

    def wait_ready(self, timeout: float = 60.0, *, path: str = "/ready", deadline: float | None = None) -> None:
        """Until ``path`` answers 200 (see ``wait_ready``); fails with the server's log if it exits first or
        is not there in time."""
        try:
            wait_ready(self.base, timeout, path=path, poll=0.2, deadline=deadline, alive=self.check_alive)
        except ServerExited:
            raise
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe server's log ends:\n{self.log_tail()}") from None

    def stop(self, timeout: float = 30.0, *, strict: bool = True) -> None:
        """SIGTERM, and wait for the exit; still running after ``timeout`` seconds: killed, and (``strict``)
        that is a failure."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            if strict:
                raise AssertionError(f"{self.base}: still running {timeout:g} s after SIGTERM (killed); "
                                     f"its log ends:\n{self.log_tail()}") from None


def start_server(env: dict[str, str], log_path: Path, *, args: Sequence[str] = (),
                 command: Sequence[str] = TRIAGE, cwd: Path = REPO, port: int | None = None) -> LiveServer:
    """Start ``COMMAND serve --port PORT ARGS`` (``python -m triage`` unless ``command`` names another
    ``triage``) with exactly ``env``, its output into ``log_path``; does not wait for it."""
    port = free_port() if port is None else port
    with log_path.open("w") as log:
        process = subprocess.Popen([*command, "serve", "--port", str(port), *args], env=env, cwd=cwd,
                                   stdout=log, stderr=subprocess.STDOUT, text=True)
    return LiveServer(f"http://127.0.0.1:{port}", process, log_path)


@contextmanager
def live_server(env: dict[str, str], log_path: Path, *, args: Sequence[str] = (), command: Sequence[str] = TRIAGE,
                cwd: Path = REPO, ready_path: str = "/ready", timeout: float = 60.0) -> Iterator[LiveServer]:
    """A started server (see ``start_server``) once ``ready_path`` answers 200 within ``timeout`` seconds
    (otherwise a failure showing the end of its log); stopped on the way out (``LiveServer.stop``)."""
    server = start_server(env, log_path, args=args, command=command, cwd=cwd)
    try:
        server.wait_ready(timeout, path=ready_path)
        yield server
    finally:
        server.stop()
