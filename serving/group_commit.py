"""Group commit: the new reports of concurrent requests stored in shared transactions.

A single-report request used to store its report in a transaction of its own: on SQLite the requests' writers
queue for the database's one write lock, and on PostgreSQL each request pays for its own commit. Instead a
request hands what it stores to ``GroupCommitter.submit`` and blocks on a future; one writer thread takes
everything queued (up to ``max_group`` reports), stores it in one transaction, and answers every request of
the group. Under load, the requests that arrive while a group commits form the next group; an idle writer
takes a lone request at once (no waiting to collect more).

- A request is answered only once its group has committed: nothing answered is lost.
- A group whose transaction fails (say a report_id that another process stored meanwhile: IntegrityError) is
  stored again one request per transaction, so one request's conflict fails that request only.
- ``close()`` stores what is queued and stops the thread; a request after that stores in its own thread.
- ``enabled=False`` has no thread: every request stores in its own transaction, in its own thread.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from serving.db.engine import transaction
from serving.metrics import Metrics
from serving.worker import QueueWorker

log = logging.getLogger(__name__)

Job = TypeVar("Job")
#: Writes ``jobs`` into the session's transaction (which the committer commits, or rolls back on an error).
Store = Callable[[Session, Sequence[Job]], None]


class GroupCommitter(QueueWorker, Generic[Job]):
    """Stores jobs with ``store`` in shared transactions, one group at a time, on its own thread."""

    def __init__(self, sessions: sessionmaker[Session], store: Store[Job], *, max_group: int = 64,
                 enabled: bool = True, metrics: Metrics | None = None, name: str = "triage-writer") -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be >= 1, not {max_group}")
        self.sessions = sessions
        self.store = store
        self.max_group = max_group
        self._metrics = metrics
        self._queue: deque[tuple[Job, int, Future[None]]] = deque()
        super().__init__(name, start=enabled)
        self._closed = not enabled  # disabled: every job is committed by its caller

    def submit(self, job: Job, size: int = 1) -> Future[None]:
        """The future of ``job`` stored (``size``: the reports it holds, which a group counts). Done when its
        transaction has committed; failed with the exception that stopped it."""
        future: Future[None] = Future()
        with self._ready:
            if not self._closed:
                self._queue.append((job, size, future))
                self._ready.notify()
                return future
        self._commit_alone(job, future)
        return future

    def _run(self) -> None:
        group: list[tuple[Job, int, Future[None]]] = []
        try:
            while True:
                group = self._collect()
                if not group:
                    return
                self._commit(group)
        except Exception as exc:  # a bug here must not leave requests waiting forever
            log.exception("the group-commit thread failed; each request stores on its own from now on")
            with self._ready:
                self._closed = True
                stranded, self._queue = [*group, *self._queue], deque()
            for _, _, future in stranded:
                if not future.done():
                    future.set_exception(exc)

    def _collect(self) -> list[tuple[Job, int, Future[None]]]:
        """What is queued, up to ``max_group`` reports (at least one job); empty once closed and drained."""
        with self._ready:
            while not self._queue:
                if self._closed:
                    return []
                self._ready.wait()
            group = [self._queue.popleft()]
            size = group[0][1]
            while self._queue and size + self._queue[0][1] <= self.max_group:
                group.append(self._queue.popleft())
                size += group[-1][1]
        return group

    def _commit(self, group: list[tuple[Job, int, Future[None]]]) -> None:
        if len(group) == 1:
            self._commit_alone(group[0][0], group[0][2])
            return
        try:
            with transaction(self.sessions) as session:
                self.store(session, [job for job, _, _ in group])
        except Exception:
            log.info("a group of %d stores failed; storing them one by one", len(group))
            for job, _, future in group:
                self._commit_alone(job, future)
            return
        if self._metrics is not None:
            self._metrics.commit_group.observe(len(group))
        for _, _, future in group:
            future.set_result(None)

    def _commit_alone(self, job: Job, future: Future[None]) -> None:
        try:
            with transaction(self.sessions) as session:
                self.store(session, [job])
        except Exception as exc:
            future.set_exception(exc)
            return
        if self._metrics is not None:
            self._metrics.commit_group.observe(1)
        future.set_result(None)
