"""Review capacity: how the people behind the review queues keep up with the work routing sends them.

A deterministic discrete-event simulation: reports arrive in queues (their routed priority and SLA deadline
with them), specialists take the most urgent waiting item the way the real queue hands them out (priority
desc, then SLA deadline asc, then arrival asc), and each item takes a random handling time. The report gives,
per queue, the waits, the queue lengths, the SLA misses and how busy the people were, so a lead can size a
team or judge a threshold change by the backlog it creates.

    triage analyse capacity --artifact var/models/demo --sample 2000 --rate 300 \\
        --specialists human_escalation=2 --specialists specialist_review=3 \\
        --handling human_escalation=240 --handling specialist_review=120 --hours 8

``--rate`` is the intake (reports per hour reaching routing, auto-closed ones included), so two policies
compared at the same rate differ in the work they send to people. Queues with no specialists given (the
policy teams' queues, unless ``--specialists '*=N'`` pools everyone) are counted but not simulated. The
command is ``evaluation.analyse.capacity_command``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from model.schema import Report
from serving.policy import RoutingPolicy
from serving.routing import Route

SHARED = "*"  # the key of one pool of specialists (or one handling time) for every queue not named


# --- the model of the work ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Arrival:
    """One item entering a queue: when (seconds from the start), where, how urgent, and its SLA (seconds from
    arrival to the deadline for starting it; ``None``: no deadline, served after any item with one)."""

    t_seconds: float
    queue: str
    priority: int
    sla_seconds: float | None

    @property
    def due(self) -> float:
        return math.inf if self.sla_seconds is None else self.t_seconds + self.sla_seconds


@dataclass(frozen=True)
class Staffing:
    """Who works the queues.

    ``specialists``: people per queue; a ``"*"`` key is one shared pool serving every queue without its own
    key (the pool takes the most urgent item across those queues). ``handling_seconds``: mean handling time
    per queue (``"*"``: the default). Handling times are lognormal with that mean and ``sigma`` (the log's
    standard deviation; 0 gives exactly the mean). ``shift_seconds``: nobody starts an item after it (items
    in hand are finished); what is still waiting then is the backlog. Without it the run lasts until every
    item is handled."""

    specialists: Mapping[str, int]
    handling_seconds: Mapping[str, float]
    sigma: float = 0.5
    shift_seconds: float | None = None

    def pool(self, queue: str) -> str | None:
        if queue in self.specialists:
            return queue
        return SHARED if SHARED in self.specialists else None

    def mean_handling(self, queue: str) -> float | None:
        return self.handling_seconds.get(queue, self.handling_seconds.get(SHARED))


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue (or, for ``overall``, all of them). Waits are in seconds, for the items started.
    ``specialists`` is the size of the pool that serves the queue (shared pools count in full), and
    ``utilisation`` the share of that pool's time spent on this queue's items."""

    queue: str
    specialists: int
    arrivals: int
    handled: int
    backlog: int
    max_queue: int
    mean_queue: float
    mean_wait: float
    p50_wait: float
    p95_wait: float
    sla_misses: int
    sla_miss_share: float
    utilisation: float


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """``horizon_seconds``: the shift, or (without one) the time the last item was finished. An SLA miss is an
    item started after its deadline, or still waiting at the end with its deadline passed; the share is of
    the items with a deadline."""

    horizon_seconds: float
    queues: dict[str, QueueStats]
    overall: QueueStats
    seed: int


# --- the simulation -------------------------------------------------------------------------------

