"""The Python SDK for bots and backends: push a real-time update to hookhub's WebSocket clients.

The Python twin of seed 003's ``broadcastUpdate``::

    from hookhub.client import broadcast_update

    await broadcast_update(
        "product_added", {"shopId": 123, "productId": 456},
        base_url="http://localhost:8000", secret=os.environ.get("HOOKHUB_INTERNAL_SECRET"),
    )

A bot must never fail because its web app could not be told: both functions skip with a warning
when no secret is set, log failures instead of raising them, and return whether hookhub accepted
the update.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

log = logging.getLogger(__name__)

BROADCAST_PATH = "/api/internal/broadcast"
SECRET_HEADER = "x-internal-secret"  # noqa: S105 (a header name)
DEFAULT_TIMEOUT_S = 2.0


def _request(
    type: str, data: Mapping[str, Any] | None, base_url: str, secret: str | None
) -> tuple[str, dict[str, Any], dict[str, str]] | None:
    if not secret:
        log.warning("hookhub internal secret not set - skipping broadcast: %s", type)
        return None
    # As the seed's `{ type, ...data }`: the data's fields follow the type.
    body = {"type": type, **(data or {})}
    return base_url.rstrip("/") + BROADCAST_PATH, body, {SECRET_HEADER: secret}


def _outcome(type: str, response: httpx.Response) -> bool:
    if response.is_success:
        log.info("broadcast sent: %s", type)
        return True
    log.error("broadcast failed: %s: HTTP %d", type, response.status_code)
    return False


async def broadcast_update(
    type: str,
    data: Mapping[str, Any] | None = None,
    *,
    base_url: str,
    secret: str | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> bool:
    """Send ``{type, ...data}`` to every subscriber of the broadcast channel; never raises.

    True when hookhub accepted it; False when skipped (no secret) or failed (logged).
    """
    request = _request(type, data, base_url, secret)
    if request is None:
        return False
    url, body, headers = request
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(url, json=body, headers=headers)
    except Exception as exc:  # a bot's handler must not fail over a real-time update
        log.error("broadcast failed: %s: %s", type, type_name(exc))
        return False
    return _outcome(type, response)


def broadcast_update_sync(
    type: str,
    data: Mapping[str, Any] | None = None,
    *,
    base_url: str,
    secret: str | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> bool:
    """:func:`broadcast_update` for code that is not async."""
    request = _request(type, data, base_url, secret)
    if request is None:
        return False
    url, body, headers = request
    try:
        with httpx.Client(timeout=timeout_s) as client:
            response = client.post(url, json=body, headers=headers)
    except Exception as exc:  # a bot's handler must not fail over a real-time update
        log.error("broadcast failed: %s: %s", type, type_name(exc))
        return False
    return _outcome(type, response)


def type_name(exc: BaseException) -> str:
    # The exception's kind and message; never the request, which carries the secret header.
    return f"{type(exc).__name__}: {exc}"
