"""The scoring paths compared in one run, on the same real texts: reports/s, latency, peak memory, sizes.

(a) a transformers ``Pipeline`` around the fine-tuned torch model, fp32, torch's default threads: what a user
    would try first. Called on the list of texts with the pipeline's default batching (one text per forward
    pass), and again with ``batch_size=32``.
(b) onnxruntime fp32: ``Scorer(artifact, use_fp32=True)``, batches of 32.
(c) the int8 scorer that serves: ``Scorer(artifact)``, batches of 32.
(d) the API end to end: a real ``triage serve`` (uvicorn) on the int8 artifact, a fresh work folder, polling
    off; concurrent closed-loop clients sending single-report ``:score`` requests, then ``:batchScore``
    requests of 32; then an open-loop run at a fixed rate (20 single-report requests/s by default).

Each of (a), (b), (c) runs in its own fresh process, so its peak RSS (VmHWM) is its own: imports, model and
the run. Per-report latency of (a)-(c) is one report per call (batch 1) on the first ``--latency-rows`` texts.
Texts: a seeded random sample of the corpus test split (their natural length distribution), the same list
for every path. The figures are one run on this machine, whatever else runs on it: the load average is
printed at the start and the end.

    python -m benchmarks.scoring --artifact var/models/demo --run-dir var/runs/demo --rows 512
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np

from benchmarks.common import descendants, latency_ms, load_texts, open_loop, peak_rss_mib
from benchmarks.server import ManagedServer, serve_env

REPO = Path(__file__).resolve().parents[1]
# The training run's weights (training.train.WEIGHTS; importing that module loads the training stack).
RUN_WEIGHTS = "model.safetensors"
PATHS = ("torch", "fp32", "int8", "http")
MIB = 2**20


# ---------------------------------------------------------------------------------------------------------
# (a) the transformers pipeline


def run_encoder_dir(run_dir: Path) -> Path:
    """The pretrained encoder's folder the run trained from (its config and whole-vocabulary tokenizer)."""
    from training.summary import TrainingSummary

    encoder_dir = TrainingSummary.load(run_dir).encoder_dir
    if not encoder_dir.is_absolute() and not encoder_dir.is_dir():
        encoder_dir = REPO / encoder_dir
    return encoder_dir


def load_torch_classifier(run_dir: Path) -> Any:
    """The fine-tuned ``TriageClassifier`` of a training run, in eval mode.

    What ``training.export._load_torch_model`` does, without importing the training stack (MLflow and the
    rest), which would add about 100 MB to this path's peak memory that a user of the pipeline would not
    have."""
    from safetensors.torch import load_file
    from transformers import BertModel

    from training.modeling import TriageClassifier, encoder_config
    from training.summary import TrainingSummary

    summary = TrainingSummary.load(run_dir)
    config = encoder_config(run_encoder_dir(run_dir), summary.config.get("encoder_layers"))
    encoder = BertModel(config, add_pooling_layer=False)
    model = TriageClassifier(encoder, len(summary.tier_labels), len(summary.area_labels))
    model.load_state_dict(load_file(str(run_dir / RUN_WEIGHTS)))
    return model.eval()