def validate(arrivals: Sequence[Arrival], staffing: Staffing) -> None:
    """Every queue with arrivals needs at least one specialist and a positive mean handling time."""
    for key, n in staffing.specialists.items():
        if n < 0:
            raise ValueError(f"queue {key!r}: {n} specialists (must be >= 0)")
    for key, mean in staffing.handling_seconds.items():
        if not mean > 0 or not math.isfinite(mean):
            raise ValueError(f"queue {key!r}: mean handling time {mean} s (must be > 0)")
    if not staffing.sigma >= 0 or not math.isfinite(staffing.sigma):
        raise ValueError(f"handling sigma {staffing.sigma} (must be >= 0)")
    if staffing.shift_seconds is not None and not staffing.shift_seconds > 0:
        raise ValueError(f"shift of {staffing.shift_seconds} s (must be > 0)")
    for queue in sorted({a.queue for a in arrivals}):
        pool = staffing.pool(queue)
        if pool is None or staffing.specialists[pool] < 1:
            raise ValueError(f"queue {queue!r} has arrivals but no specialists")
        if staffing.mean_handling(queue) is None:
            raise ValueError(f"queue {queue!r} has arrivals but no handling time")
    for a in arrivals:
        if not (a.t_seconds >= 0 and math.isfinite(a.t_seconds)):
            raise ValueError(f"queue {a.queue!r}: arrival at {a.t_seconds} s (must be >= 0)")


def handling_times(arrivals: Sequence[Arrival], staffing: Staffing, seed: int) -> list[float]:
    """One handling time per arrival, drawn up front in arrival order: the same arrivals and seed give the
    same work whatever the staffing, so two staffings are compared on the same items."""
    means = np.array([staffing.mean_handling(a.queue) or 0.0 for a in arrivals], dtype=np.float64)
    sigma = staffing.sigma
    if sigma == 0:
        return [float(m) for m in means]
    z = np.random.default_rng(seed).standard_normal(len(arrivals))
    # lognormal with the given mean: E[exp(sigma z - sigma^2 / 2)] = 1
    return [float(x) for x in means * np.exp(sigma * z - sigma * sigma / 2)]


@dataclass
class _Tally:
    """Running counts for one queue (or all), with the time integral of its waiting line."""

    arrivals: int = 0
    waiting: int = 0
    max_waiting: int = 0
    area: float = 0.0
    busy: float = 0.0
    waits: list[float] = field(default_factory=list)
    with_deadline: int = 0
    misses: int = 0

    def arrive(self, a: Arrival) -> None:
        self.arrivals += 1
        self.waiting += 1
        self.with_deadline += a.sla_seconds is not None

    def start(self, a: Arrival, now: float, busy: float) -> None:
        self.waiting -= 1
        self.waits.append(now - a.t_seconds)
        self.misses += now > a.due
        self.busy += busy

    def stats(self, name: str, people: int, horizon: float) -> QueueStats:
        waits = np.array(self.waits, dtype=np.float64)
        handled = len(self.waits)
        span = horizon if horizon > 0 else 1.0
        return QueueStats(
            queue=name,
            specialists=people,
            arrivals=self.arrivals,
            handled=handled,
            backlog=self.arrivals - handled,
            max_queue=self.max_waiting,
            mean_queue=self.area / span,
            mean_wait=float(waits.mean()) if handled else math.nan,
            p50_wait=float(np.percentile(waits, 50)) if handled else math.nan,
            p95_wait=float(np.percentile(waits, 95)) if handled else math.nan,
            sla_misses=self.misses,
            sla_miss_share=self.misses / self.with_deadline if self.with_deadline else 0.0,
            utilisation=self.busy / (people * span) if people else 0.0,
        )


