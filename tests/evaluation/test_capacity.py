"""The review capacity simulation: exact on hand-computable cases, sensible on long random ones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from evaluation.capacity import Arrival, Staffing, arrivals_from_routes, simulate
from triage.cli import app

HOUR = 3600.0


@dataclass(frozen=True)
class Decided:
    """A routing decision as the simulation sees it (``serving.routing.Route`` has the same fields)."""

    queue: str | None
    priority: int
    sla_deadline: datetime | None = None
    sla_seconds: float | None = None


def one_specialist(handling: float = 60.0, shift: float | None = None) -> Staffing:
    return Staffing({"q": 1}, {"q": handling}, sigma=0.0, shift_seconds=shift)


# Same priority, one specialist, 60 s each: A is taken at once; at 60 C (arrived later, deadline 50) goes
# before B (deadline 120) and is late; B starts at 120, exactly on its deadline, which is not a miss.
HAND = [Arrival(0, "q", 10, 100), Arrival(10, "q", 10, 110), Arrival(20, "q", 10, 30)]


def test_a_single_specialist_with_fixed_handling_gives_exact_waits_and_sla_misses() -> None:
    report = simulate(HAND, one_specialist())
    q = report.queues["q"]
    assert report.horizon_seconds == 180
    assert (q.arrivals, q.handled, q.backlog) == (3, 3, 0)
    # waits: A 0, C 60 - 20 = 40, B 120 - 10 = 110
    assert q.mean_wait == pytest.approx(50)
    assert q.p50_wait == pytest.approx(40)
    assert q.p95_wait == pytest.approx(40 + 0.9 * 70)
    assert q.sla_misses == 1
    assert q.sla_miss_share == pytest.approx(1 / 3)
    # B waits 10..120 and C 20..60: two waiting between 20 and 60
    assert q.max_queue == 2
    assert q.mean_queue == pytest.approx((110 + 40) / 180)
    assert q.utilisation == pytest.approx(1.0)
    assert report.overall.sla_misses == 1 and report.overall.arrivals == 3


def test_a_shift_end_leaves_a_backlog_and_clips_busy_time() -> None:
    report = simulate(HAND, one_specialist(shift=100))
    q = report.queues["q"]
    assert report.horizon_seconds == 100
    assert (q.handled, q.backlog) == (2, 1)  # B never started; its deadline (120) is after the shift
    assert q.sla_misses == 1  # C only
    assert q.utilisation == pytest.approx(1.0)  # 0..60 on A, 60..100 on C (C finishes after the shift)
    assert q.mean_queue == pytest.approx((90 + 40) / 100)


def test_an_item_still_waiting_past_its_deadline_at_the_end_is_a_miss() -> None:
    report = simulate([Arrival(0, "q", 10, None), Arrival(1, "q", 10, 10)], one_specialist(100, shift=50))
    q = report.queues["q"]
    assert (q.handled, q.backlog, q.sla_misses) == (1, 1, 1)
    assert q.sla_miss_share == 1.0  # of the one item with a deadline


def test_a_high_priority_late_arrival_is_served_before_earlier_low_priority_ones() -> None:
    arrivals = [Arrival(0, "low", 10, 1000), Arrival(1, "low", 10, 1000), Arrival(2, "low", 10, 1000),
                Arrival(50, "high", 90, 1000)]
    report = simulate(arrivals, Staffing({"*": 1}, {"*": 100}, sigma=0.0))
    assert report.queues["high"].mean_wait == pytest.approx(100 - 50)  # next, as soon as the first is done
    low = report.queues["low"]
    assert low.mean_wait == pytest.approx((0 + (200 - 1) + (300 - 2)) / 3)
    assert report.overall.specialists == 1 and report.queues["high"].specialists == 1


def test_within_a_priority_the_earlier_deadline_then_the_earlier_arrival_goes_first() -> None:
    arrivals = [Arrival(0, "a", 10, None), Arrival(1, "a", 10, None), Arrival(2, "b", 10, None),
                Arrival(3, "c", 10, 500)]
    report = simulate(arrivals, Staffing({"*": 1}, {"*": 100}, sigma=0.0))
    assert report.queues["c"].mean_wait == pytest.approx(100 - 3)  # the only deadline goes first
    assert report.queues["a"].mean_wait == pytest.approx((0 + (200 - 1)) / 2)  # then by arrival
    assert report.queues["b"].mean_wait == pytest.approx(300 - 2)


def random_arrivals(n: int, seed: int) -> list[Arrival]:
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.exponential(40.0, n))
    queues = rng.choice(["human_escalation", "specialist_review"], n, p=[0.3, 0.7])
    prios = rng.integers(0, 101, n)
    return [Arrival(float(t), str(q), int(p), 3600.0 if q == "human_escalation" else 14400.0)
            for t, q, p in zip(times, queues, prios, strict=True)]


def test_more_specialists_never_increase_the_mean_wait_on_the_same_arrivals() -> None:
    arrivals = random_arrivals(3000, seed=7)
    handling = {"human_escalation": 90.0, "specialist_review": 50.0}
    for pooled in (False, True):
        waits, misses = [], []
        for people in (1, 2, 3, 5):
            specialists = {"*": people} if pooled else {"human_escalation": people, "specialist_review": people}
            report = simulate(arrivals, Staffing(specialists, handling, sigma=0.6), seed=3)
            waits.append(report.overall.mean_wait)
            misses.append(report.overall.sla_misses)
        assert waits == sorted(waits, reverse=True) and waits[0] > waits[-1]
        assert misses == sorted(misses, reverse=True)


def test_utilisation_is_near_arrival_rate_times_handling_over_specialists_on_a_long_run() -> None:
    # 60 reports an hour, 100 s each, 2 people: 60/3600 x 100 / 2 = 0.83
    routes = [Decided("q", 50, sla_seconds=HOUR)] * 20000
    arrivals = arrivals_from_routes(routes, rate_per_hour=60, seed=1)
    report = simulate(arrivals, Staffing({"q": 2}, {"q": 100.0}, sigma=0.8), seed=2)
    assert report.queues["q"].utilisation == pytest.approx(60 / HOUR * 100 / 2, rel=0.10)
    assert report.queues["q"].handled == 20000


def test_the_same_seed_gives_the_same_report_and_another_seed_another() -> None:
    arrivals = random_arrivals(500, seed=1)
    staffing = Staffing({"human_escalation": 1, "specialist_review": 1},
                        {"human_escalation": 60.0, "specialist_review": 40.0}, sigma=0.7)
    assert simulate(arrivals, staffing, seed=5) == simulate(arrivals, staffing, seed=5)
    assert simulate(arrivals, staffing, seed=5) != simulate(arrivals, staffing, seed=6)
    routes = [Decided("q", 1, sla_seconds=60.0), Decided(None, 0)] * 50
    assert arrivals_from_routes(routes, 100, seed=4) == arrivals_from_routes(routes, 100, seed=4)


def test_arrivals_from_routes_drops_auto_close_and_keeps_the_intake_rate() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    routes = ([Decided("human_escalation", 90, now + timedelta(minutes=60))] * 3
              + [Decided(None, 5)] * 7)  # 70% auto-closed
    arrivals = arrivals_from_routes(routes * 2000, rate_per_hour=360, seed=0, received_at=now)
    assert len(arrivals) == 6000 and all(a.queue == "human_escalation" for a in arrivals)
    assert all(a.sla_seconds == HOUR and a.priority == 90 for a in arrivals)
    span = arrivals[-1].t_seconds
    assert len(arrivals) / span * HOUR == pytest.approx(360 * 0.3, rel=0.05)
    assert all(b.t_seconds >= a.t_seconds for a, b in pairwise(arrivals))

    # over a fixed duration the decisions are drawn at random: same rate, same share
    drawn = arrivals_from_routes(routes, rate_per_hour=360, seed=1, received_at=now, duration_seconds=50 * HOUR)
    assert len(drawn) == pytest.approx(360 * 0.3 * 50, rel=0.05)
    assert max(a.t_seconds for a in drawn) < 50 * HOUR


def test_arrivals_from_routes_needs_received_at_for_deadlines_and_a_positive_rate() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="received_at"):
        arrivals_from_routes([Decided("q", 1, now)], rate_per_hour=10)
    with pytest.raises(ValueError, match="rate"):
        arrivals_from_routes([Decided("q", 1, sla_seconds=1.0)], rate_per_hour=0)
    assert arrivals_from_routes([], rate_per_hour=10) == []


@pytest.mark.parametrize(("staffing", "queue"), [
    (Staffing({"human_escalation": 0, "specialist_review": 1}, {"*": 60.0}), "human_escalation"),
    (Staffing({"specialist_review": 1}, {"*": 60.0}), "human_escalation"),
    (Staffing({"*": 2}, {"human_escalation": 60.0, "specialist_review": -5.0}), "specialist_review"),
    (Staffing({"*": 2}, {"specialist_review": 60.0}), "human_escalation"),
    (Staffing({"*": 2, "specialist_review": -1}, {"*": 60.0}), "specialist_review"),
])
def test_invalid_staffing_raises_a_value_error_naming_the_queue(staffing: Staffing, queue: str) -> None:
    arrivals = [Arrival(0, "human_escalation", 90, 60), Arrival(5, "specialist_review", 30, 600)]
    with pytest.raises(ValueError, match=queue):
        simulate(arrivals, staffing)


def test_a_queue_without_arrivals_may_have_no_specialists() -> None:
    report = simulate([Arrival(0, "q", 1, None)], Staffing({"q": 1, "idle": 0}, {"*": 10.0}, sigma=0.0))
    assert list(report.queues) == ["q"] and report.queues["q"].handled == 1


# --- the command line: `triage analyse capacity` -------------------------------------------------

runner = CliRunner()


def run_cli(*argv: str) -> str:
    """``triage analyse capacity ARGV``, which must stop with a one-line error and exit status 2: its stderr."""
    result = runner.invoke(app, ["analyse", "capacity", *argv])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_cli_names_a_missing_artifact(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.parquet"
    corpus.write_bytes(b"")
    err = run_cli("--corpus", str(corpus), "--artifact", str(tmp_path / "no-model"),
                  "--specialists", "human_escalation=2", "--handling", "human_escalation=240")
    assert "--artifact" in err and "no-model" in err


def test_cli_names_a_missing_policy(tmp_path: Path) -> None:
    corpus, artifact = tmp_path / "corpus.parquet", tmp_path / "model"
    corpus.write_bytes(b"")
    artifact.mkdir()
    (artifact / "artifact.json").write_text("{}")
    err = run_cli("--corpus", str(corpus), "--artifact", str(artifact), "--policy", str(tmp_path / "p.toml"),
                  "--specialists", "*=2", "--handling", "*=60")
    assert "--policy" in err and "p.toml" in err


def test_cli_names_an_unreadable_corpus(tmp_path: Path, tiny_artifact: Path) -> None:
    corpus = tmp_path / "corpus.parquet"
    corpus.write_bytes(b"not parquet")
    err = run_cli("--corpus", str(corpus), "--artifact", str(tiny_artifact), "--specialists", "*=2",
                  "--handling", "*=60")
    assert err.startswith(f"error: --corpus {corpus}")


@pytest.mark.parametrize(("argv", "named"), [
    (["--specialists", "human_escalation"], "--specialists"),
    (["--specialists", "human_escalation=two", "--handling", "*=60"], "--specialists"),
    (["--specialists", "human_escalation=2", "--handling", "human_escalation=fast"], "--handling"),
    (["--handling", "*=60"], "--specialists"),
    (["--specialists", "human_escalation=2", "--handling", "specialist_review=60"], "human_escalation"),
    (["--specialists", "human_escalation=2", "--handling", "human_escalation=-5"], "human_escalation"),
    (["--specialists", "human_escalation=-1", "--handling", "*=60"], "human_escalation"),
    (["--specialists", "*=2", "--handling", "*=60", "--rate", "0"], "--rate"),
    (["--specialists", "*=2", "--handling", "*=60", "--hours", "-1"], "--hours"),
])
def test_cli_argument_errors_are_one_line_errors_naming_the_option(argv: list[str], named: str) -> None:
    assert named in run_cli(*argv)


def test_cli_simulates_each_policy_on_the_routed_sample(tmp_path: Path, tiny_artifact: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from model.settings import DEFAULT_ROUTING_POLICY

    corpus = tmp_path / "corpus.parquet"
    texts = ["I will find you and hurt you", "win a free phone now", "you are wonderful", "ok", "merci beaucoup"]
    pq.write_table(pa.table({"text": texts * 4 + ["a train row"], "split": ["test"] * 20 + ["train"]}), corpus)
    result = runner.invoke(app, [
        "analyse", "capacity", "--artifact", str(tiny_artifact), "--corpus", str(corpus), "--sample", "50",
        "--policy", str(DEFAULT_ROUTING_POLICY), "--policy", str(DEFAULT_ROUTING_POLICY), "--rate", "120",
        "--specialists", "*=2", "--handling", "*=60", "--sigma", "0", "--hours", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.count(f"({DEFAULT_ROUTING_POLICY}): 20 test reports routed, 120 reports/h for 1 h") == 2
    assert result.output.count("horizon 1.00 h, seed 0; waits in minutes") == 2
    assert re.search(r"^overall\s+2\s", result.output, re.M)
