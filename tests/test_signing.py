"""Signatures checked by the seed's own receiver code and by the two PyPI verifiers."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
import standardwebhooks
import svix.webhooks

from hookhub.signing import (
    SignatureError,
    generate_secret,
    seed_body,
    seed_signature,
    standard_key,
    standard_signature_header,
)

PAYLOAD = {"user_id": 123, "username": "Željko ✓", "referred_by_id": None, "amount": 12.5}


def seed_receiver_verifies(payload: dict[str, object], signature_header: str, secret: str) -> bool:
    # The receiver from seed 004, verbatim in behaviour: re-serialise, HMAC, compare.
    payload_json = json.dumps(payload, sort_keys=True)
    expected = hmac.new(secret.encode("utf-8"), payload_json.encode("utf-8"), hashlib.sha256)
    received = signature_header.replace("sha256=", "")
    return hmac.compare_digest(expected.hexdigest(), received)


@pytest.mark.parametrize("secret", ["optional-secret-for-signing", generate_secret()])
def test_seed_receiver_verifies_our_signature(secret: str) -> None:
    body = seed_body(PAYLOAD)
    header = seed_signature(secret, body)
    assert header.startswith("sha256=")
    assert seed_receiver_verifies(json.loads(body), header, secret)
    assert not seed_receiver_verifies(json.loads(body), header, secret + "x")


def _headers(message_id: str, keys: list[bytes], body: bytes) -> dict[str, str]:
    # Now, not at import: the verifiers refuse a timestamp five minutes old, and a full run
    # can reach this module later than that.
    timestamp = int(datetime.now(UTC).timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature_header(keys, message_id, timestamp, body),
    }


def test_standard_webhooks_and_svix_verify_a_whsec_secret() -> None:
    secret = generate_secret()
    body = seed_body(PAYLOAD)
    headers = _headers("msg_01", [standard_key(secret)], body)
    assert standardwebhooks.Webhook(secret).verify(body, headers) == PAYLOAD
    svix.webhooks.Webhook(secret).verify(body, headers)  # raises unless it verifies


def test_a_plain_secret_verifies_as_its_utf8_bytes() -> None:
    body = seed_body(PAYLOAD)
    headers = _headers("msg_02", [standard_key("plain-secret")], body)
    assert standardwebhooks.Webhook(b"plain-secret").verify(body, headers) == PAYLOAD


def test_rotation_sends_both_signatures_and_either_secret_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    body = seed_body(PAYLOAD)
    headers = _headers("msg_03", [standard_key(new), standard_key(old)], body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        svix.webhooks.Webhook(secret).verify(body, headers)
        assert standardwebhooks.Webhook(secret).verify(body, headers) == PAYLOAD
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(generate_secret()).verify(body, headers)


def test_tampered_body_fails_verification() -> None:
    secret = generate_secret()
    body = seed_body(PAYLOAD)
    headers = _headers("msg_04", [standard_key(secret)], body)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body.replace(b"123", b"124"), headers)


def test_malformed_whsec_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(SignatureError) as caught:
        standard_key("whsec_!!!not-base64-hunter2")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(SignatureError, match="must not be empty"):
        standard_key("whsec_")
