"""The append-only audit log: who did what to which report, queue item or key, and when.

Details hold ids, versions, labels and rule names; never report text, never secrets.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from serving.db.models import AuditRow, utcnow


def record(session: Session, actor: str, action: str, subject_type: str, subject_id: str,
           details: dict[str, Any] | None = None) -> None:
    """Add an audit entry to the session's transaction: it is stored exactly when the change it describes is."""
    session.add(AuditRow(at=utcnow(), actor=actor, action=action, subject_type=subject_type,
                         subject_id=subject_id, details=details or {}))
