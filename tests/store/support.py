"""Rows of the audit table, the table the store's batch-write tests write to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hookhub.store.models import AuditEntry

NOW = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)
AUDIT_TABLE = AuditEntry.__table__


def audit_entry(entry_id: str, **changes: Any) -> dict[str, Any]:
    """An audit row with every column set, a datetime and a nested JSON document among them."""
    return {
        "id": entry_id,
        "occurred_at": NOW,
        "actor": "automation:a1",
        "action": "action.run",
        "target": None,
        "request_id": "r1",
        "details": {"ok": True, "nested": {"list": [1, 2.5, None]}, "text": "é\u2028"},
    } | changes
