"""The append-only audit log: who did what to which report, queue item or key, and when.

Details hold ids, versions, labels and rule names; never report text, never secrets.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from serving.db.models import AuditRow, utcnow


def entry(actor: str, action: str, subject_type: str, subject_id: str,
          details: dict[str, Any] | None = None) -> AuditRow:
    """An audit entry, not yet in any session (the scoring path inserts many in one statement)."""
    return AuditRow(at=utcnow(), actor=actor, action=action, subject_type=subject_type, subject_id=subject_id,
                    details=details or {})


def record(session: Session, actor: str, action: str, subject_type: str, subject_id: str,
           details: dict[str, Any] | None = None) -> None:
    """Add an audit entry to the session's transaction: it is stored exactly when the change it describes is."""
    session.add(entry(actor, action, subject_type, subject_id, details))
