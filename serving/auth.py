"""API keys with roles: ``intake`` (sends reports), ``reviewer`` (works the queues), ``admin`` (everything).

A key reads ``trg_<key_id>_<secret>``. The database keeps the key id, name, role and the sha256 of the
secret; the secret itself is shown once, when the key is created (``triage keys create``). A fast hash is
safe here because secrets are 256 random bits, not passwords: there is nothing to guess. Logs and the
audit log name keys by ``key_id`` only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.models import ApiKeyRow, utcnow

KEY_PATTERN = re.compile(r"^trg_([a-f0-9]{12})_([A-Za-z0-9_-]{43})$")


class Role(StrEnum):
    INTAKE = "intake"
    REVIEWER = "reviewer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    role: Role

    def may(self, *roles: Role) -> bool:
        """Admins may do everything; everyone else what their role is listed for."""
        return self.role is Role.ADMIN or self.role in roles


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    name: str
    role: Role
    #: The full key: shown once to whoever created it, never stored or logged.
    secret: str


def _digest(value: str) -> str:
    """sha256 of a key's secret (ASCII by construction) or of a whole presented key (any text a client sends)."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def create_key(session: Session, name: str, role: Role) -> NewKey:
    from serving.audit import record

    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(ApiKeyRow(key_id=key_id, name=name, role=role.value, secret_sha256=_digest(secret),
                          created_at=utcnow(), revoked_at=None))
    record(session, "system", "api_key.created", "api_key", key_id, {"name": name, "role": role.value})
    return NewKey(key_id=key_id, name=name, role=role, secret=f"trg_{key_id}_{secret}")


def authenticate(session: Session, presented: str) -> Principal | None:
    """The key's principal, or None when the key is malformed, unknown, revoked or wrong."""
    match = KEY_PATTERN.match(presented)
    if match is None:
        return None
    key_id, secret = match.groups()
    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return Principal(key_id=row.key_id, name=row.name, role=Role(row.role))


class KeyCache:
    """Keys that authenticated in the last ``ttl_seconds``, so that a busy client does not cost a database
    read per request. Only successes are kept (a flood of wrong keys cannot fill it), under the sha256 of the
    whole presented key. The price: a key revoked while cached keeps working here for up to ``ttl_seconds``
    (``TRIAGE_AUTH_CACHE_SECONDS``; 0 turns the cache off)."""

    def __init__(self, ttl_seconds: float, *, max_keys: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, presented: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        digest = _digest(presented)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._entries[digest]
                return None
            return entry[0]

    def put(self, presented: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_keys:
                self._entries.clear()  # rare (thousands of live keys in one process): start over, stay bounded
            self._entries[_digest(presented)] = (principal, self._clock() + self.ttl)


def revoke_key(session: Session, key_id: str) -> bool:
    from serving.audit import record

    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).one_or_none()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    record(session, "system", "api_key.revoked", "api_key", key_id, {"name": row.name})
    return True


def list_keys(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))
