"""The server's CPU time per single-report request: what the HTTP, validation, database and answer path costs.

Starts a real ``triage serve`` (one worker) on ``--model-path`` (the tiny test model makes the model's share
near zero, so what is measured is the Python around it) and a fresh database (SQLite in a temporary folder, or
``--database-url``), sends ``--requests`` single-report ``POST /v1/reports:score`` requests with fresh report
ids from ``--concurrency`` closed-loop clients, then the same reports again (replays, ``--replays``), and reads
the server process's CPU time (utime + stime of all its threads, ``/proc/PID/stat``) before and after each
phase. CPU time, not requests/s: on a shared machine wall-clock throughput measures the other jobs too.

    python -m benchmarks.http_cost --model-path /tmp/tiny --requests 2000
    python -m benchmarks.http_cost --model-path /tmp/tiny --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Without ``--model-path`` the tiny test model is built first (``tests.factories.make_tiny_artifact``: needs the
``train`` extra). A PostgreSQL database given by URL should be empty (or hold earlier runs' rows: report ids are
fresh per run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.common import load_texts, percentile
from benchmarks.server import ManagedServer, serve_env

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far (all its threads). Linux only."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15 of stat


@dataclass
class Phase:
    name: str
    requests: int
    wall_s: float
    cpu_s: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def line(self) -> str:
        ms = [s * 1000 for s in self.latencies_s]
        return (f"{self.name:<8} {self.requests:>6} requests  server CPU {self.cpu_s * 1000 / self.requests:6.2f} ms"
                f"/request  ({self.cpu_s:.2f} s)  {self.requests / self.wall_s:6.1f} requests/s  "
                f"p50 {percentile(ms, 50):.1f} p99 {percentile(ms, 99):.1f} ms  "
                f"statuses {dict(sorted(self.statuses.items()))}")


async def drive(url: str, key: str, bodies: list[dict[str, str]], concurrency: int, pid: int, name: str) -> Phase:
    """Send ``bodies`` as ``:score`` requests from ``concurrency`` closed-loop clients; the server's CPU meanwhile."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120,
                                 limits=limits) as client:
        await client.get("/health")  # connections are opened outside the measured window as far as possible
        pending = iter(bodies)
        phase = Phase(name, len(bodies), 0.0, 0.0)

        async def client_loop() -> None:
            for body in pending:  # shared: each request is taken by one client
                started = time.perf_counter()
                response = await client.post("/v1/reports:score", json=body)
                phase.latencies_s.append(time.perf_counter() - started)
                phase.statuses[response.status_code] = phase.statuses.get(response.status_code, 0) + 1

        cpu, started = cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        phase.wall_s, phase.cpu_s = time.perf_counter() - started, cpu_seconds(pid) - cpu
    return phase


async def run(url: str, key: str, pid: int, texts: list[str], args: argparse.Namespace) -> list[Phase]:
    run_id = uuid.uuid4().hex[:8]
    warm = [{"report_id": f"warm-{run_id}-{i}", "text": texts[i % len(texts)]} for i in range(args.warmup)]
    await drive(url, key, warm, args.concurrency, pid, "warm-up")
    bodies = [{"report_id": f"cost-{run_id}-{i}", "text": texts[i % len(texts)]} for i in range(args.requests)]
    phases = []
    for repeat in range(args.repeat):
        fresh = [{**b, "report_id": f"{b['report_id']}-{repeat}"} for b in bodies]
        phases.append(await drive(url, key, fresh, args.concurrency, pid, "new"))
        if args.replays:
            phases.append(await drive(url, key, fresh, args.concurrency, pid, "replay"))
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-path", type=Path, help="Artifact folder (default: build the tiny test model).")
    parser.add_argument("--database-url", help="Default: SQLite in a temporary folder.")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="Measure the phases this many times.")
    parser.add_argument("--replays", action=argparse.BooleanOptionalAction, default=True,
                        help="Also send every report a second time (answered from the store).")
    parser.add_argument("--corpus", type=Path, default=Path("var/corpus/corpus.parquet"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="Extra server environment (e.g. TRIAGE_BATCH_MAX_WAIT_MS=0).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="http-cost-") as tmp:
        folder = Path(tmp)
        model_path = args.model_path
        if model_path is None:
            from tests.factories import make_tiny_artifact

            model_path, _ = make_tiny_artifact(folder / "tiny")
        database_url = args.database_url or f"sqlite:///{folder / 'triage.db'}"
        env = serve_env(folder / "var", model_path.resolve(), database_url)
        env["TRIAGE_RATE_LIMIT_PER_SECOND"] = "0"  # one client pushing as hard as it can
        env.update(item.split("=", 1) for item in args.env)
        server = ManagedServer(env, folder / "server.log")
        key = server.create_key("http-cost", "intake")
        texts = load_texts(args.corpus, 1000, args.seed)
        server.start()
        try:
            assert server.process is not None
            phases = asyncio.run(run(server.url, key, server.process.pid, texts, args))
        finally:
            server.stop()
    backend = database_url.split(":", 1)[0]
    print(f"# {args.requests} single-report :score requests, {args.concurrency} clients, {backend}, model "
          f"{model_path}; texts: {len(texts)}, mean {statistics.mean(len(t) for t in texts):.0f} characters; "
          f"load average {os.getloadavg()[0]:.2f}")
    for phase in phases:
        print(phase.line())


if __name__ == "__main__":
    main()
