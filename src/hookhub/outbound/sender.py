"""One delivery attempt: the signed request (pure) and the HTTP exchange (a thin shell).

The body is the event payload as ``json.dumps(payload, sort_keys=True)`` (``seed_body``, made by
the dispatcher once per event); the headers carry the seed 004 names and the Standard Webhooks
names. The receiver's answer is read only up to
:data:`RESPONSE_EXCERPT_BYTES`, so a huge reply costs nothing.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx2

from hookhub import __version__
from hookhub.clock import Clock
from hookhub.outbound.delivery import MAX_ERROR_CHARS, RESPONSE_EXCERPT_CHARS, AttemptResult
from hookhub.outbound.models import ClaimedDelivery
from hookhub.outbound.pool import lifo_transport
from hookhub.outbound.schedule import parse_retry_after
from hookhub.outbound.ssrf import IPAddress
from hookhub.signing import seed_signature, standard_key, standard_signature_header

RESPONSE_EXCERPT_BYTES = RESPONSE_EXCERPT_CHARS * 4  # room for multi-byte UTF-8
USER_AGENT = f"hookhub/{__version__}"
#: Sent beside ``X-Webhook-Signature`` while a rotated-out secret is still honoured, for
#: receivers that have not switched to the new secret yet.
PREVIOUS_SIGNATURE_HEADER = "X-Webhook-Signature-Previous"
#: Webhook URLs whose parsed form is kept (a few per webhook at most).
PARSED_URLS_KEPT = 4096


def live_secrets(claimed: ClaimedDelivery, now: datetime) -> list[str]:
    """The current secret, then the previous one while its overlap lasts."""
    webhook = claimed.webhook
    secrets = [webhook.secret]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and now < expires:
        secrets.append(webhook.previous_secret)
    return secrets


def request_headers(claimed: ClaimedDelivery, body: bytes, now: datetime) -> dict[str, str]:
    """The headers of an attempt made at ``now`` with ``body``: ``seed_body(claimed.payload)``."""
    secrets = live_secrets(claimed, now)
    timestamp_s = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Event": claimed.event_type,
        "X-Webhook-Id": claimed.webhook.id,
        "X-Webhook-Signature": seed_signature(secrets[0], body),
        "webhook-id": claimed.id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": standard_signature_header(
            [standard_key(secret) for secret in secrets], claimed.id, timestamp_s, body
        ),
    }
    if len(secrets) > 1:
        headers[PREVIOUS_SIGNATURE_HEADER] = seed_signature(secrets[1], body)
    return headers


@dataclass(frozen=True)
class Exchange:
    result: AttemptResult
    latency_ms: float | None
    response_excerpt: str | None


def pinned(url: str, address: IPAddress) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``url`` aimed at ``address``: the URL, the ``Host`` header and the httpx extensions.

    The name stays in ``Host`` and, for https, in SNI, where the certificate is checked
    against it; only the connection's target changes.
    """
    target = _target(url)
    if target is None:
        return url, {}, {}
    parts, host = target
    literal = f"[{address}]" if address.version == 6 else str(address)
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    return str(parts.copy_with(host=literal)), {"Host": host_header}, extensions


@functools.lru_cache(maxsize=PARSED_URLS_KEPT)
def _target(url: str) -> tuple[httpx2.URL, str] | None:
    """The parsed URL and its host's IDNA form, or None when the host is an IP literal.

    Cached: a webhook's URL is parsed once, not at every attempt.
    """
    parts = httpx2.URL(url)
    # The IDNA (ASCII) form: headers and SNI carry no other.
    host = parts.raw_host.decode("ascii")
    if not host or _is_ip(host):
        return None
    return parts, host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class DeliverySender:
    """The HTTP side of deliveries: one connection pool, spoken to at the transport level.

    Requests go straight to httpx2's transport, not through ``AsyncClient``: a delivery needs
    none of the client's layers (no redirects — one could point inside; no auth; no default
    headers), and the client's cookie jar would be wrong here. It keeps cookies that one
    receiver sets and sends them on to every other webhook on that host. Skipping the client
    also saves its per-request merging of headers, cookies and URLs.
    """

    def __init__(self, *, max_connections: int, connect_timeout_s: float, timeout_s: float) -> None:
        self._transport = lifo_transport(httpx2.Limits(max_connections=max_connections))
        self._timeouts = httpx2.Timeout(timeout_s, connect=connect_timeout_s).as_dict()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def send(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        clock: Clock,
        *,
        total_timeout_s: float,
        addresses: Sequence[IPAddress] = (),
    ) -> Exchange:
        """POST once; transport failures come back as an :class:`AttemptResult`, never raised.

        With ``addresses`` (those the SSRF guard checked), the request connects to them in
        turn, moving on only when one refuses the connection. The per-phase timeouts bound
        connect and each read; ``total_timeout_s`` bounds the whole exchange, so a receiver
        trickling bytes cannot hold a delivery past it.
        """
        targets = [pinned(url, address) for address in addresses] or [(url, {}, {})]
        begun = time.perf_counter()
        try:
            async with asyncio.timeout(total_timeout_s):
                for index, (target_url, host_header, extensions) in enumerate(targets):
                    try:
                        return await self._exchange(
                            target_url,
                            body,
                            {**headers, **host_header} if host_header else headers,
                            extensions,
                            clock,
                            begun,
                        )
                    except httpx2.ConnectError:
                        if index == len(targets) - 1:
                            raise
                raise AssertionError("unreachable: the last target returns or raises")
        except httpx2.TimeoutException as exc:
            error = f"timeout: {type(exc).__name__}"
        except TimeoutError:
            error = f"timeout: no complete answer within {total_timeout_s} s"
        except httpx2.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        return Exchange(AttemptResult(None, error=error[:MAX_ERROR_CHARS]), None, None)

    async def _exchange(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        extensions: dict[str, Any],
        clock: Clock,
        begun: float,
    ) -> Exchange:
        request = httpx2.Request(
            "POST",
            url,
            content=body,
            headers=headers,
            extensions={**extensions, "timeout": self._timeouts},
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            excerpt = b""
            async for chunk in response.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                    break
            latency_ms = (time.perf_counter() - begun) * 1000
            retry_after = parse_retry_after(response.headers.get("retry-after"), clock())
            text = excerpt.decode("utf-8", errors="replace")[:RESPONSE_EXCERPT_CHARS]
            return Exchange(
                AttemptResult(response.status_code, retry_after_s=retry_after), latency_ms, text
            )
        finally:
            await response.aclose()
