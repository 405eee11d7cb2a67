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
    #: A reviewer's languages (ISO 639-1): "claim next" gives them items in these languages first.
    languages: frozenset[str] = frozenset()

    @classmethod
    def of(cls, row: ApiKeyRow) -> Principal:
        return cls(key_id=row.key_id, name=row.name, role=Role(row.role), languages=frozenset(row.languages or ()))

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


LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}$")


def parse_languages(value: str) -> list[str]:
    """``"de, fr"`` -> ``["de", "fr"]``: ISO 639-1 codes, comma-separated; ValueError naming a bad one."""
    codes = [code.strip().lower() for code in value.split(",") if code.strip()]
    for code in codes:
        if not LANGUAGE_PATTERN.match(code):
            raise ValueError(f"{code!r} is not an ISO 639-1 language code (two or three letters, e.g. de)")
    return sorted(set(codes))


def create_key(session: Session, name: str, role: Role, languages: list[str] | None = None) -> NewKey:
    from serving.audit import record

    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(ApiKeyRow(key_id=key_id, name=name, role=role.value, secret_sha256=_digest(secret),
                          created_at=utcnow(), revoked_at=None, languages=languages or None))
    record(session, "system", "api_key.created", "api_key", key_id,
           {"name": name, "role": role.value, "languages": languages or []})
    return NewKey(key_id=key_id, name=name, role=role, secret=f"trg_{key_id}_{secret}")


def set_languages(session: Session, key_id: str, languages: list[str]) -> bool:
    """Set an active key's languages (an empty list clears them); False when there is no such key."""
    from serving.audit import record

    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).one_or_none()
    if row is None or row.revoked_at is not None:
        return False
    row.languages = languages or None
    record(session, "system", "api_key.languages_set", "api_key", key_id, {"languages": languages})
    return True


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
    return Principal.of(row)


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