def build_pipeline(run_dir: Path, artifact_dir: Path) -> Any:
    """A transformers ``Pipeline`` scoring one text at a time as ``model.scorer`` does: the run's tokenizer
    (a fast HF tokenizer from the encoder's tokenizer.json: the torch model of the run has the encoder's whole
    vocabulary, the artifact a trimmed one), text normalisation, prefix and max_length; the torch model; the
    artifact's calibration temperatures. Returns, per text, the top tier and the calibrated tier and area
    probabilities."""
    import torch
    from transformers import Pipeline, PreTrainedTokenizerFast

    from model.artifact import ArtifactMeta
    from model.text import normalize_text

    meta = ArtifactMeta.load(artifact_dir)
    tokenizer_file = str(run_encoder_dir(run_dir) / "tokenizer.json")
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=tokenizer_file)  # type: ignore[no-untyped-call]
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(meta.pad_id)

    class OnDevice(torch.nn.Module):
        """The classifier with the ``device`` attribute that ``Pipeline`` expects of a PreTrainedModel."""

        def __init__(self, classifier: torch.nn.Module) -> None:
            super().__init__()
            self.classifier = classifier

        @property
        def device(self) -> torch.device:
            return next(self.parameters()).device

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
            return self.classifier(input_ids, attention_mask)

    class TriagePipeline(Pipeline):
        def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
            return {}, {}, {}

        def preprocess(self, text: str) -> Any:  # type: ignore[override]  # one text in, by design
            return tokenizer(meta.text_prefix + normalize_text(text), truncation=True,
                                  max_length=meta.max_length, return_tensors="pt")

        def _forward(self, input_tensors: dict[str, Any], **forward_parameters: Any) -> Any:
            tier, areas = self.model(input_tensors["input_ids"], input_tensors["attention_mask"])
            return {"tier_logits": tier, "area_logits": areas}

        def postprocess(self, model_outputs: Any, **postprocess_parameters: Any) -> Any:
            tier = torch.softmax(model_outputs["tier_logits"][0] / meta.temperatures.tier, dim=-1).tolist()
            areas = torch.sigmoid(model_outputs["area_logits"][0] / meta.temperatures.areas).tolist()
            return {"tier": meta.tier_labels[int(np.argmax(tier))],
                    "tier_probs": dict(zip(meta.tier_labels, tier, strict=True)),
                    "area_probs": dict(zip(meta.area_labels, areas, strict=True))}

    # OnDevice is not a PreTrainedModel, nor the fast tokenizer a PythonBackend, as Pipeline's hints say; both
    # have what Pipeline uses of them.
    return TriagePipeline(model=cast(Any, OnDevice(load_torch_classifier(run_dir))), tokenizer=cast(Any, tokenizer),
                          device=torch.device("cpu"))


def measure_pipeline(run_dir: str, artifact_dir: str, texts: list[str], latency_rows: int, batch_size: int,
                     warmup: int, threads: int | None) -> dict[str, Any]:
    """(a), in a child process: throughput with the pipeline's default batching and with ``batch_size``,
    latency one text per call, probabilities for the agreement check, peak RSS."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    pipe = build_pipeline(Path(run_dir), Path(artifact_dir))
    pipe(texts[:warmup])
    started = time.perf_counter()
    outputs = pipe(texts)
    default_s = time.perf_counter() - started
    pipe(texts[:warmup], batch_size=batch_size)
    started = time.perf_counter()
    pipe(texts, batch_size=batch_size)
    batched_s = time.perf_counter() - started
    latencies = []
    for text in texts[:latency_rows]:
        started = time.perf_counter()
        pipe(text)
        latencies.append(time.perf_counter() - started)
    return {
        "seconds": {"default": default_s, "batched": batched_s}, "latencies_s": latencies,
        "tier_probs": np.array([list(o["tier_probs"].values()) for o in outputs], dtype=np.float32),
        "area_probs": np.array([list(o["area_probs"].values()) for o in outputs], dtype=np.float32),
        "threads": torch.get_num_threads(), "peak_rss_mib": peak_rss_mib(),
    }


# ---------------------------------------------------------------------------------------------------------
# (b) and (c) the onnxruntime scorer


def measure_scorer(artifact_dir: str, use_fp32: bool, texts: list[str], latency_rows: int, batch_size: int,
                   warmup: int, threads: int | None) -> dict[str, Any]:
    """(b) or (c), in a child process: throughput at ``batch_size``, latency one text per call,
    probabilities, token lengths, peak RSS."""
    from model.scorer import Scorer

    scorer = Scorer(Path(artifact_dir), use_fp32=use_fp32, threads=threads)
    scorer.probabilities(texts[:warmup], batch_size=batch_size)
    started = time.perf_counter()
    tier, areas = scorer.probabilities(texts, batch_size=batch_size)
    seconds = time.perf_counter() - started
    latencies = []
    for text in texts[:latency_rows]:
        started = time.perf_counter()
        scorer.probabilities([text], batch_size=1)
        latencies.append(time.perf_counter() - started)
    return {
        "seconds": {"batched": seconds}, "latencies_s": latencies, "tier_probs": tier, "area_probs": areas,
        "token_lengths": [len(ids) for ids in scorer.encode(texts)], "max_length": scorer.meta.max_length,
        "threads": scorer.session.get_session_options().intra_op_num_threads, "peak_rss_mib": peak_rss_mib(),
    }


def in_child(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``function(*args)`` in a fresh (spawned) process, so that its imports and peak memory are its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# ---------------------------------------------------------------------------------------------------------
# (d) the API over HTTP


@dataclass
class Server:
    url: str
    key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def peak_rss_mib(self) -> float:
        """Peak RSS of the server process plus any it started (uvicorn forks only with --workers > 1): a sum
        of each process's own peak, an upper bound on their peak together."""
        return sum(peak_rss_mib(pid) for pid in [self.process.pid, *descendants(self.process.pid)])


