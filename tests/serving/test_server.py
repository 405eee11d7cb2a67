"""The real thing: `triage keys create` and `triage serve` as processes, requests over HTTP to uvicorn."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import REPO
from tests.support.cli import triage

pytestmark = pytest.mark.slow  # `triage serve` and `triage keys` as processes
TEXT = "Please check this listing, the seller keeps asking for gift cards"


def test_keys_created_on_the_command_line_score_reports_over_http(
        env: dict[str, str], server: tuple[str, subprocess.Popen[str], Path]) -> None:
    base, process, log_path = server
    created = triage("keys", "create", "--name", "intake-web", "--role", "intake", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("trg_") and "shown once" in created.stderr

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        body = {"report_id": "http-1", "text": TEXT, "reporter_type": "user", "report_count": 3}
        first = client.post("/v1/reports:score", json=body)
        assert first.status_code == 200, first.text
        assert first.json()["route"]["reasons"]
        again = client.post("/v1/reports:score", json=body)
        assert again.status_code == 200 and again.json()["replayed"] is True
        assert again.json()["route"] == first.json()["route"]
        bad = client.post("/v1/reports:score", json={**body, "report_id": "http-2", "channel": "pigeon"})
        assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "channel"
    assert httpx.post(f"{base}/v1/reports:score", json=body).status_code == 401

    listed = triage("keys", "list", env=env)
    assert "intake-web" in listed.stdout and key not in listed.stdout

    process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says what stopped it
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    log = log_path.read_text()
    assert "Application shutdown complete" in log
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "serving.access"]
    assert {r["status"] for r in access} >= {200, 401, 422}
    assert TEXT not in log and key not in log


def test_bad_command_line_input_is_an_error_naming_the_option(env: dict[str, str], tmp_path: Path) -> None:
    result = triage("keys", "create", "--name", "x", "--role", "superuser", env=env)
    assert result.returncode == 2 and "--role" in result.stderr and "Traceback" not in result.stderr
    result = triage("serve", env={**env, "TRIAGE_MODEL_PATH": str(tmp_path)})
    assert result.returncode == 2 and "TRIAGE_MODEL_PATH" in result.stderr
    bad_policy = tmp_path / "policy.toml"
    bad_policy.write_text('version = "x"\n[queues]\nhuman_escalation = "Human Escalation"\n')
    result = triage("serve", env={**env, "TRIAGE_ROUTING_POLICY": str(bad_policy)})
    assert result.returncode == 2 and str(bad_policy) in result.stderr and "queues.human_escalation" in result.stderr


def test_the_latency_benchmark_runs_against_a_server(
        env: dict[str, str], server: tuple[str, subprocess.Popen[str], Path], tmp_path: Path) -> None:
    base, _, _ = server
    key_file = tmp_path / "intake.key"
    key_file.write_text(triage("keys", "create", "--name", "bench", "--role", "intake", env=env).stdout)
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.serve_latency", "--url", base, "--key-file", str(key_file),
         "--requests", "10", "--rate", "20", "--warmup", "1", "--corpus", str(tmp_path / "none.parquet")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "statuses      {200: 10}" in result.stdout and "p99" in result.stdout
