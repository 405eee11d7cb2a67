"""Idempotent review actions: a claim, release, reassign or decide sent with an ``Idempotency-Key`` header acts
once; a retry of the same request by the same API key is answered with what the first one did (marked
``Idempotent-Replayed: true``) instead of claiming a second item, or a 409 for an item it already released or
decided.

What the action produced (the queue item it claimed, released or reassigned, or the decision it recorded) is
stored in the action's own transaction, so the two commit together or not at all; a retry is answered with that
item or decision as it is now. Only the reference is stored, never the answer's body, so the report text stays in
one table (and retention reaches it there). Two copies of one request racing each other both act, but only one
can store (a unique key per API key and Idempotency-Key): the other's transaction fails, is rolled back whole,
and it answers from what the first stored. A key reused for a different request (another item, queue or body)
is refused (``KeyReused``, 422). A key older than ``KEY_TTL`` is forgotten and may be used again. Only actions
that changed something are stored: a refusal (404, 409, 422) or "nothing to claim" (204) changed nothing, so a
retry of one is simply judged again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from serving.db.engine import transaction
from serving.db.models import IdempotentActionRow, utcnow

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: Printable ASCII without spaces, as a client library generates them (a UUID fits).
KEY_PATTERN = r"^[!-~]{1,200}$"
#: How long an action is remembered; after that its key is forgotten and may be used again.
KEY_TTL = timedelta(hours=24)

ResultKind = Literal["item", "decision"]


class KeyReused(Exception):
    """The key was already used by this API key for a different request."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did: its HTTP status, and the item or decision it produced (None for a 204)."""

    status_code: int
    kind: ResultKind | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    body: dict[str, Any] | None
    replayed: bool = False


def fingerprint(action: str, target: str, body: Any = None) -> str:
    """What makes two requests the same: the action, its target (an item id, a queue) and the body."""
    canonical = json.dumps([action, target, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _remembered(session: Session, principal: str, key: str, print_: str, now: datetime) -> Outcome | None:
    row = session.scalars(select(IdempotentActionRow).where(
        IdempotentActionRow.principal == principal, IdempotentActionRow.idempotency_key == key)).one_or_none()
    if row is None:
        return None
    if row.created_at < now - KEY_TTL:
        session.delete(row)
        session.flush()
        return None
    if row.fingerprint != print_:
        raise KeyReused(f"{HEADER}: this key was used for a different request (another item, queue or body); "
                        "use a new key for each action")
    kind: ResultKind = "decision" if row.result_kind == "decision" else "item"
    return Outcome(row.status_code, kind, row.result_id)


def _stores(outcome: Outcome) -> bool:
    return 200 <= outcome.status_code < 300 and outcome.kind is not None and outcome.id is not None


def once(sessions: sessionmaker[Session], principal: str, key: str | None, print_: str,
         act: Callable[[Session], Outcome], render: Callable[[Session, Outcome], dict[str, Any]]) -> Answer:
    """``act`` in a transaction and ``render`` its outcome as the answer's body; with a key, the outcome is
    remembered under (``principal``, ``key``), and an outcome remembered there already is rendered instead of
    acting. Raises ``KeyReused``."""
    for attempt in range(2):
        now = utcnow()
        try:
            with transaction(sessions) as session:
                remembered = None if key is None else _remembered(session, principal, key, print_, now)
                outcome = remembered or act(session)
                if key is not None and remembered is None and _stores(outcome):
                    assert outcome.kind is not None and outcome.id is not None
                    session.add(IdempotentActionRow(principal=principal, idempotency_key=key, fingerprint=print_,
                                                    status_code=outcome.status_code, result_kind=outcome.kind,
                                                    result_id=outcome.id, created_at=now))
                    session.flush()  # a concurrent copy of this request that stored first makes this fail
                body = render(session, outcome) if outcome.kind is not None else None
                return Answer(outcome.status_code, body, replayed=remembered is not None)
        except IntegrityError:
            if key is None or attempt:
                raise
    raise AssertionError("unreachable")