@contextmanager
def serve(artifact: Path, work_dir: Path, ready_timeout: float, threads: int | None = None) -> Iterator[Server]:
    """``triage serve`` on a free port with ``artifact``, a database in ``work_dir``, registry polling off, and
    an intake key; stopped with SIGTERM on the way out."""
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    env = serve_env(work_dir, artifact.resolve(), f"sqlite:///{work_dir / 'triage.db'}")
    # The benchmark is one client pushing as hard as it can: the per-key rate limit would measure itself.
    env["TRIAGE_RATE_LIMIT_PER_SECOND"] = "0"
    if threads:
        env["TRIAGE_SCORE_THREADS"] = str(threads)
    managed = ManagedServer(env, work_dir / "server.log")
    key = managed.create_key("bench", "intake")
    try:
        managed.start(ready_timeout)
        assert managed.process is not None
        yield Server(managed.url, key, managed.process, managed.log_path)
    finally:
        managed.stop()


@dataclass
class ClosedLoopResult:
    reports: int
    wall_s: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


async def closed_loop(url: str, key: str, texts: list[str], per_request: int, concurrency: int,
                      warmup: int) -> ClosedLoopResult:
    """All ``texts`` scored by ``concurrency`` clients, each sending its next request when the last is answered:
    single-report ``:score`` requests (``per_request`` 1) or ``:batchScore`` requests of ``per_request``
    reports. Fresh report_ids, so every report is scored and stored. ``warmup`` requests first, not counted."""
    run_id = uuid.uuid4().hex[:8]

    def request(i: int, chunk: list[str]) -> tuple[str, dict[str, Any]]:
        reports = [{"report_id": f"bench-{run_id}-{i}-{j}", "text": t} for j, t in enumerate(chunk)]
        if per_request == 1:
            return "/v1/reports:score", reports[0]
        return "/v1/reports:batchScore", {"reports": reports}

    chunks = [texts[i : i + per_request] for i in range(0, len(texts), per_request)]
    requests = [request(i, chunk) for i, chunk in enumerate(chunks)]
    result = ClosedLoopResult(reports=len(texts), wall_s=0.0)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120,
                                 limits=limits) as client:
        for i in range(warmup):
            path, body = request(-1 - i, chunks[i % len(chunks)])
            (await client.post(path, json=body)).raise_for_status()
        pending = iter(requests)

        async def client_loop() -> None:
            for path, body in pending:  # shared: each request is taken by one client
                started = time.perf_counter()
                response = await client.post(path, json=body)
                result.latencies_s.append(time.perf_counter() - started)
                result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        result.wall_s = time.perf_counter() - started
    return result


# ---------------------------------------------------------------------------------------------------------
# The report


@dataclass
class Row:
    key: str
    path: str
    batch: str
    reports: int
    seconds: float
    latency_ms: dict[str, float] | None
    peak_rss_mib: float | None
    size_mib: float | None
    statuses: dict[int, int] | None = None

    @property
    def reports_per_s(self) -> float:
        return self.reports / self.seconds


@dataclass
class Target:
    name: str
    value: float | None
    limit: float
    at_least: bool

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit


def _mib(path: Path) -> float | None:
    return path.stat().st_size / MIB if path.is_file() else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(rows: list[Row]) -> None:
    header = (f"{'path':<44} {'batch':>11} {'reports/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'peak RSS MiB':>12} {'size MiB':>9}")
    print(header)
    print("-" * len(header))
    for row in rows:
        lat = row.latency_ms or {}
        print(f"{row.path:<44} {row.batch:>11} {row.reports_per_s:>10.1f} {_fmt(lat.get('p50')):>8} "
              f"{_fmt(lat.get('p95')):>8} {_fmt(lat.get('p99')):>8} {_fmt(row.peak_rss_mib, 0):>12} "
              f"{_fmt(row.size_mib):>9}")


