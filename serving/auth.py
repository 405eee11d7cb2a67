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


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


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
