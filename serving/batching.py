"""Dynamic micro-batching: concurrent scoring requests share one onnxruntime call.

The API's endpoints are plain functions that FastAPI runs in its thread pool, so several requests score at
the same time. Each running the model on its own would pay a model call per single short report and
oversubscribe the cores (every call wants all the intra-op threads). Instead a caller hands its texts to
``MicroBatcher.probabilities`` and blocks on a future; one batching thread takes the oldest waiting request,
keeps collecting until ``max_batch`` texts or until that request has waited ``max_wait_ms``, runs one model
call over all of them (the scorer sorts them by length and pads each batch only to its longest text), and
gives every caller its own rows. Under load, requests that arrive while the model runs are merged without
any waiting; the wait only matters when the batcher is idle.

Hazards handled here:

- A request larger than ``max_batch`` is scored in chunks of at most ``max_batch``; after each chunk the
  rest of it goes to the back of the queue, so requests that arrived meanwhile are not stuck behind all of it.
- A model call that raises fails the requests of that batch only, with its exception; the thread goes on.
- ``close()`` lets the thread score what is already queued and stop. A caller that arrives after that (a
  request that picked up the old service just before a hot reload swapped it) runs the model itself, in its
  own thread, so nothing waits on a thread that is gone.
- ``max_wait_ms = 0`` turns batching off: there is no thread, every caller runs the model itself.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np
import numpy.typing as npt

from model.scorer import Floats
from serving.metrics import Metrics
from serving.worker import QueueWorker

log = logging.getLogger(__name__)

#: The model call being batched: calibrated (tier, area) probabilities of ``texts``, one row per text, in order.
ModelCall = Callable[[Sequence[str]], tuple[Floats, Floats]]
Probabilities = tuple[Floats, Floats]


class _Request:
    """One caller's texts, scored in one or more chunks (``taken`` counts the texts already batched).

    A request too large for one batch is chunked shortest text first (``order``), so that each chunk holds
    texts of similar length and pads little; its rows are put back in the caller's order at the end."""

    __slots__ = ("future", "order", "parts", "queued_at", "taken", "texts")

    def __init__(self, texts: Sequence[str], max_batch: int) -> None:
        self.order: npt.NDArray[np.intp] | None = None
        if len(texts) > max_batch:
            self.order = np.argsort([len(t) for t in texts], kind="stable")
            texts = [texts[i] for i in self.order]
        self.texts = list(texts)
        self.taken = 0
        self.parts: list[Probabilities] = []
        self.future: Future[Probabilities] = Future()
        self.queued_at = time.perf_counter()

    def finish(self) -> None:
        if len(self.parts) == 1:
            self.future.set_result(self.parts[0])
            return
        tier, areas = (np.concatenate([p[0] for p in self.parts]), np.concatenate([p[1] for p in self.parts]))
        if self.order is not None:
            tier[self.order], areas[self.order] = tier.copy(), areas.copy()
        self.future.set_result((tier, areas))


#: A slice ``texts[start:stop]`` of one request, taken into a batch.
_Slice = tuple[_Request, int, int]


