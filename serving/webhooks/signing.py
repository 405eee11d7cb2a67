"""Signing webhook requests, and checking a signature (what a receiver does).

``Triage-Signature: v1=<hex HMAC-SHA256 of "<Triage-Timestamp>.<raw body>">`` with ``TRIAGE_WEBHOOK_SECRET``;
``verify_signature`` checks it, and refuses old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

#: Signatures older (or newer) than this are refused by ``verify_signature`` by default.
DEFAULT_TOLERANCE_S = 300

USER_AGENT = "triage-webhooks/1"


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"``: what ``Triage-Signature`` carries after ``v1=``."""
    return hmac.new(_key(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str | bytes, event_id: str, event_type: str, body: bytes,
                   timestamp: int | None = None) -> dict[str, str]:
    """The headers of one delivery of ``body``; a retry is signed afresh (a new timestamp), the body is the same."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Triage-Event-Id": event_id,
            "Triage-Event-Type": event_type, "Triage-Timestamp": str(ts),
            "Triage-Signature": f"v1={sign(secret, ts, body)}"}


def verify_signature(secret: str | bytes, headers: Mapping[str, str], body: bytes,
                     tolerance_s: float = DEFAULT_TOLERANCE_S, *, now: float | None = None) -> bool:
    """Whether ``body`` was signed with ``secret`` less than ``tolerance_s`` seconds from ``now``.

    ``headers`` is any mapping (header names in any case). ``Triage-Signature`` may hold several
    comma-separated ``v1=`` values (one per secret while a secret is being rotated): one must match.
    Compare in constant time, and verify the raw body exactly as received, before parsing it."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp, header = lowered.get("triage-timestamp", ""), lowered.get("triage-signature", "")
    if not timestamp.isdigit() or not header:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    candidates = [part.strip().removeprefix("v1=") for part in header.split(",") if part.strip().startswith("v1=")]
    return any(hmac.compare_digest(expected, c) for c in candidates)
