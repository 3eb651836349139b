"""Pure helpers over an incoming request's headers: masking, the client's address, delivery ids."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hookhub.inbound import payload, verification

MASK = "[masked]"
#: Headers that carry credentials or signatures: kept out of the history and the trigger.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-webhook-signature",
        "x-hub-signature",
        "x-hub-signature-256",
        "stripe-signature",
        "x-slack-signature",
        "x-shopify-hmac-sha256",
        "webhook-signature",
        "svix-signature",
        "x-telegram-bot-api-secret-token",
        "x-viber-content-signature",
        "x-signature-ed25519",
    }
)
#: Any other header whose name holds one of these is masked too: a provider added later with
#: its own ``X-Foo-Signature`` is covered without a change here.
SECRET_NAME_PARTS = ("signature", "secret", "token", "password", "auth", "cookie", "api-key")
#: Delivery-id headers, in the order they are looked for when the scheme names none:
#: Standard Webhooks, GitHub, and the generic idempotency header.
DELIVERY_ID_HEADERS = ("idempotency-key", "webhook-id", "x-github-delivery")
#: Where providers that put the id in the body keep it, for dedupe without a configured path.
SCHEME_ID_PATHS = {"telegram": "update_id"}
MAX_DELIVERY_ID_CHARS = 255
FORWARDED_FOR = "x-forwarded-for"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_HEADERS or any(part in lowered for part in SECRET_NAME_PARTS)


def masked(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names to values, credentials and signatures replaced by :data:`MASK`.

    A repeated header keeps its last value, as the trigger's ``headers`` promises one value.
    """
    return {name.lower(): (MASK if is_secret(name) else value) for name, value in headers}


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(text: str, proxies: Sequence[Network]) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in proxies)


def client_ip(
    peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]
) -> str | None:
    """The caller's address: the socket peer, unless that is a trusted proxy.

    Behind trusted proxies, ``X-Forwarded-For`` is read from the right, skipping the proxies'
    own addresses: the first one left is the last hop no trusted proxy vouches for. Entries to
    its left are the client's own claims and could be anything, so they are never used (else a
    caller would pick its own rate-limit key).
    """
    if peer is None or not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop if _address(hop) is not None else peer
    return hops[0] if hops else peer


def _header_delivery_id(scheme: str | None, headers: Mapping[str, str]) -> str | None:
    # The scheme's rule (Idempotency-Key first, then its provider's id header); an endpoint
    # with no scheme, or a scheme whose provider has none, still honours the usual headers.
    if scheme is not None:
        found = verification.delivery_id(scheme, headers)
        if found:
            return found
    for name in DELIVERY_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def delivery_id(
    scheme: str | None, headers: Mapping[str, str], body: Any, id_path: str | None
) -> str | None:
    """The id a sender gives a delivery, so a repeat can be spotted; ``None`` when there is none.

    ``headers`` have lower-case names. A configured JSON path wins, then the scheme's own
    body path (Telegram's ``update_id``), then the delivery-id headers.
    """
    path = id_path or (SCHEME_ID_PATHS.get(scheme) if scheme is not None else None)
    if path is not None:
        value = payload.lookup(body, payload.parse_path(path))
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:MAX_DELIVERY_ID_CHARS]
        if id_path is not None:
            return None
    found = _header_delivery_id(scheme, headers)
    return found[:MAX_DELIVERY_ID_CHARS] if found else None
