"""Micro-batching: concurrent callers share model calls, and each gets exactly its own rows back.

The model in most tests is a fake that records each call's texts and can be held inside a call (a gate), so
that what queues up meanwhile, and therefore what the next call merges, is known without any timing."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from model.scorer import Floats, Scorer
from model.settings import Settings
from serving.batching import MicroBatcher
from serving.deps import AppState
from serving.metrics import Metrics
from serving.model_loader import LoadedModel

WAIT_MS = 5.0


class FakeModel:
    """Row i of a call's answer encodes its text: tier = [len(text), 0, 0], area = [hash bucket]. Raises
    ValueError for the text "boom". While ``hold()`` is on, a call waits inside until ``release()``."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.threads: list[threading.Thread] = []
        self.entered = threading.Event()
        self._gate = threading.Event()
        self._gate.set()

    def __call__(self, texts: Sequence[str]) -> tuple[Floats, Floats]:
        self.calls.append(list(texts))
        self.threads.append(threading.current_thread())
        self.entered.set()
        self._gate.wait()
        if "boom" in texts:
            raise ValueError("boom")
        return expected(texts)

    def hold(self) -> None:
        self.entered.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()


def expected(texts: Sequence[str]) -> tuple[Floats, Floats]:
    tier = np.array([[len(t), 0, 0] for t in texts], dtype=np.float32).reshape(len(texts), 3)
    areas = np.array([[sum(map(ord, t)) % 97] for t in texts], dtype=np.float32).reshape(len(texts), 1)
    return tier, areas


def wait_queued(batcher: MicroBatcher, requests: int) -> None:
    """Until ``requests`` requests wait in the batcher's queue (the batching thread is held in a call)."""
    done = threading.Event()
    while batcher.pending < requests:
        done.wait(0.001)


@pytest.fixture
def fake() -> FakeModel:
    return FakeModel()


@pytest.fixture
def batcher(fake: FakeModel) -> Iterator[MicroBatcher]:
    with MicroBatcher(fake, max_wait_ms=WAIT_MS, max_batch=8, metrics=Metrics()) as b:
        yield b
    fake.release()


def assert_same(got: tuple[Floats, Floats], want: tuple[Floats, Floats], atol: float = 0.0) -> None:
    assert got[0].shape == want[0].shape and got[1].shape == want[1].shape
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=atol)
    np.testing.assert_allclose(got[1], want[1], rtol=0, atol=atol)


def test_concurrent_callers_get_exactly_their_own_probabilities_from_the_real_scorer(tiny_artifact: Path) -> None:
    # The fp32 model: int8 dynamic quantisation scales activations per batch, so int8 scores of a text move
    # slightly with what it is batched with; fp32 ones do not (beyond float rounding).
    scorer = Scorer(tiny_artifact, use_fp32=True, threads=1)
    texts = [f"report number {i}: " + "you are a disgrace " * (i % 7) for i in range(40)]
    requests = [texts[i : i + 1 + i % 4] for i in range(0, 40, 3)]
    with MicroBatcher(scorer.probabilities, max_wait_ms=WAIT_MS, max_batch=16) as batcher, \
            ThreadPoolExecutor(max_workers=len(requests)) as pool:
        answers = list(pool.map(batcher.probabilities, requests))
    for request, answer in zip(requests, answers, strict=True):
        assert_same(answer, scorer.probabilities(request), atol=1e-5)


