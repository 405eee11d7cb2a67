"""Idempotent review actions: a claim, release, reassign or decide sent with an ``Idempotency-Key`` header acts
once; a retry of the same request by the same API key gets the first answer again (with
``Idempotent-Replayed: true``) instead of a second claim, or a 409 for an item it already released or decided.

The answer is stored in the transaction of the action, so an action and its stored answer commit together or
not at all. Two copies of one request racing each other both act, but only one can store its answer (a unique
key per API key and Idempotency-Key): the other's transaction fails and is rolled back whole, and it answers
with what the first stored. A key reused for a different request (another item, another body) is refused
(422), as is one older than ``KEY_TTL``, which may be reused. Only answers that changed something are stored:
a refusal (404, 409, 422) or "nothing to claim" (204) changed nothing, so a retry is simply judged again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from serving.db.engine import transaction
from serving.db.models import IdempotentActionRow, utcnow

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: Printable ASCII without spaces, as a client library generates them (a UUID fits).
KEY_PATTERN = r"^[!-~]{1,200}$"
#: How long a stored answer is replayed; after that the key is forgotten and may be used again.
KEY_TTL = timedelta(hours=24)


class KeyReused(Exception):
    """The key was already used by this API key for a different request."""


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def fingerprint(action: str, target: str, body: Any = None) -> str:
    """What makes two requests the same: the action, its target (an item id, a queue) and the body."""
    canonical = json.dumps([action, target, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored(session: Session, principal: str, key: str, print_: str, now: datetime) -> Answer | None:
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
    return Answer(row.status_code, row.response, replayed=True)


def once(sessions: sessionmaker[Session], principal: str, key: str | None, print_: str,
         act: Callable[[Session], Answer]) -> Answer:
    """``act`` in a transaction, its answer stored under (``principal``, ``key``) when it is a success; with a
    stored answer for them, that answer instead. Without a key, just ``act``. Raises ``KeyReused``."""
    if key is None:
        with transaction(sessions) as session:
            return act(session)
    for attempt in range(2):
        now = utcnow()
        try:
            with transaction(sessions) as session:
                stored = _stored(session, principal, key, print_, now)
                if stored is not None:
                    return stored
                answer = act(session)
                if 200 <= answer.status_code < 300 and answer.status_code != 204:
                    session.add(IdempotentActionRow(principal=principal, idempotency_key=key, fingerprint=print_,
                                                    status_code=answer.status_code, response=answer.body,
                                                    created_at=now))
                    session.flush()  # a concurrent copy of this request that stored first fails here
                return answer
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")
