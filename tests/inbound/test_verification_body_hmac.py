"""``hmac`` (seed 002), ``github``, ``shopify`` and ``viber``: HMAC-SHA256 of the body alone."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest
from viberbot import Api as ViberApi
from viberbot.api.bot_configuration import BotConfiguration

from hookhub.inbound.verification import VerifyOptions, sign, verify
from tests.inbound.test_verification import BODY, NOW, SECRET, reason

REPLAY = VerifyOptions(require_timestamp=True)


# ---- hmac (seed 002) ------------------------------------------------------------------------

# Seed 002's test request signs its body with
#   echo -n '<body>' | openssl dgst -sha256 -hmac 'YOUR_HMAC_SECRET' | sed 's/^.* //'
# and sends the bare hex in X-Webhook-Signature. This is that command's output for this body.
SEED_BODY = b'{"title":"Test","description":"Test ticket","teamId":"YOUR_TEAM_ID","priority":1}'
SEED_SECRET = "YOUR_HMAC_SECRET"
SEED_SIGNATURE = "52913acc115900641ea596b492f67a2578a19354a6d618638c7172d33978df7d"
NOW_S = int(NOW.timestamp())


@pytest.mark.parametrize(
    "signature",
    [SEED_SIGNATURE, "sha256=" + SEED_SIGNATURE, SEED_SIGNATURE.upper(), f"  {SEED_SIGNATURE} "],
)
def test_hmac_accepts_seed_002s_signature(signature: str) -> None:
    verify("hmac", {"X-Webhook-Signature": signature}, SEED_BODY, SEED_SECRET, NOW)


def test_hmac_sign_sends_what_the_seed_sends() -> None:
    headers = sign("hmac", SEED_BODY, SEED_SECRET, NOW)
    assert headers == {"X-Webhook-Signature": SEED_SIGNATURE, "X-Webhook-Timestamp": str(NOW_S)}


def test_hmac_accepts_any_of_several_signatures_while_the_sender_rotates() -> None:
    other = hmac.new(b"old-secret", SEED_BODY, hashlib.sha256).hexdigest()
    for header in (f"{other},{SEED_SIGNATURE}", f"sha256={other} sha256={SEED_SIGNATURE}"):
        verify("hmac", {"X-Webhook-Signature": header}, SEED_BODY, SEED_SECRET, NOW)


def test_hmac_tries_a_bounded_number_of_signatures() -> None:
    decoys = ",".join(f"{i:064x}" for i in range(8))
    header = f"{decoys},{SEED_SIGNATURE}"
    assert reason(
        lambda: verify("hmac", {"X-Webhook-Signature": header}, SEED_BODY, SEED_SECRET, NOW)
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "missing x-webhook-signature header"),
        ({"X-Webhook-Signature": ""}, "missing x-webhook-signature header"),
        ({"X-Webhook-Signature": SEED_SIGNATURE[:-2]}, "signature mismatch"),
        ({"X-Webhook-Signature": SEED_SIGNATURE + "00"}, "signature mismatch"),
        ({"X-Webhook-Signature": "sha1=" + SEED_SIGNATURE}, "signature mismatch"),
        ({"X-Webhook-Signature": "zz" * 32}, "signature mismatch"),
        (
            {"X-Webhook-Signature": base64.b64encode(bytes.fromhex(SEED_SIGNATURE)).decode()},
            "signature mismatch",
        ),
        # A signature over the parsed-and-reserialised JSON is not one over the raw bytes.
        (
            {"X-Webhook-Signature": hmac.new(SEED_SECRET.encode(), b"{}", "sha256").hexdigest()},
            "signature mismatch",
        ),
    ],
)
def test_hmac_refuses(headers: dict[str, str], expected: str) -> None:
    assert reason(lambda: verify("hmac", headers, SEED_BODY, SEED_SECRET, NOW)) == expected


def _seed_headers(**timestamp: str) -> dict[str, str]:
    return {"X-Webhook-Signature": SEED_SIGNATURE, **timestamp}


@pytest.mark.parametrize(
    "timestamp",
    [
        {"X-Webhook-Timestamp": str(NOW_S)},
        {"X-Webhook-Timestamp": str(NOW_S - 300)},  # just inside, old
        {"X-Webhook-Timestamp": str(NOW_S + 300)},  # just inside, future
        {"X-Webhook-Timestamp": f"{NOW_S}.250"},
        {"X-Timestamp": str(NOW_S * 1000)},
        {"X-Timestamp": str((NOW_S - 300) * 1000)},
        {"X-Timestamp": str((NOW_S + 300) * 1000)},
    ],
)
def test_hmac_timestamp_inside_the_window(timestamp: dict[str, str]) -> None:
    verify("hmac", _seed_headers(**timestamp), SEED_BODY, SEED_SECRET, NOW, REPLAY)
    verify("hmac", _seed_headers(**timestamp), SEED_BODY, SEED_SECRET, NOW)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ({"X-Webhook-Timestamp": str(NOW_S - 301)}, "timestamp too old (301 s)"),
        ({"X-Webhook-Timestamp": str(NOW_S + 301)}, "timestamp in the future (301 s)"),
        ({"X-Timestamp": str((NOW_S - 300) * 1000 - 1)}, "timestamp too old (300 s)"),
        ({"X-Timestamp": str((NOW_S + 300) * 1000 + 1)}, "timestamp in the future (300 s)"),
        # Seconds where milliseconds are expected: decades old.
        ({"X-Timestamp": str(NOW_S)}, "timestamp too old"),
        # Milliseconds where seconds are expected: far in the future.
        ({"X-Webhook-Timestamp": str(NOW_S * 1000)}, "timestamp in the future"),
    ],
)
def test_hmac_timestamp_outside_the_window(timestamp: dict[str, str], expected: str) -> None:
    # Checked whenever present, whether replay protection is on or not.
    for options in (REPLAY, VerifyOptions()):
        why = reason(
            lambda o=options: verify(
                "hmac", _seed_headers(**timestamp), SEED_BODY, SEED_SECRET, NOW, o
            )
        )
        assert why.startswith(expected)


@pytest.mark.parametrize(
    "value", ["nan", "inf", "-1", "1e9", "0x10", "", " ", "12 34", "1.", "\u0661\u0662"]
)
def test_hmac_refuses_a_malformed_timestamp(value: str) -> None:
    headers = _seed_headers(**{"X-Webhook-Timestamp": value})
    if value.strip():
        assert (
            reason(lambda: verify("hmac", headers, SEED_BODY, SEED_SECRET, NOW))
            == "malformed x-webhook-timestamp header"
        )
    else:
        # A blank header is an absent one.
        assert (
            reason(lambda: verify("hmac", headers, SEED_BODY, SEED_SECRET, NOW, REPLAY))
            == "missing timestamp header"
        )


def test_hmac_requires_a_timestamp_only_when_replay_protection_is_on() -> None:
    verify("hmac", _seed_headers(), SEED_BODY, SEED_SECRET, NOW)
    assert (
        reason(lambda: verify("hmac", _seed_headers(), SEED_BODY, SEED_SECRET, NOW, REPLAY))
        == "missing timestamp header"
    )


def test_hmac_prefers_seconds_when_both_timestamps_are_sent() -> None:
    headers = _seed_headers(**{"X-Webhook-Timestamp": str(NOW_S), "X-Timestamp": "1"})
    verify("hmac", headers, SEED_BODY, SEED_SECRET, NOW, REPLAY)


def test_hmac_does_not_sign_the_timestamp() -> None:
    # As seed 002 signs: the body alone. The same signature with any in-window timestamp
    # verifies, which is why replays are refused by delivery id, not by the signature.
    for offset_s in (-200, 0, 200):
        headers = _seed_headers(**{"X-Webhook-Timestamp": str(NOW_S + offset_s)})
        verify("hmac", headers, SEED_BODY, SEED_SECRET, NOW, REPLAY)


# ---- github ----------------------------------------------------------------------------------

# "Validating webhook deliveries", testing the webhook payload validation:
# https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_example() -> None:
    verify("github", {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY, GITHUB_SECRET, NOW)
    assert sign("github", GITHUB_BODY, GITHUB_SECRET, NOW) == {
        "X-Hub-Signature-256": GITHUB_SIGNATURE
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "missing x-hub-signature-256 header"),
        # The legacy SHA-1 header alone is not accepted.
        ({"X-Hub-Signature": "sha1=" + "0" * 40}, "missing x-hub-signature-256 header"),
        (
            {"X-Hub-Signature-256": GITHUB_SIGNATURE.removeprefix("sha256=")},
            "malformed x-hub-signature-256 header",
        ),
        ({"X-Hub-Signature-256": GITHUB_SIGNATURE[:-1]}, "malformed x-hub-signature-256 header"),
        ({"X-Hub-Signature-256": GITHUB_SIGNATURE + "0"}, "malformed x-hub-signature-256 header"),
        ({"X-Hub-Signature-256": "sha256=" + "g" * 64}, "malformed x-hub-signature-256 header"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, "signature mismatch"),
    ],
)
def test_github_refuses(headers: dict[str, str], expected: str) -> None:
    assert reason(lambda: verify("github", headers, GITHUB_BODY, GITHUB_SECRET, NOW)) == expected


def test_github_tampered_body_and_wrong_secret() -> None:
    headers = {"X-Hub-Signature-256": GITHUB_SIGNATURE}
    assert (
        reason(lambda: verify("github", headers, b"Hello, World?", GITHUB_SECRET, NOW))
        == "signature mismatch"
    )
    assert (
        reason(lambda: verify("github", headers, GITHUB_BODY, "It's a secret to everybody", NOW))
        == "signature mismatch"
    )


# ---- shopify ---------------------------------------------------------------------------------

# Shopify documents the scheme (base64 HMAC-SHA256 of the raw body, keyed with the app's client
# secret: https://shopify.dev/docs/apps/build/webhooks/subscribe/https) but publishes no vector
# and no Python verifier. This one was made apart from hookhub with
#   echo -n '<body>' | openssl dgst -sha256 -hmac 'shpss_example' -binary | base64
SHOPIFY_SECRET = "shpss_example"
SHOPIFY_BODY = b'{"id":1,"email":"jon@example.com"}'
SHOPIFY_SIGNATURE = "T7t42/8WxYTRREZ/7WKOQw92R1IYDEQZf/DOb1BSkys="


def test_shopify_vector() -> None:
    verify(
        "shopify", {"X-Shopify-Hmac-Sha256": SHOPIFY_SIGNATURE}, SHOPIFY_BODY, SHOPIFY_SECRET, NOW
    )
    assert sign("shopify", SHOPIFY_BODY, SHOPIFY_SECRET, NOW) == {
        "X-Shopify-Hmac-Sha256": SHOPIFY_SIGNATURE
    }


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        (None, "missing x-shopify-hmac-sha256 header"),
        (SHOPIFY_SIGNATURE.rstrip("="), "malformed x-shopify-hmac-sha256 header"),
        (base64.urlsafe_b64encode(b"\xff" * 32).decode(), "malformed x-shopify-hmac-sha256 header"),
        (base64.b64decode(SHOPIFY_SIGNATURE).hex(), "malformed x-shopify-hmac-sha256 header"),
        (base64.b64encode(b"\x00" * 31).decode(), "malformed x-shopify-hmac-sha256 header"),
        (base64.b64encode(b"\x00" * 32).decode(), "signature mismatch"),
    ],
)
def test_shopify_refuses(signature: str | None, expected: str) -> None:
    headers = {} if signature is None else {"X-Shopify-Hmac-Sha256": signature}
    assert reason(lambda: verify("shopify", headers, SHOPIFY_BODY, SHOPIFY_SECRET, NOW)) == expected


def test_shopify_tampered_body_and_wrong_secret() -> None:
    headers = {"X-Shopify-Hmac-Sha256": SHOPIFY_SIGNATURE}
    assert (
        reason(lambda: verify("shopify", headers, SHOPIFY_BODY + b" ", SHOPIFY_SECRET, NOW))
        == "signature mismatch"
    )
    assert (
        reason(lambda: verify("shopify", headers, SHOPIFY_BODY, SECRET, NOW))
        == "signature mismatch"
    )


# ---- viber -----------------------------------------------------------------------------------

# Viber's callbacks carry X-Viber-Content-Signature, the hex HMAC-SHA256 of the body keyed with
# the bot's auth token (https://developers.viber.com/docs/api/rest-bot-api/#callbacks); the
# official viberbot library computes and checks it.
VIBER_TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
VIBER_BODY = b'{"event":"webhook","timestamp":1457764197627,"message_token":241256543215}'


def _viber() -> ViberApi:
    return ViberApi(BotConfiguration(auth_token=VIBER_TOKEN, name="hookhub", avatar=""))


def test_viber_accepts_what_the_viber_library_signs() -> None:
    signature = _viber()._calculate_message_signature(VIBER_BODY)
    verify("viber", {"X-Viber-Content-Signature": signature}, VIBER_BODY, VIBER_TOKEN, NOW)


def test_the_viber_library_accepts_what_hookhub_signs() -> None:
    headers = sign("viber", VIBER_BODY, VIBER_TOKEN, NOW)
    assert _viber().verify_signature(VIBER_BODY, headers["X-Viber-Content-Signature"])


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        (None, "missing x-viber-content-signature header"),
        ("sha256=" + "0" * 64, "malformed x-viber-content-signature header"),
        ("0" * 63, "malformed x-viber-content-signature header"),
        ("0" * 64, "signature mismatch"),
    ],
)
def test_viber_refuses(signature: str | None, expected: str) -> None:
    headers = {} if signature is None else {"X-Viber-Content-Signature": signature}
    assert reason(lambda: verify("viber", headers, VIBER_BODY, VIBER_TOKEN, NOW)) == expected


def test_viber_tampered_body_and_wrong_token() -> None:
    headers = sign("viber", VIBER_BODY, VIBER_TOKEN, NOW)
    assert (
        reason(lambda: verify("viber", headers, VIBER_BODY[:-1], VIBER_TOKEN, NOW))
        == "signature mismatch"
    )
    assert (
        reason(lambda: verify("viber", headers, VIBER_BODY, VIBER_TOKEN[:-1], NOW))
        == "signature mismatch"
    )


@pytest.mark.parametrize("scheme", ["github", "shopify", "viber"])
def test_schemes_without_a_timestamp_ignore_the_clock(scheme: str) -> None:
    # Nothing they sign says when: a request from a year ago verifies (dedupe refuses a replay).
    headers = sign(scheme, BODY, SECRET, NOW - timedelta(days=365))
    verify(scheme, headers, BODY, SECRET, NOW, REPLAY)
