"""Group commit: concurrent requests' reports share transactions; one request's failure fails it alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from serving.db.engine import make_engine, make_sessionmaker, upgrade
from serving.db.models import AuditRow
from serving.group_commit import GroupCommitter
from serving.metrics import Metrics


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'triage.db'}")
    upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


class Recorder:
    """Stores each job as an audit row named after it; ``gate`` holds the writer inside its first group, and a
    job named ``bad`` fails."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.gate = threading.Event()
        self.inside = threading.Event()

    def __call__(self, session: Session, jobs: Sequence[str]) -> None:
        self.groups.append(list(jobs))
        self.inside.set()
        self.gate.wait(10)
        if "bad" in jobs:
            raise IntegrityError("INSERT", {}, Exception("duplicate report_id"))
        session.add_all([AuditRow(at=func.now(), actor="t", action=job, subject_type="report", subject_id=job,
                                  details={}) for job in jobs])


def stored(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(AuditRow.action)))


def test_jobs_that_arrive_while_a_group_commits_are_stored_together(sessions: sessionmaker[Session]) -> None:
    store = Recorder()
    metrics = Metrics()
    committer = GroupCommitter(sessions, store, metrics=metrics)
    first = committer.submit("a")
    assert store.inside.wait(5)  # the writer holds "a" alone (it does not wait to collect more)
    later = [committer.submit(name) for name in ("b", "c", "d")]
    store.gate.set()
    for future in [first, *later]:
        future.result(timeout=10)
    committer.close()
    assert store.groups == [["a"], ["b", "c", "d"]]
    assert stored(sessions) == ["a", "b", "c", "d"]
    assert metrics.registry.get_sample_value("triage_store_group_requests_count") == 2


def test_a_group_holds_at_most_max_group_reports(sessions: sessionmaker[Session]) -> None:
    store = Recorder()
    committer = GroupCommitter(sessions, store, max_group=4)
    futures = [committer.submit("first")]
    assert store.inside.wait(5)
    futures += [committer.submit("three", size=3), committer.submit("two", size=2), committer.submit("one")]
    store.gate.set()
    for future in futures:
        future.result(timeout=10)
    committer.close()
    assert store.groups == [["first"], ["three"], ["two", "one"]]


def test_a_failing_request_fails_alone_and_the_rest_of_its_group_is_stored(sessions: sessionmaker[Session]) -> None:
    store = Recorder()
    committer = GroupCommitter(sessions, store)
    first = committer.submit("a")
    assert store.inside.wait(5)
    good, bad, other = committer.submit("b"), committer.submit("bad"), committer.submit("c")
    store.gate.set()
    first.result(timeout=10)
    good.result(timeout=10)
    other.result(timeout=10)
    with pytest.raises(IntegrityError):
        bad.result(timeout=10)
    committer.close()
    assert store.groups[1] == ["b", "bad", "c"]  # the group, rolled back, then each on its own
    assert stored(sessions) == ["a", "b", "c"]


def test_close_stores_what_is_queued_and_later_jobs_store_in_their_own_thread(sessions: sessionmaker[Session]) -> None:
    store = Recorder()
    committer = GroupCommitter(sessions, store)
    queued = [committer.submit("a")]
    assert store.inside.wait(5)
    queued.append(committer.submit("b"))
    closing = threading.Thread(target=committer.close)
    closing.start()
    store.gate.set()
    closing.join(10)
    assert all(future.done() for future in queued) and not committer.running
    late = committer.submit("late")
    assert late.done()  # stored by the caller, synchronously
    assert stored(sessions) == ["a", "b", "late"]


def test_disabled_there_is_no_thread_and_each_job_commits_on_its_own(sessions: sessionmaker[Session]) -> None:
    store = Recorder()
    store.gate.set()
    committer = GroupCommitter(sessions, store, enabled=False)
    assert not committer.running
    assert committer.submit("a").done() and committer.submit("b").done()
    assert store.groups == [["a"], ["b"]]
    with pytest.raises(IntegrityError):
        committer.submit("bad").result()