def agreement(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Share of texts on which each pair of paths has the same top tier, and the largest probability gap
    (tier and areas) between torch and onnxruntime fp32."""
    out: dict[str, float] = {}
    names = [n for n in ("a", "b", "c") if n in results]
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            same = results[x]["tier_probs"].argmax(axis=1) == results[y]["tier_probs"].argmax(axis=1)
            out[f"top_tier_{x}_{y}"] = float(np.mean(same))
    for x, y in (("a", "b"), ("b", "c")):
        if x in results and y in results:
            out[f"max_prob_diff_{x}_{y}"] = max(
                float(np.abs(results[x][k] - results[y][k]).max()) for k in ("tier_probs", "area_probs"))
    return out


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, set[str]]:
    """The command line, checked; and the paths it skips."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=Path("var/models/demo"), help="Exported model folder.")
    parser.add_argument("--run-dir", type=Path, default=Path("var/runs/demo"),
                        help="The training run the artifact was exported from (torch weights for path a).")
    parser.add_argument("--corpus", type=Path, default=Path("var/corpus/corpus.parquet"))
    parser.add_argument("--rows", type=int, default=512, help="Texts scored by every path.")
    parser.add_argument("--latency-rows", type=int, default=200, help="Texts scored one per call for latency.")
    parser.add_argument("--batch-size", type=int, default=32, help="Batch size of (a) batched, (b), (c), (d) batch.")
    parser.add_argument("--concurrency", type=int, default=16, help="Concurrent HTTP clients (closed loop).")
    parser.add_argument("--open-loop-rate", type=float, default=50.0, help="Requests/s of the open-loop run.")
    parser.add_argument("--open-loop-requests", type=int, default=400)
    parser.add_argument("--threads", type=int, default=None,
                        help="Intra-op threads of every path (torch.set_num_threads, Scorer threads, "
                        "TRIAGE_SCORE_THREADS) [default: each library's own: torch one per physical core, the "
                        "Scorer one per CPU]. 1 makes the comparison less sensitive to other jobs on the machine.")
    parser.add_argument("--warmup", type=int, default=8, help="Warm-up texts (and HTTP requests), not timed.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the text sample.")
    parser.add_argument("--skip", default="", help=f"Comma-separated paths to leave out: {', '.join(PATHS)}.")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="Work folder of the server (database, log) [default: a temporary folder].")
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="Seconds to wait for the server.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures to this JSON file.")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if unknown := skip - set(PATHS):
        parser.error(f"--skip: unknown {sorted(unknown)}; choose from {', '.join(PATHS)}")
    if not (args.artifact / "artifact.json").is_file():
        parser.error(f"--artifact {args.artifact}: no artifact.json")
    if "torch" not in skip and not (args.run_dir / RUN_WEIGHTS).is_file():
        parser.error(f"--run-dir {args.run_dir}: no {RUN_WEIGHTS} (or --skip torch)")
    if min(args.rows, args.latency_rows, args.batch_size, args.concurrency, args.open_loop_requests) < 1:
        parser.error("--rows, --latency-rows, --batch-size, --concurrency and --open-loop-requests must be >= 1")
    return args, skip


@dataclass
class Bench:
    """What every path is measured on: the options, the texts, the artifact's metadata and files' sizes."""

    args: argparse.Namespace
    skip: set[str]
    texts: list[str]
    latency_rows: int
    warmup: int
    #: The artifact's ``artifact.json``, as read.
    meta: dict[str, Any]
    sizes: dict[str, float | None]

    @classmethod
    def prepare(cls, args: argparse.Namespace, skip: set[str]) -> Bench:
        pool = load_texts(args.corpus, args.rows, args.seed)
        texts = [pool[i % len(pool)] for i in range(args.rows)]
        meta = json.loads((args.artifact / "artifact.json").read_text())
        files = meta.get("files", {})
        sizes = {"int8 onnx": _mib(args.artifact / files.get("model", "model.onnx")),
                 "fp32 onnx": _mib(args.artifact / files.get("model_fp32", "model.fp32.onnx")),
                 "torch weights": _mib(args.run_dir / RUN_WEIGHTS),
                 "tokenizer": _mib(args.artifact / files.get("tokenizer", "tokenizer.json"))}
        return cls(args, skip, texts, min(args.latency_rows, len(texts)), min(args.warmup, len(texts)), meta, sizes)

    def common(self) -> tuple[list[str], int, int, int, int | None]:
        """The arguments that ``measure_pipeline`` and ``measure_scorer`` share."""
        return self.texts, self.latency_rows, self.args.batch_size, self.warmup, self.args.threads


