"""Header rules (pure): masking secrets, the client's address behind proxies, delivery ids."""

from __future__ import annotations

import pytest

from hookhub.inbound import headers
from hookhub.inbound.headers import MASK

PROXIES = headers.networks(["10.0.0.0/8", "fd00::/8"])


def test_masked_lowercases_and_hides_credentials_and_signatures() -> None:
    shown = headers.masked(
        [
            ("Authorization", "Bearer abc"),
            ("X-Webhook-Signature", "sha256=00"),
            ("Cookie", "session=1"),
            ("X-Acme-Signature-V2", "t=1,v1=2"),
            ("X-Custom-Token", "t"),
            ("Stripe-Signature", "t=1,v1=2"),
            ("Content-Type", "application/json"),
            ("X-GitHub-Delivery", "42"),
            ("Accept", "a"),
            ("accept", "b"),
        ]
    )
    assert shown == {
        "authorization": MASK,
        "x-webhook-signature": MASK,
        "cookie": MASK,
        "x-acme-signature-v2": MASK,
        "x-custom-token": MASK,
        "stripe-signature": MASK,
        "content-type": "application/json",
        "x-github-delivery": "42",
        "accept": "b",
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # No proxy in front: the socket peer, whatever the header claims.
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        ("203.0.113.9", None, "203.0.113.9"),
        # From a trusted proxy: the last hop it did not add itself.
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.7", "198.51.100.1"),
        ("fd00::1", "2001:db8::5", "2001:db8::5"),
        # A spoofed leftmost entry is never used.
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        # Only proxies in the chain: the first one.
        ("10.0.0.2", "10.0.0.9, 10.0.0.7", "10.0.0.9"),
        # Garbage where the client should be: the proxy itself.
        ("10.0.0.2", "not-an-ip", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        (None, "198.51.100.1", None),
    ],
)
def test_client_ip(peer: str | None, forwarded: str | None, expected: str | None) -> None:
    assert headers.client_ip(peer, forwarded, PROXIES) == expected


def test_client_ip_without_trusted_proxies_is_the_peer() -> None:
    assert headers.client_ip("10.0.0.2", "198.51.100.1", ()) == "10.0.0.2"


@pytest.mark.parametrize(
    ("scheme", "given", "body", "id_path", "expected"),
    [
        ("hmac", {"webhook-id": "msg_1"}, None, None, "msg_1"),
        ("hmac", {"x-github-delivery": "gh-2"}, None, None, "gh-2"),
        (None, {"idempotency-key": "k-3"}, None, None, "k-3"),
        # Idempotency-Key wins over a provider's id header, in every scheme.
        ("hmac", {"webhook-id": "a", "idempotency-key": "b"}, None, None, "b"),
        (None, {"webhook-id": "a", "idempotency-key": "b"}, None, None, "b"),
        ("hmac", {}, {"id": 1}, None, None),
        # A configured path wins over headers, and numbers become text.
        ("hmac", {"webhook-id": "a"}, {"data": {"id": 77}}, "$.data.id", "77"),
        # A configured path that finds nothing means no id (not a header's).
        ("hmac", {"webhook-id": "a"}, {"data": {}}, "data.id", None),
        ("hmac", {}, {"flag": True}, "flag", None),
        # Telegram keeps its id in the body.
        ("telegram", {}, {"update_id": 123456, "message": {}}, None, "123456"),
        ("telegram", {"idempotency-key": "k"}, {"message": {}}, None, "k"),
    ],
)
def test_delivery_id(
    scheme: str | None,
    given: dict[str, str],
    body: object,
    id_path: str | None,
    expected: str | None,
) -> None:
    assert headers.delivery_id(scheme, given, body, id_path) == expected


def test_delivery_id_is_capped() -> None:
    found = headers.delivery_id(None, {"webhook-id": "x" * 1000}, None, None)
    assert found == "x" * headers.MAX_DELIVERY_ID_CHARS
