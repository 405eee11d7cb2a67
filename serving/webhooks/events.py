"""Webhook events: their types, their statuses in the outbox, and the payload a receiver gets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

HIGH_RISK = "report.high_risk"
SLA_BREACHED = "queue_item.sla_breached"
#: An item of a paging queue still unclaimed after a share of its SLA: pages the queue's on-call contact.
UNCLAIMED = "queue_item.unclaimed"
EVENT_TYPES = (HIGH_RISK, SLA_BREACHED, UNCLAIMED)
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATUSES = (PENDING, DELIVERED, FAILED)


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def report_link(report_id: str) -> str:
    return f"/v1/reports/{quote(report_id, safe='')}"


def iso(value: datetime | None) -> str | None:
    """An aware datetime as the payloads write it (UTC with ``Z``); None stays None."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def event_payload(event_id: str, event_type: str, occurred_at: datetime, report_id: str, tier: str,
                  queue: str | None, priority: int, sla_deadline: datetime | None, areas: list[Any], model_name: str,
                  model_version: str, **extra: Any) -> dict[str, Any]:
    """What a receiver gets: ids, labels, versions and a link; never the report text (see ``delivery._body``)."""
    return {"id": event_id, "type": event_type, "occurred_at": iso(occurred_at), "report_id": report_id,
            "tier": tier, "queue": queue, "priority": priority, "sla_deadline": iso(sla_deadline),
            "policy_areas": list(areas), "model": {"name": model_name, "version": model_version},
            "link": report_link(report_id), **extra}