@dataclass
class Measured:
    """The paths' figures: the in-process results of (a)-(c), the table's rows, and the machine's load."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    #: 1-minute load average as each path starts: how busy the machine was.
    load_before: dict[str, float] = field(default_factory=dict)
    server_rss: float | None = None


def print_header(bench: Bench, load_start: tuple[float, float, float]) -> None:
    args, texts = bench.args, bench.texts
    print(f"# machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {_cpu_model()}; "
          f"load average {load_start[0]:.2f} at the start (other jobs may be running)")
    print(f"# torch {version('torch')}, transformers {version('transformers')}, onnxruntime {version('onnxruntime')}; "
          f"artifact {args.artifact} (version {bench.meta.get('version')}), run {args.run_dir}")
    print(f"# texts: {len(texts)} test-split report texts ({len(set(texts))} distinct, seed {args.seed}), "
          f"mean {np.mean([len(t) for t in texts]):.0f} characters", flush=True)


def run_pipeline(bench: Bench, measured: Measured) -> None:
    """(a): its results, and its rows at the pipeline's default batching and at ``--batch-size``."""
    print("# (a) transformers pipeline ...", file=sys.stderr, flush=True)
    measured.load_before["a"] = os.getloadavg()[0]
    args, texts = bench.args, bench.texts
    a = measured.results["a"] = in_child(measure_pipeline, str(args.run_dir), str(args.artifact), *bench.common())
    lat = latency_ms(a["latencies_s"])
    measured.rows.append(Row("a", "(a) transformers pipeline, torch fp32", "1 (default)", len(texts),
                             a["seconds"]["default"], lat, a["peak_rss_mib"], bench.sizes["torch weights"]))
    measured.rows.append(Row("a_batched", "(a) transformers pipeline, torch fp32", str(args.batch_size), len(texts),
                             a["seconds"]["batched"], lat, a["peak_rss_mib"], bench.sizes["torch weights"]))


def run_scorer(bench: Bench, measured: Measured, key: str, fp32: bool) -> None:
    """(b) with ``fp32``, else (c): its results and its row."""
    print(f"# ({key}) onnxruntime {'fp32' if fp32 else 'int8'} ...", file=sys.stderr, flush=True)
    measured.load_before[key] = os.getloadavg()[0]
    r = measured.results[key] = in_child(measure_scorer, str(bench.args.artifact), fp32, *bench.common())
    label = "(b) onnxruntime fp32 (Scorer, use_fp32)" if fp32 else "(c) int8 scorer (Scorer)"
    measured.rows.append(Row(key, label, str(bench.args.batch_size), len(bench.texts), r["seconds"]["batched"],
                             latency_ms(r["latencies_s"]), r["peak_rss_mib"],
                             bench.sizes["fp32 onnx" if fp32 else "int8 onnx"]))