def simulate(arrivals: Sequence[Arrival], staffing: Staffing, seed: int = 0) -> SimulationReport:
    """Run the queues: at each instant, finished items free their specialists, arrivals join their queue,
    then every free specialist takes the most urgent item waiting in their pool (priority desc, deadline
    asc, arrival asc). Raises ``ValueError`` (naming the queue) for staffing that cannot serve the arrivals."""
    validate(arrivals, staffing)
    order = sorted(range(len(arrivals)), key=lambda i: (arrivals[i].t_seconds, i))
    handling = handling_times(arrivals, staffing, seed)
    shift = staffing.shift_seconds
    pool_of = {q: p for q in {a.queue for a in arrivals} if (p := staffing.pool(q)) is not None}
    tallies = {q: _Tally() for q in sorted(pool_of)}
    total = _Tally()
    pools = sorted(set(pool_of.values()))
    free = {p: staffing.specialists[p] for p in pools}
    waiting: dict[str, list[tuple[int, float, float, int]]] = {p: [] for p in pools}
    done: list[tuple[float, int, str]] = []  # (finish time, arrival index, pool)
    clock, nxt, last_finish = 0.0, 0, 0.0

    def advance(to: float) -> None:
        nonlocal clock
        for t in (*tallies.values(), total):
            t.area += t.waiting * (to - clock)
        clock = to

    while nxt < len(order) or done:
        now = min(arrivals[order[nxt]].t_seconds if nxt < len(order) else math.inf,
                  done[0][0] if done else math.inf)
        if shift is not None and now > shift:
            break
        advance(now)
        while done and done[0][0] == now:
            free[heapq.heappop(done)[2]] += 1
        while nxt < len(order) and arrivals[order[nxt]].t_seconds == now:
            i = order[nxt]
            nxt += 1
            a = arrivals[i]
            tallies[a.queue].arrive(a)
            total.arrive(a)
            heapq.heappush(waiting[pool_of[a.queue]], (-a.priority, a.due, a.t_seconds, i))
        if shift is None or now < shift:
            for pool in pools:
                while free[pool] and waiting[pool]:
                    i = heapq.heappop(waiting[pool])[3]
                    a = arrivals[i]
                    finish = now + handling[i]
                    busy = (finish if shift is None else min(finish, shift)) - now
                    tallies[a.queue].start(a, now, busy)
                    total.start(a, now, busy)
                    last_finish = max(last_finish, finish)
                    free[pool] -= 1
                    heapq.heappush(done, (finish, i, pool))
        for t in (*tallies.values(), total):
            t.max_waiting = max(t.max_waiting, t.waiting)

    horizon = shift if shift is not None else max(last_finish, clock)
    advance(horizon)
    # the end: arrivals after the shift join the backlog (never late by then); waiting items whose deadline
    # has passed are misses
    for i in order[nxt:]:
        a = arrivals[i]
        tallies[a.queue].arrive(a)
        total.arrive(a)
    for heap in waiting.values():
        for *_, i in heap:
            a = arrivals[i]
            tallies[a.queue].misses += a.due < horizon
            total.misses += a.due < horizon

    queues = {q: t.stats(q, staffing.specialists[pool_of[q]], horizon) for q, t in tallies.items()}
    overall = total.stats("overall", sum(staffing.specialists[p] for p in pools), horizon)
    return SimulationReport(horizon_seconds=horizon, queues=queues, overall=overall, seed=seed)

# --- from routing decisions -----------------------------------------------------------------------

class Routed(Protocol):
    """What a routing decision needs for the simulation (``serving.routing.Route`` is one)."""

    @property
    def queue(self) -> str | None: ...

    @property
    def priority(self) -> int: ...

    @property
    def sla_deadline(self) -> datetime | None: ...


def sla_seconds(decision: Routed, received_at: datetime | None) -> float | None:
    """The decision's own ``sla_seconds`` if it has one, else its deadline minus ``received_at``."""
    explicit = getattr(decision, "sla_seconds", None)
    if explicit is not None:
        return float(explicit)
    if decision.sla_deadline is None:
        return None
    if received_at is None:
        raise ValueError("a decision has an SLA deadline but no received_at was given to measure it from")
    return (decision.sla_deadline - received_at).total_seconds()