class CountingSession:
    """Wraps an onnxruntime session and records the shape (texts, tokens) of every model call."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.shapes: list[tuple[int, int]] = []

    def run(self, outputs: Any, feeds: dict[str, Any]) -> Any:
        self.shapes.append(feeds["input_ids"].shape)
        return self.session.run(outputs, feeds)


def test_length_bucketing_keeps_short_texts_out_of_long_texts_model_calls(tiny_artifact: Path) -> None:
    scorer = Scorer(tiny_artifact, use_fp32=True, threads=1)
    texts = ["hi", "long " * 80, "ok", "long " * 70, "yes", "long " * 90]
    padded = scorer.probabilities(texts)
    session = scorer.session
    scorer.session = counting = CountingSession(session)  # type: ignore[assignment]
    bucketed = scorer.probabilities(texts, max_padding=8)
    scorer.session = session
    assert [n for n, _ in counting.shapes] == [3, 3]  # the three short texts, then the three long ones
    assert counting.shapes[0][1] < 8 and counting.shapes[1][1] == scorer.meta.max_length
    assert_same(bucketed, padded, atol=1e-5)


def test_requests_that_queue_while_the_model_is_busy_go_in_one_call(fake: FakeModel) -> None:
    metrics = Metrics()
    with MicroBatcher(fake, max_wait_ms=WAIT_MS, max_batch=8, metrics=metrics) as batcher, \
            ThreadPoolExecutor(max_workers=6) as pool:
        fake.hold()
        first = pool.submit(batcher.probabilities, ["first"])
        fake.entered.wait()
        later = [pool.submit(batcher.probabilities, [f"later {i}", f"and {i}"]) for i in range(3)]
        wait_queued(batcher, 3)
        fake.release()
        assert_same(first.result(), expected(["first"]))
        for i, future in enumerate(later):
            assert_same(future.result(), expected([f"later {i}", f"and {i}"]))
    assert [len(call) for call in fake.calls] == [1, 6]
    assert sorted(fake.calls[1]) == sorted(t for i in range(3) for t in (f"later {i}", f"and {i}"))
    assert metrics.batch_size._sum.get() == 7  # texts per model call, observed once per call
    assert sum(b.get() for b in metrics.batch_size._buckets) == 2


def test_a_failing_model_call_fails_the_callers_of_that_batch_only(fake: FakeModel, batcher: MicroBatcher) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        fake.hold()
        before = pool.submit(batcher.probabilities, ["fine"])
        fake.entered.wait()
        doomed = [pool.submit(batcher.probabilities, ["boom"]), pool.submit(batcher.probabilities, ["innocent"])]
        wait_queued(batcher, 2)
        fake.release()
        assert_same(before.result(), expected(["fine"]))
        for future in doomed:
            with pytest.raises(ValueError, match="boom"):
                future.result()
    assert_same(batcher.probabilities(["after"]), expected(["after"]))  # the thread goes on
    assert batcher.running


def test_an_oversized_request_is_scored_in_chunks_with_other_requests_in_between(
        fake: FakeModel, batcher: MicroBatcher) -> None:
    big = [f"text {i}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        fake.hold()
        whole = pool.submit(batcher.probabilities, big)
        fake.entered.wait()
        small = pool.submit(batcher.probabilities, ["small"])
        wait_queued(batcher, 1)  # the rest of the big one goes back in the queue after this call, behind it
        fake.release()
        assert_same(whole.result(), expected(big))
        assert_same(small.result(), expected(["small"]))
    assert fake.calls == [big[:8], ["small", *big[8:15]], big[15:]]


def test_an_oversized_request_is_chunked_shortest_first_and_answered_in_its_own_order(
        fake: FakeModel, batcher: MicroBatcher) -> None:
    big = [("word " * (i * 7 % 19)).strip() or "x" for i in range(30)]
    assert_same(batcher.probabilities(big), expected(big))
    lengths = [len(t) for call in fake.calls for t in call]
    assert lengths == sorted(lengths)  # similar lengths in each call: little padding
    assert [len(call) for call in fake.calls] == [8, 8, 8, 6]


def test_a_bug_in_the_batching_thread_fails_its_callers_and_scoring_goes_on_unbatched(
        fake: FakeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    batcher = MicroBatcher(fake, max_wait_ms=WAIT_MS, max_batch=8)

    def broken(batch: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(batcher, "_score", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        batcher.probabilities(["stranded"])
    batcher.close()
    assert not batcher.running
    assert_same(batcher.probabilities(["after"]), expected(["after"]))


def test_an_empty_request_gets_empty_probabilities(fake: FakeModel, batcher: MicroBatcher) -> None:
    tier, areas = batcher.probabilities([])
    assert len(tier) == len(areas) == 0


def test_close_scores_what_is_queued_then_stops_the_thread(fake: FakeModel) -> None:
    batcher = MicroBatcher(fake, max_wait_ms=WAIT_MS, max_batch=8)
    assert batcher.running
    with ThreadPoolExecutor(max_workers=2) as pool:
        fake.hold()
        first = pool.submit(batcher.probabilities, ["one"])
        fake.entered.wait()
        queued = pool.submit(batcher.probabilities, ["two"])
        wait_queued(batcher, 1)
        batcher.close(wait=False)
        fake.release()
        batcher.close()  # waits for the thread
        assert_same(first.result(), expected(["one"]))
        assert_same(queued.result(), expected(["two"]))
    assert not batcher.running
    # A caller that still holds the closed batcher (a request in flight during a reload) scores directly.
    assert_same(batcher.probabilities(["late"]), expected(["late"]))
    assert fake.threads[-1] is threading.current_thread()


def test_max_wait_zero_runs_the_model_in_the_callers_thread(fake: FakeModel) -> None:
    with MicroBatcher(fake, max_wait_ms=0, max_batch=8) as batcher:
        assert not batcher.enabled and not batcher.running
        assert_same(batcher.probabilities(["a", "bb"]), expected(["a", "bb"]))
        future: Future[tuple[Floats, Floats]] = batcher.submit(["boom"])
        with pytest.raises(ValueError, match="boom"):
            future.result()
    assert fake.threads == [threading.current_thread()] * 2


def test_nonsense_batching_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="batch_max_wait_ms"):
        Settings(batch_max_wait_ms=-1)
    with pytest.raises(ValidationError, match="batch_max_size"):
        Settings(batch_max_size=0)
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(FakeModel(), max_batch=0)


def batcher_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("triage-batcher")}


def test_reloads_leave_one_batching_thread_and_shutdown_none(settings: Settings, tiny_model: LoadedModel) -> None:
    from serving.app import create_app
    from tests.support.server import wait_ready

    before = batcher_threads()  # other tests' apps are shut down, but be sure to count only this one's
    app = create_app(settings.model_copy(update={"batch_max_wait_ms": WAIT_MS}), model=tiny_model)
    state = app.state.triage
    with TestClient(app) as client:
        wait_ready(client)
        replaced = []
        for _ in range(5):
            assert state.service is not None
            replaced.append(state.service)
            state.serve(tiny_model)  # what a hot reload does
        for service in replaced:
            service.batcher.close()  # serve() does not wait for the old thread to finish; this does
            assert not service.batcher.running
        current = state.service.batcher
        assert current.running
        assert batcher_threads() - before == {current._thread}
        # A request that still holds a replaced service scores all the same.
        tier, _ = replaced[0].batcher.probabilities(["still fine"])
        assert tier.shape == (1, len(tiny_model.scorer.meta.tier_labels))
        assert client.post("/v1/reports:score", json={"report_id": "r-1", "text": "hello"},
                           headers=client_key(state)).status_code == 200
    assert not current.running
    assert batcher_threads() - before == set()


def test_batching_off_in_the_settings_serves_without_a_thread(settings: Settings, tiny_model: LoadedModel) -> None:
    from serving.app import create_app
    from tests.support.server import wait_ready

    app = create_app(settings.model_copy(update={"batch_max_wait_ms": 0}), model=tiny_model)
    with TestClient(app) as client:
        wait_ready(client)
        batcher = app.state.triage.service.batcher
        assert not batcher.enabled and not batcher.running
        response = client.post("/v1/reports:score", json={"report_id": "r-1", "text": "hello"},
                               headers=client_key(app.state.triage))
        assert response.status_code == 200


def client_key(state: AppState) -> dict[str, str]:
    from serving.auth import Role, create_key
    from serving.db.engine import transaction

    with transaction(state.sessions) as session:
        key = create_key(session, "test-intake", Role.INTAKE)
    return {"Authorization": f"Bearer {key.secret}"}