def run_http(bench: Bench, measured: Measured) -> None:
    """(d): a real server, closed loop with single-report and batch requests, then open loop; its rows and
    the server's peak RSS."""
    print("# (d) HTTP: starting triage serve ...", file=sys.stderr, flush=True)
    measured.load_before["d"] = os.getloadavg()[0]
    args, texts, warmup = bench.args, bench.texts, bench.warmup
    with (tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp,
          serve(args.artifact, args.work_dir or Path(tmp), args.ready_timeout, args.threads) as server):
        single = asyncio.run(closed_loop(server.url, server.key, texts, 1, args.concurrency, warmup))
        batched = asyncio.run(closed_loop(server.url, server.key, texts, args.batch_size, args.concurrency,
                                          min(warmup, 2)))
        opened = asyncio.run(open_loop(server.url, server.key, texts, args.open_loop_rate,
                                       args.open_loop_requests, warmup))
        server_rss = measured.server_rss = server.peak_rss_mib()
    size = bench.sizes["int8 onnx"]
    measured.rows.append(Row("d", f"(d) HTTP :score, {args.concurrency} clients", "1/request", single.reports,
                             single.wall_s, latency_ms(single.latencies_s), server_rss, size, single.statuses))
    measured.rows.append(Row("d_batched", f"(d) HTTP :batchScore, {args.concurrency} clients",
                             f"{args.batch_size}/request", batched.reports, batched.wall_s,
                             latency_ms(batched.latencies_s), server_rss, size, batched.statuses))
    measured.rows.append(Row("d_open", f"(d) HTTP :score, open loop {args.open_loop_rate:g}/s", "1/request",
                             opened.total, opened.wall_s, latency_ms(opened.latencies_s), server_rss, size,
                             opened.statuses))


def measure_paths(bench: Bench) -> Measured:
    """Every path not skipped, one after the other."""
    measured = Measured()
    if "torch" not in bench.skip:
        run_pipeline(bench, measured)
    for key, name, fp32 in (("b", "fp32", True), ("c", "int8", False)):
        if name not in bench.skip:
            run_scorer(bench, measured, key, fp32)
    if "http" not in bench.skip:
        run_http(bench, measured)
    return measured


def print_notes(bench: Bench, measured: Measured, load_end: tuple[float, float, float]) -> None:
    """What the table's columns mean, token lengths, HTTP errors, sizes, the machine's load."""
    args, results = bench.args, measured.results
    threads = ", ".join(f"({k}) {results[k]['threads']}" for k in ("a", "b", "c") if k in results)
    if "http" not in bench.skip:
        threads += f"{', ' if threads else ''}(d) {args.threads or 'the server default (one per CPU)'}"
    print(f"reports/s: all {len(bench.texts)} texts; (a) batch 1 is the pipeline's default (no batch_size given); "
          f"(b), (c) sort by length and pad per batch. Intra-op threads: {threads or '-'}.")
    print(f"p50/p95/p99: (a)-(c) one report per call (batch 1) on the first {bench.latency_rows} texts, in process; "
          f"(d) one HTTP request (1 or {args.batch_size} reports) under that row's load, client-side.")
    print("peak RSS: VmHWM of the process that ran the path (imports, model, run); (d) the server process.")
    if "c" in results:
        lengths = results["c"]["token_lengths"]
        truncated = np.mean(np.array(lengths) >= results["c"]["max_length"])
        print(f"tokens per text: p50 {np.percentile(lengths, 50):.0f}, p95 {np.percentile(lengths, 95):.0f}, "
              f"max_length {results['c']['max_length']} ({truncated:.0%} of texts reach it)")
    for row in measured.rows:
        if row.statuses is not None and set(row.statuses) != {200}:
            print(f"WARNING: {row.path}: HTTP statuses {dict(sorted(row.statuses.items()))}")
    print("sizes MiB: " + ", ".join(f"{k} {_fmt(v)}" for k, v in bench.sizes.items()))
    print("load average (1 minute) as each path started: "
          + ", ".join(f"({k}) {v:.2f}" for k, v in measured.load_before.items()) + f"; {load_end[0]:.2f} at the end")


def print_agreement(texts: int, agree: dict[str, float]) -> None:
    if agree:
        print()
        print(f"agreement on {texts} texts (top tier): " + ", ".join(
            f"({k[-3]})=({k[-1]}) {v:.2%}" for k, v in agree.items() if k.startswith("top_tier")))
        print("largest probability gap (tier and areas): " + ", ".join(
            f"|({k[-3]}) - ({k[-1]})| {v:.1e}" for k, v in agree.items() if k.startswith("max_prob")))


def speed_ratios(rows: list[Row], batch_size: int) -> dict[str, float | None]:
    """Ratios of reports/s between paths (None where either was skipped)."""
    by_key = {row.key: row for row in rows}

    def ratio(x: str, y: str) -> float | None:
        if x in by_key and y in by_key:
            return by_key[x].reports_per_s / by_key[y].reports_per_s
        return None

    return {"(c)/(a) pipeline default batching": ratio("c", "a"),
            f"(c)/(a) pipeline batch_size={batch_size}": ratio("c", "a_batched"),
            "(d)/(c) single-report requests": ratio("d", "c"),
            f"(d)/(c) batchScore requests of {batch_size}": ratio("d_batched", "c")}


