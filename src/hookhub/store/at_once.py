"""The outgoing hot path's writes on PostgreSQL: each batch one statement over column arrays.

Storing a batch of events with their deliveries, and recording a batch of attempts, each took a
transaction of five round trips through SQLAlchemy (``BEGIN``, two or three statements, one an
executemany, ``COMMIT``). Here each is one statement, sent on the driver outside any transaction
(:meth:`hookhub.store.engine.Database.autocommit`): the rows go as one array per column and
``unnest`` turns them back into rows, and the statement's sub-statements (``WITH``) commit
together or not at all, as a transaction's would.

The rows are the same dictionaries the general path writes (:mod:`hookhub.store.queue`), so
both store the same values; this module only lays them out in columns. Payloads go as JSON
text, cast to ``jsonb`` by the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs; used through Any
import orjson

from hookhub.outbound.delivery import DeliveryStatus
from hookhub.store.batch import ShortCount
from hookhub.store.engine import json_text
from hookhub.store.models import Webhook

#: A driver connection (asyncpg's), as :meth:`Database.autocommit` yields it.
Driver = Any

_EVENT_COLUMNS = (
    ("id", "text"),
    ("type", "text"),
    ("source", "text"),
    ("channel", "text"),
    ("payload", "text"),
    ("occurred_at", "timestamptz"),
    ("request_id", "text"),
)
_DELIVERY_COLUMNS = (
    ("id", "text"),
    ("webhook_id", "text"),
    ("event_id", "text"),
    ("event_type", "text"),
    ("status", "text"),
    ("attempts", "int"),
    ("next_attempt_at", "timestamptz"),
    ("lease_until", "timestamptz"),
    ("lease_token", "text"),
    ("created_at", "timestamptz"),
)
#: An attempt and the state it leaves its delivery in: ``b_``-keys as the general path's
#: state update takes them, the attempt's own keys as its insert takes them.
_ATTEMPT_COLUMNS = (
    ("b_id", "text"),
    ("b_token", "text"),
    ("b_status", "text"),
    ("b_next_attempt_at", "timestamptz"),
    ("b_status_code", "int"),
    ("b_error", "text"),
    ("b_completed_at", "timestamptz"),
    ("id", "text"),
    ("attempted_at", "timestamptz"),
    ("latency_ms", "float8"),
    ("response_excerpt", "text"),
)


def _unnest(columns: Sequence[tuple[str, str]], first: int, alias: str) -> str:
    arrays = ", ".join(f"${first + i}::{kind}[]" for i, (_name, kind) in enumerate(columns))
    names = ", ".join(name for name, _kind in columns)
    return f"unnest({arrays}) AS {alias}({names})"


def _arrays(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]
) -> list[list[Any]]:
    return [[row[name] for row in rows] for name, _kind in columns]


_EVENT_NAMES = ", ".join(name for name, _kind in _EVENT_COLUMNS)
_DELIVERY_NAMES = ", ".join(name for name, _kind in _DELIVERY_COLUMNS)
STORE_EVENTS = f"""
WITH stored AS (
    INSERT INTO events ({_EVENT_NAMES})
    SELECT id, type, source, channel, payload::jsonb, occurred_at, request_id
    FROM {_unnest(_EVENT_COLUMNS, 1, "e")}
)
INSERT INTO webhook_deliveries ({_DELIVERY_NAMES})
SELECT {_DELIVERY_NAMES} FROM {_unnest(_DELIVERY_COLUMNS, len(_EVENT_COLUMNS) + 1, "d")}
"""  # noqa: S608  # built from this module's constants only; values go as parameters

# A state is written only where the claim's token still holds the pending delivery (a token is
# only ever set on a pending delivery, and cleared when it leaves that state); the attempt is
# kept whenever its delivery still exists. What comes back: the deliveries whose state changed.
RECORD_ATTEMPTS = f"""
WITH given AS (
    SELECT * FROM {_unnest(_ATTEMPT_COLUMNS, 1, "g")}
),
changed AS (
    UPDATE webhook_deliveries AS d
    SET status = g.b_status,
        attempts = d.attempts + 1,
        next_attempt_at = g.b_next_attempt_at,
        lease_until = NULL,
        lease_token = NULL,
        last_status_code = g.b_status_code,
        last_error = g.b_error,
        completed_at = g.b_completed_at
    FROM given AS g
    WHERE d.id = g.b_id
        AND d.status = '{DeliveryStatus.PENDING.value}'
        AND d.lease_token = g.b_token
    RETURNING d.id
),
kept AS (
    INSERT INTO webhook_delivery_attempts
        (id, delivery_id, attempted_at, status_code, latency_ms, response_excerpt, error)
    SELECT g.id, g.b_id, g.attempted_at, g.b_status_code, g.latency_ms, g.response_excerpt,
        g.b_error
    FROM given AS g
    WHERE EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.id = g.b_id)
)
SELECT id FROM changed
"""  # noqa: S608  # built from this module's constants only


_WEBHOOK_COLUMNS = [column.key for column in Webhook.__table__.columns]
#: Read as text and parsed here, whatever codec the connection has for ``jsonb``.
_WEBHOOK_JSON = "retry_schedule_s"
MATCHING_WEBHOOKS = f"""
SELECT {
    ", ".join(
        f"{name}::text AS {name}" if name == _WEBHOOK_JSON else name for name in _WEBHOOK_COLUMNS
    )
}
FROM webhooks WHERE is_active AND event_type = ANY($1::text[])
"""  # noqa: S608  # the table's own column names


async def matching_webhooks(driver: Driver, patterns: Sequence[str]) -> list[Any]:
    """The active webhooks subscribed to any of ``patterns``, each with its columns as
    attributes (as SQLAlchemy's rows have them)."""
    rows = []
    for record in await driver.fetch(MATCHING_WEBHOOKS, list(patterns)):
        row = dict(record.items())
        if row[_WEBHOOK_JSON] is not None:
            row[_WEBHOOK_JSON] = orjson.loads(row[_WEBHOOK_JSON])
        rows.append(SimpleNamespace(**row))
    return rows


async def store_events(
    driver: Driver,
    events: Sequence[Mapping[str, Any]],
    deliveries: Sequence[Mapping[str, Any]],
) -> None:
    """Store events and their deliveries: one statement, committed when it returns.

    Payloads are serialised as the engine serialises JSON columns (:func:`json_text`).
    """
    arrays = _arrays(events, _EVENT_COLUMNS)
    payloads = [name for name, _kind in _EVENT_COLUMNS].index("payload")
    arrays[payloads] = [json_text(payload) for payload in arrays[payloads]]
    await driver.execute(STORE_EVENTS, *arrays, *_arrays(deliveries, _DELIVERY_COLUMNS))


async def record_attempts(driver: Driver, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Store attempts and the states they lead to; the ids of the deliveries changed.

    Each row names a different delivery: two states of one delivery in one statement would
    leave which one is written to chance. Raises :class:`ShortCount` when a delivery was
    deleted while the statement ran (its attempt could not be kept): the caller then records
    the batch the general way, which locks the deliveries first.
    """
    try:
        found = await driver.fetch(RECORD_ATTEMPTS, *_arrays(rows, _ATTEMPT_COLUMNS))
    except asyncpg.ForeignKeyViolationError:
        raise ShortCount from None
    return {record["id"] for record in found}
