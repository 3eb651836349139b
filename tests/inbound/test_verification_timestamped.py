"""``stripe``, ``slack`` and ``standard-webhooks``: a signed timestamp, so a bounded window."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks
import stripe
import svix.webhooks
from slack_sdk.signature import Clock, SignatureVerifier

from hookhub.inbound.verification import VerifyOptions, sign, verify
from tests.inbound.test_verification import BODY, NOW, reason

NOW_S = int(NOW.timestamp())
#: The schemes whose timestamp is signed and always required.
TIMESTAMPED = ["stripe", "slack", "standard-webhooks"]


@pytest.mark.parametrize("scheme", TIMESTAMPED)
@pytest.mark.parametrize("offset_s", [-300, -299, 0, 299, 300])
def test_inside_the_window_both_ways(scheme: str, offset_s: int) -> None:
    headers = sign(scheme, BODY, "whsec_c2VjcmV0LWtleQ==", NOW + timedelta(seconds=offset_s))
    verify(scheme, headers, BODY, "whsec_c2VjcmV0LWtleQ==", NOW)


@pytest.mark.parametrize("scheme", TIMESTAMPED)
@pytest.mark.parametrize(
    ("offset_s", "expected"),
    [
        (-301, "timestamp too old (301 s)"),
        (-86_400, "timestamp too old (86400 s)"),
        (301, "timestamp in the future (301 s)"),
        (86_400, "timestamp in the future (86400 s)"),
    ],
)
def test_outside_the_window_both_ways(scheme: str, offset_s: int, expected: str) -> None:
    secret = "whsec_c2VjcmV0LWtleQ=="
    headers = sign(scheme, BODY, secret, NOW + timedelta(seconds=offset_s))
    assert reason(lambda: verify(scheme, headers, BODY, secret, NOW)) == expected


# ---- stripe ----------------------------------------------------------------------------------

# https://docs.stripe.com/webhooks#verify-manually: Stripe-Signature carries t= and one v1= per
# live secret, over "{t}.{body}", keyed with the whole whsec_ string. Stripe's own library
# (stripe.WebhookSignature) makes and checks the headers below.
STRIPE_SECRET = "whsec_test_6b3f1ce4bd4d7c5e0b62f7d1"


def _stripe_header(secret: str, at_s: int, body: bytes = BODY) -> str:
    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=at_s)


def test_stripe_accepts_what_the_stripe_library_signs() -> None:
    header = _stripe_header(STRIPE_SECRET, NOW_S)
    verify("stripe", {"Stripe-Signature": header}, BODY, STRIPE_SECRET, NOW)


def test_the_stripe_library_accepts_what_hookhub_signs() -> None:
    header = sign("stripe", BODY, STRIPE_SECRET, NOW)["Stripe-Signature"]
    # No tolerance: the library would compare with its own clock, not the injected one.
    assert stripe.WebhookSignature.verify_header(
        BODY.decode(), header, STRIPE_SECRET, tolerance=None
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            BODY.decode(), header, STRIPE_SECRET + "x", tolerance=None
        )


def test_stripe_accepts_any_v1_while_a_secret_is_rolled_and_ignores_v0() -> None:
    mine = _stripe_header(STRIPE_SECRET, NOW_S).split(",")[1]
    old = _stripe_header("whsec_old", NOW_S).split(",")[1]
    v0 = "v0=" + "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
    for header in (
        f"t={NOW_S},{old},{mine}",
        f"t={NOW_S},{mine},{old},{v0}",
        f"t={NOW_S}, {v0}, {mine}",
    ):
        verify("stripe", {"Stripe-Signature": header}, BODY, STRIPE_SECRET, NOW)
    assert (
        reason(
            lambda: verify(
                "stripe", {"Stripe-Signature": f"t={NOW_S},{old}"}, BODY, STRIPE_SECRET, NOW
            )
        )
        == "signature mismatch"
    )


def test_stripe_uses_the_whsec_string_itself_as_the_key() -> None:
    signed = f"{NOW_S}.".encode() + BODY
    digest = hmac.new(STRIPE_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    verify("stripe", {"Stripe-Signature": f"t={NOW_S},v1={digest}"}, BODY, STRIPE_SECRET, NOW)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "missing stripe-signature header"),
        ("", "missing stripe-signature header"),
        ("v1=" + "0" * 64, "no timestamp in stripe-signature"),
        (f"t={NOW_S}", "no v1 signature in stripe-signature"),
        (f"t={NOW_S},v0=" + "0" * 64, "no v1 signature in stripe-signature"),
        ("t=yesterday,v1=" + "0" * 64, "malformed stripe-signature t= header"),
        (f"t={NOW_S}.5,v1=" + "0" * 64, "malformed stripe-signature t= header"),
        (f"t={NOW_S},v1=nothex", "signature mismatch"),
        (f"t={NOW_S},v1=" + "0" * 64, "signature mismatch"),
        ("garbage", "no timestamp in stripe-signature"),
        (",,,=,=", "no timestamp in stripe-signature"),
    ],
)
def test_stripe_refuses(header: str | None, expected: str) -> None:
    headers = {} if header is None else {"Stripe-Signature": header}
    assert reason(lambda: verify("stripe", headers, BODY, STRIPE_SECRET, NOW)) == expected


def test_stripe_signs_the_timestamp() -> None:
    header = _stripe_header(STRIPE_SECRET, NOW_S)
    moved = header.replace(f"t={NOW_S}", f"t={NOW_S + 1}")
    assert (
        reason(lambda: verify("stripe", {"Stripe-Signature": moved}, BODY, STRIPE_SECRET, NOW))
        == "signature mismatch"
    )
    assert (
        reason(
            lambda: verify("stripe", {"Stripe-Signature": header}, BODY + b" ", STRIPE_SECRET, NOW)
        )
        == "signature mismatch"
    )


# ---- slack -----------------------------------------------------------------------------------

# The worked example in "Verifying requests from Slack":
# https://docs.slack.dev/authentication/verifying-requests-from-slack
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = "1531420618"
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfm"
    b"ibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SLACK_SENT_AT = datetime.fromtimestamp(int(SLACK_TIMESTAMP), UTC)
SLACK_HEADERS = {"X-Slack-Request-Timestamp": SLACK_TIMESTAMP, "X-Slack-Signature": SLACK_SIGNATURE}


class _FixedClock(Clock):
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> float:
        return self.at.timestamp()


def test_slack_documented_example() -> None:
    verify("slack", SLACK_HEADERS, SLACK_BODY, SLACK_SECRET, SLACK_SENT_AT + timedelta(seconds=5))
    assert sign("slack", SLACK_BODY, SLACK_SECRET, SLACK_SENT_AT) == SLACK_HEADERS


def test_slack_documented_example_replayed_later_fails() -> None:
    late = SLACK_SENT_AT + timedelta(seconds=301)
    assert (
        reason(lambda: verify("slack", SLACK_HEADERS, SLACK_BODY, SLACK_SECRET, late))
        == "timestamp too old (301 s)"
    )


def test_slack_agrees_with_slack_sdk_both_ways() -> None:
    verifier = SignatureVerifier(SLACK_SECRET, clock=_FixedClock(NOW))
    theirs = verifier.generate_signature(timestamp=str(NOW_S), body=BODY)
    assert theirs is not None
    verify(
        "slack",
        {"X-Slack-Request-Timestamp": str(NOW_S), "X-Slack-Signature": theirs},
        BODY,
        SLACK_SECRET,
        NOW,
    )
    assert verifier.is_valid_request(BODY, sign("slack", BODY, SLACK_SECRET, NOW))
    # Their window and ours agree at the edges.
    late = SignatureVerifier(SLACK_SECRET, clock=_FixedClock(NOW + timedelta(seconds=301)))
    assert not late.is_valid_request(BODY, sign("slack", BODY, SLACK_SECRET, NOW))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Slack-Request-Timestamp": SLACK_TIMESTAMP}, "missing x-slack-signature header"),
        ({"X-Slack-Signature": SLACK_SIGNATURE}, "missing x-slack-request-timestamp header"),
        (
            {**SLACK_HEADERS, "X-Slack-Request-Timestamp": "1531420618.0"},
            "malformed x-slack-request-timestamp header",
        ),
        (
            {**SLACK_HEADERS, "X-Slack-Signature": SLACK_SIGNATURE.removeprefix("v0=")},
            "malformed x-slack-signature header",
        ),
        (
            {**SLACK_HEADERS, "X-Slack-Signature": "v1=" + SLACK_SIGNATURE[3:]},
            "malformed x-slack-signature header",
        ),
        (
            {**SLACK_HEADERS, "X-Slack-Signature": SLACK_SIGNATURE[:-1]},
            "malformed x-slack-signature header",
        ),
        ({**SLACK_HEADERS, "X-Slack-Request-Timestamp": "1531420619"}, "signature mismatch"),
    ],
)
def test_slack_refuses(headers: dict[str, str], expected: str) -> None:
    assert (
        reason(lambda: verify("slack", headers, SLACK_BODY, SLACK_SECRET, SLACK_SENT_AT))
        == expected
    )


def test_slack_tampered_body_and_wrong_secret() -> None:
    body = SLACK_BODY.replace(b"foobar", b"foobaz")
    assert (
        reason(lambda: verify("slack", SLACK_HEADERS, body, SLACK_SECRET, SLACK_SENT_AT))
        == "signature mismatch"
    )
    assert (
        reason(
            lambda: verify("slack", SLACK_HEADERS, SLACK_BODY, SLACK_SECRET[::-1], SLACK_SENT_AT)
        )
        == "signature mismatch"
    )


# ---- standard-webhooks -----------------------------------------------------------------------

# The test vector of the Standard Webhooks reference libraries
# (github.com/standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py).
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STANDARD_TIMESTAMP = 1614265330
STANDARD_BODY = b'{"test": 2432232314}'
STANDARD_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
STANDARD_SENT_AT = datetime.fromtimestamp(STANDARD_TIMESTAMP, UTC)
STANDARD_HEADERS = {
    "webhook-id": STANDARD_ID,
    "webhook-timestamp": str(STANDARD_TIMESTAMP),
    "webhook-signature": STANDARD_SIGNATURE,
}


def test_standard_webhooks_reference_vector() -> None:
    verify("standard-webhooks", STANDARD_HEADERS, STANDARD_BODY, STANDARD_SECRET, STANDARD_SENT_AT)
    signed = sign(
        "standard-webhooks",
        STANDARD_BODY,
        STANDARD_SECRET,
        STANDARD_SENT_AT,
        message_id=STANDARD_ID,
    )
    assert signed == STANDARD_HEADERS


def test_standard_webhooks_accepts_svix_header_names() -> None:
    headers = {name.replace("webhook-", "svix-"): value for name, value in STANDARD_HEADERS.items()}
    verify("standard-webhooks", headers, STANDARD_BODY, STANDARD_SECRET, STANDARD_SENT_AT)


@pytest.mark.parametrize("library", ["standardwebhooks", "svix"])
def test_standard_webhooks_accepts_what_the_reference_libraries_sign(library: str) -> None:
    secret = "whsec_" + base64.b64encode(b"a key for this test only, 32 b.").decode()
    maker = (
        standardwebhooks.Webhook(secret)
        if library == "standardwebhooks"
        else svix.webhooks.Webhook(secret)
    )
    signature = maker.sign("msg_lib", NOW, BODY.decode())
    headers = {
        "webhook-id": "msg_lib",
        "webhook-timestamp": str(NOW_S),
        "webhook-signature": signature,
    }
    verify("standard-webhooks", headers, BODY, secret, NOW)


def test_the_reference_libraries_accept_what_hookhub_signs() -> None:
    secret = "whsec_" + base64.b64encode(b"another key, for this test only").decode()
    # The libraries read their own clock for the window, so this signs at the real time.
    headers = sign("standard-webhooks", BODY, secret, datetime.now(UTC), message_id="msg_ours")
    assert standardwebhooks.Webhook(secret).verify(BODY, headers) == {
        "title": "Login not working",
        "priority": 2,
    }
    svix.webhooks.Webhook(secret).verify(BODY, headers)  # raises unless it verifies


def test_standard_webhooks_accepts_any_v1_and_skips_other_versions() -> None:
    other = "v1," + base64.b64encode(b"\x00" * 32).decode()
    asymmetric = "v1a," + base64.b64encode(b"\x00" * 64).decode()
    for signature in (
        f"{other} {STANDARD_SIGNATURE}",
        f"{asymmetric} {STANDARD_SIGNATURE} {other}",
    ):
        headers = {**STANDARD_HEADERS, "webhook-signature": signature}
        verify("standard-webhooks", headers, STANDARD_BODY, STANDARD_SECRET, STANDARD_SENT_AT)


def test_a_raw_standard_webhooks_secret_is_its_utf8_bytes() -> None:
    # As for outgoing webhooks (hookhub.signing.standard_key): only whsec_ is base64.
    raw = "plain secret"
    signed = f"msg_1.{NOW_S}.".encode() + BODY
    signature = (
        "v1," + base64.b64encode(hmac.new(raw.encode(), signed, hashlib.sha256).digest()).decode()
    )
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW_S),
        "webhook-signature": signature,
    }
    verify("standard-webhooks", headers, BODY, raw, NOW)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"webhook-id": None}, "missing webhook-id header"),
        ({"webhook-timestamp": None}, "missing webhook-timestamp header"),
        ({"webhook-signature": None}, "missing webhook-signature header"),
        ({"webhook-timestamp": "hello"}, "malformed webhook-timestamp header"),
        (
            {"webhook-signature": STANDARD_SIGNATURE.replace(",", " ")},
            "no v1 signature in webhook-signature",
        ),
        (
            {"webhook-signature": "v2," + STANDARD_SIGNATURE[3:]},
            "no v1 signature in webhook-signature",
        ),
        ({"webhook-signature": "v1,not base64!"}, "signature mismatch"),
        ({"webhook-signature": STANDARD_SIGNATURE[:-2] + "A="}, "signature mismatch"),
        ({"webhook-id": "msg_other"}, "signature mismatch"),
        ({"webhook-timestamp": str(STANDARD_TIMESTAMP + 1)}, "signature mismatch"),
    ],
)
def test_standard_webhooks_refuses(change: dict[str, str | None], expected: str) -> None:
    headers = {k: v for k, v in {**STANDARD_HEADERS, **change}.items() if v is not None}
    assert (
        reason(
            lambda: verify(
                "standard-webhooks", headers, STANDARD_BODY, STANDARD_SECRET, STANDARD_SENT_AT
            )
        )
        == expected
    )


def test_standard_webhooks_tampered_body_wrong_secret_and_malformed_secret() -> None:
    at = STANDARD_SENT_AT
    assert (
        reason(
            lambda: verify(
                "standard-webhooks", STANDARD_HEADERS, STANDARD_BODY + b"\n", STANDARD_SECRET, at
            )
        )
        == "signature mismatch"
    )
    wrong = "whsec_" + base64.b64encode(b"\x01" * 24).decode()
    assert (
        reason(lambda: verify("standard-webhooks", STANDARD_HEADERS, STANDARD_BODY, wrong, at))
        == "signature mismatch"
    )
    for malformed in ("whsec_not*base64", "whsec_"):
        assert (
            reason(
                lambda m=malformed: verify(
                    "standard-webhooks", STANDARD_HEADERS, STANDARD_BODY, m, at
                )
            )
            == "malformed whsec_ secret"
        )


def test_the_window_is_checked_after_the_signature() -> None:
    # "too old" then also says the signature was right: a clock problem, not a forgery.
    late = STANDARD_SENT_AT + timedelta(seconds=301)
    assert reason(
        lambda: verify("standard-webhooks", STANDARD_HEADERS, STANDARD_BODY, STANDARD_SECRET, late)
    ).startswith("timestamp too old")
    forged = {
        **STANDARD_HEADERS,
        "webhook-signature": "v1," + base64.b64encode(b"\x00" * 32).decode(),
    }
    assert (
        reason(lambda: verify("standard-webhooks", forged, STANDARD_BODY, STANDARD_SECRET, late))
        == "signature mismatch"
    )
    options = VerifyOptions(tolerance_s=400)
    verify("standard-webhooks", STANDARD_HEADERS, STANDARD_BODY, STANDARD_SECRET, late, options)