def print_ratios(ratios: dict[str, float | None]) -> None:
    print()
    print("ratios of reports/s:")
    for name, value in ratios.items():
        print(f"  {name:<40} {_fmt(value, 2)}x")


def targets_of(bench: Bench, measured: Measured, ratios: dict[str, float | None]) -> list[Target]:
    """The project's targets (issue 17), against these figures and the artifact's own int8 - fp32 test delta.
    The quality cost of each speed-up against the model before it is measured by ``benchmarks/variants.py``."""
    args, server_rss = bench.args, measured.server_rss
    f1 = bench.meta.get("metrics", {}).get("int8_minus_fp32")
    f1_drop = None if not f1 else max(-f1["tier_macro_f1"], -f1["area_macro_f1"])
    by_key = {row.key: row for row in measured.rows}
    open_row = by_key.get("d_open")
    int8_rate = by_key["c"].reports_per_s if "c" in by_key else None
    return [
        Target(f"(c) >= 6x (a) reports/s, pipeline batch_size={args.batch_size}",
               ratios[f"(c)/(a) pipeline batch_size={args.batch_size}"], 6.0, True),
        Target("(c) >= 400 reports/s", int8_rate, 400.0, True),
        Target("(d) >= 0.8x (c) reports/s, single-report requests", ratios["(d)/(c) single-report requests"],
               0.8, True),
        Target(f"p99 ms of single-report requests at {args.open_loop_rate:g}/s <= 50",
               open_row.latency_ms["p99"] if open_row and open_row.latency_ms else None, 50.0, False),
        Target("serving process peak RSS MB <= 600", None if server_rss is None else server_rss * MIB / 1e6,
               600.0, False),
        Target("int8 vs fp32 macro-F1 drop <= 0.01 (tier and areas, the export's test evaluation)", f1_drop,
               0.01, False),
    ]


def print_targets(targets: list[Target]) -> None:
    print()
    print("targets:")
    for target in targets:
        state = {True: "MET", False: "MISSED", None: "n/a"}[target.met]
        digits = 3 if target.limit < 1 else 2
        print(f"  {state:<7} {target.name}: {_fmt(target.value, digits)}")


def write_json(path: Path, bench: Bench, measured: Measured, load: tuple[float, float], agree: dict[str, float],
               ratios: dict[str, float | None], targets: list[Target]) -> None:
    """The figures as JSON; ``load`` is the 1-minute load average at the start and at the end."""
    args = bench.args
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)), "cpu_model": _cpu_model(),
                    "load_average_start": load[0], "load_average_before_path": measured.load_before,
                    "load_average_end": load[1]},
        "versions": {p: version(p) for p in ("torch", "transformers", "onnxruntime")},
        "artifact": str(args.artifact), "run_dir": str(args.run_dir), "texts": len(bench.texts),
        "latency_rows": bench.latency_rows, "batch_size": args.batch_size, "concurrency": args.concurrency,
        "threads": args.threads,
        "rows": [{**asdict(row), "reports_per_s": row.reports_per_s} for row in measured.rows],
        "sizes_mib": bench.sizes, "agreement": agree, "ratios": ratios,
        "targets": [{**asdict(t), "met": t.met} for t in targets],
    }, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    args, skip = parse_args(argv)
    bench = Bench.prepare(args, skip)
    load_start = os.getloadavg()
    print_header(bench, load_start)
    measured = measure_paths(bench)
    load_end = os.getloadavg()

    print()
    print_table(measured.rows)
    print()
    print_notes(bench, measured, load_end)
    agree = agreement(measured.results)
    print_agreement(len(bench.texts), agree)
    ratios = speed_ratios(measured.rows, args.batch_size)
    print_ratios(ratios)
    targets = targets_of(bench, measured, ratios)
    print_targets(targets)
    if args.json:
        write_json(args.json, bench, measured, (load_start[0], load_end[0]), agree, ratios, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