def arrivals_from_routes(routes: Sequence[Routed], rate_per_hour: float, seed: int = 0, *,
                         received_at: datetime | None = None,
                         duration_seconds: float | None = None) -> list[Arrival]:
    """Routed decisions as a Poisson stream of reports at ``rate_per_hour`` (the intake: auto-closed reports
    count towards the rate, then are dropped, so the queues see the rate times the share sent to a queue).

    Without ``duration_seconds`` each decision arrives once, in the given order; with it, the stream runs for
    that long and each report is a decision drawn at random (with replacement) from ``routes``. The SLA is
    each decision's ``sla_seconds`` attribute, or its ``sla_deadline`` minus ``received_at``."""
    if not rate_per_hour > 0 or not math.isfinite(rate_per_hour):
        raise ValueError(f"rate of {rate_per_hour} reports per hour (must be > 0)")
    if not routes:
        return []
    rng = np.random.default_rng(seed)
    mean_gap = 3600.0 / rate_per_hour
    if duration_seconds is None:
        times = np.cumsum(rng.exponential(mean_gap, len(routes)))
        picks = np.arange(len(routes))
    else:
        if not duration_seconds > 0:
            raise ValueError(f"duration of {duration_seconds} s (must be > 0)")
        # enough gaps to pass the end with overwhelming probability, then more if not
        gaps = rng.exponential(mean_gap, int(duration_seconds / mean_gap * 1.2) + 64)
        times = np.cumsum(gaps)
        while times[-1] < duration_seconds:
            times = np.concatenate([times, times[-1] + np.cumsum(rng.exponential(mean_gap, len(gaps)))])
        times = times[times < duration_seconds]
        picks = rng.integers(0, len(routes), len(times))
    out = []
    for t, k in zip(times.tolist(), picks.tolist(), strict=True):
        decision = routes[k]
        if decision.queue is not None:
            out.append(Arrival(float(t), decision.queue, decision.priority, sla_seconds(decision, received_at)))
    return out


# --- the report -----------------------------------------------------------------------------------

def _minutes(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds / 60:.1f}"


def format_report(report: SimulationReport) -> str:
    """One row per queue and an overall row; waits in minutes."""
    head = (f"{'queue':<20} {'people':>6} {'arrived':>7} {'handled':>7} {'backlog':>7} {'maxQ':>5} {'meanQ':>6} "
            f"{'wait p50':>8} {'p95':>7} {'mean':>7} {'SLA miss':>8} {'share':>6} {'util':>6}")
    lines = [f"horizon {report.horizon_seconds / 3600:.2f} h, seed {report.seed}; waits in minutes", head]
    for s in [*report.queues.values(), report.overall]:
        lines.append(f"{s.queue:<20} {s.specialists:>6} {s.arrivals:>7} {s.handled:>7} {s.backlog:>7} "
                     f"{s.max_queue:>5} {s.mean_queue:>6.1f} {_minutes(s.p50_wait):>8} {_minutes(s.p95_wait):>7} "
                     f"{_minutes(s.mean_wait):>7} {s.sla_misses:>8} {s.sla_miss_share:>6.1%} {s.utilisation:>6.1%}")
    return "\n".join(lines)


def parse_pairs(values: Sequence[str], what: str, kind: type[int] | type[float]) -> dict[str, float]:
    """``QUEUE=NUMBER`` pairs; a malformed one raises ``ValueError`` naming the option and the value."""
    out: dict[str, float] = {}
    for value in values:
        queue, sep, number = value.partition("=")
        try:
            if not sep or not queue.strip():
                raise ValueError
            out[queue.strip()] = kind(number)
        except ValueError:
            raise ValueError(f"{what} {value!r}: expected QUEUE={kind.__name__.upper()}") from None
    return out


def routed_sample(texts: Sequence[str], artifact: Path, policies: Sequence[RoutingPolicy],
                  received_at: datetime) -> list[list[Route]]:
    """Score ``texts`` once and route them under each policy (``serving.pipeline``, as the service does)."""
    from model.scorer import Scorer  # the model runtime, loaded only once the arguments are good
    from serving.language import LanguageDetector
    from serving.pipeline import detect_languages, route_scored

    scorer = Scorer(artifact)
    reports = [Report(report_id=f"sample-{i}", text=text) for i, text in enumerate(texts)]
    scores = scorer.score(texts)
    detections = detect_languages(reports, scorer.meta, LanguageDetector())
    return [route_scored(reports, scores, detections, scorer.meta, policy, received_at) for policy in policies]