class MicroBatcher(QueueWorker):
    """Merges concurrent ``probabilities`` calls into model calls of up to ``max_batch`` texts.

    Thread-safe. Start-up starts the batching thread (unless ``max_wait_ms`` is 0); ``close()`` stops it."""

    def __init__(self, model: ModelCall, *, max_wait_ms: float = 2.0, max_batch: int = 32,
                 metrics: Metrics | None = None, name: str = "triage-batcher") -> None:
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, not {max_wait_ms}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, not {max_batch}")
        self.model = model
        self.max_wait_ms = max_wait_ms
        self.max_batch = max_batch
        self._max_wait = max_wait_ms / 1000
        self._metrics = metrics
        self._queue: deque[_Request] = deque()
        super().__init__(name, start=self.enabled)

    @property
    def enabled(self) -> bool:
        """Whether calls are batched (``max_wait_ms > 0``) rather than run by each caller."""
        return self._max_wait > 0

    @property
    def pending(self) -> int:
        """Requests (or rests of large ones) waiting for a model call."""
        with self._ready:
            return len(self._queue)

    def probabilities(self, texts: Sequence[str]) -> Probabilities:
        """Calibrated (tier, area) probabilities of ``texts``, in order; blocks until they are scored."""
        return self.submit(texts).result()

    def submit(self, texts: Sequence[str]) -> Future[Probabilities]:
        """The future probabilities of ``texts``: the caller can do other work while the batch is scored.
        Unbatched (disabled or closed), the caller scores them now and gets a future already done."""
        if texts and self.enabled:
            request = _Request(texts, self.max_batch)
            with self._ready:
                if not self._closed:
                    self._queue.append(request)
                    self._ready.notify()
                    return request.future
        future: Future[Probabilities] = Future()
        try:
            future.set_result(self._call(texts))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, texts: Sequence[str]) -> Probabilities:
        """One model call, measured."""
        started = time.perf_counter()
        tier, areas = self.model(texts)
        if self._metrics is not None:
            self._metrics.scoring.observe(time.perf_counter() - started)
            self._metrics.batch_size.observe(len(texts))
        if len(tier) != len(texts) or len(areas) != len(texts):
            raise RuntimeError(f"the model returned {len(tier)} and {len(areas)} rows for {len(texts)} texts")
        return tier, areas

    def _run(self) -> None:
        batch: list[_Slice] = []
        try:
            while True:
                collected = self._collect()
                if collected is None:
                    return
                batch = collected
                self._score(batch)
        except Exception as exc:  # a bug here must not leave callers waiting forever
            log.exception("the batching thread failed; scoring without batching from now on")
            with self._ready:
                self._closed = True
                stranded, self._queue = [*self._queue, *(request for request, _, _ in batch)], deque()
            for request in stranded:
                if not request.future.done():
                    request.future.set_exception(exc)

    def _collect(self) -> list[_Slice] | None:
        """The next batch: blocks for the first request, then takes more until ``max_batch`` texts or until the
        first has waited ``max_wait_ms`` (no waiting once closed). None: closed and nothing left to score."""
        batch: list[_Slice] = []
        size = 0
        with self._ready:
            while not self._queue:
                if self._closed:
                    return None
                self._ready.wait()
            # The wait is counted from when the first request arrived: one that queued up while the model
            # was busy has waited long enough and goes with whatever else is queued now.
            deadline = self._queue[0].queued_at + self._max_wait
            while size < self.max_batch:
                if self._queue:
                    request = self._queue.popleft()
                    start = request.taken
                    request.taken = min(len(request.texts), start + self.max_batch - size)
                    batch.append((request, start, request.taken))
                    size += request.taken - start
                    continue
                left = deadline - time.perf_counter()
                if left <= 0 or self._closed:
                    break
                self._ready.wait(left)
        return batch

    def _score(self, batch: list[_Slice]) -> None:
        started = time.perf_counter()
        if self._metrics is not None:
            for request, _, _ in batch:
                self._metrics.batch_queue_wait.observe(started - request.queued_at)
        texts = [text for request, start, stop in batch for text in request.texts[start:stop]]
        try:
            tier, areas = self._call(texts)
        except Exception as exc:
            for request, _, _ in batch:  # a chunked request's remaining texts are dropped with it
                request.future.set_exception(exc)
            return
        offset = 0
        unfinished = []
        for request, start, stop in batch:
            end = offset + stop - start
            request.parts.append((tier[offset:end], areas[offset:end]))
            offset = end
            if request.taken < len(request.texts):
                unfinished.append(request)
            else:
                request.finish()
        if unfinished:
            # Behind the requests that arrived during this call: a large request does not hold them up.
            now = time.perf_counter()
            with self._ready:
                for request in unfinished:
                    request.queued_at = now
                    self._queue.append(request)
