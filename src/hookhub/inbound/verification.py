"""Verification of incoming requests: one pure function per scheme over raw bytes.

Every scheme is ``verify(headers, body, secret, now, options) -> None`` and raises
:class:`VerificationError` on any failure. Nothing here parses the body before its signature is
checked (an erxes receiver parsed JSON first and ended up signing an empty body), reads the clock
(``now`` is given), or compares secrets other than with :func:`hmac.compare_digest`.

The error's ``message`` is what a caller may see ("Security validation failed"); its ``reason``
is the precise cause, for the log and the request history only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hookhub.errors import HookhubError

#: What a caller is told whatever the cause (seed 002): the precise reason would help an attacker.
PUBLIC_MESSAGE = "Security validation failed"
#: Seed 002's replay window, both ways.
DEFAULT_TOLERANCE_S = 300.0
HMAC_SIGNATURE_HEADER = "x-webhook-signature"
HMAC_TIMESTAMP_S_HEADER = "x-webhook-timestamp"
HMAC_TIMESTAMP_MS_HEADER = "x-timestamp"
SHA256_PREFIX = "sha256="
BEARER_PREFIX = "bearer "


class VerificationError(HookhubError):
    """A request failed verification. ``reason`` is for operators, never for the caller."""

    status_code = 401

    def __init__(self, reason: str) -> None:
        super().__init__(PUBLIC_MESSAGE)
        self.reason = reason


@dataclass(frozen=True)
class VerifyOptions:
    """Per-endpoint options every scheme may read."""

    tolerance_s: float = DEFAULT_TOLERANCE_S
    #: A timestamp header is required (replay protection); without it a present one is checked.
    require_timestamp: bool = False


Headers = Mapping[str, str]
Verifier = Callable[[Headers, bytes, str, datetime, VerifyOptions], None]


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, so schemes look them up one way whatever the caller passed."""
    return {name.lower(): value for name, value in headers.items()}


def verify_bearer(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    value = headers.get("authorization", "")
    if value[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
        raise VerificationError("missing bearer token")
    presented = value[len(BEARER_PREFIX) :].strip()
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        raise VerificationError("wrong bearer token")


def check_timestamp(timestamp_s: float, now: datetime, tolerance_s: float) -> None:
    """Refuse a timestamp outside ``now ± tolerance_s`` (old: replayed; future: forged)."""
    skew_s = now.timestamp() - timestamp_s
    if skew_s > tolerance_s:
        raise VerificationError(f"timestamp too old ({skew_s:.0f} s)")
    if skew_s < -tolerance_s:
        raise VerificationError(f"timestamp in the future ({-skew_s:.0f} s)")


def _hmac_timestamp(headers: Headers, options: VerifyOptions, now: datetime) -> None:
    seconds = headers.get(HMAC_TIMESTAMP_S_HEADER)
    millis = headers.get(HMAC_TIMESTAMP_MS_HEADER)
    if seconds is None and millis is None:
        if options.require_timestamp:
            raise VerificationError("missing timestamp header")
        return
    raw, scale = (seconds, 1.0) if seconds is not None else (millis, 1000.0)
    try:
        value = float(raw or "")
    except ValueError:
        raise VerificationError("malformed timestamp header") from None
    check_timestamp(value / scale, now, options.tolerance_s)


def verify_hmac(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """Seed 002: ``X-Webhook-Signature``, hex HMAC-SHA256 of the raw body (``sha256=`` optional)."""
    presented = headers.get(HMAC_SIGNATURE_HEADER)
    if not presented:
        raise VerificationError("missing X-Webhook-Signature")
    _hmac_timestamp(headers, options, now)
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    candidate = presented.strip().removeprefix(SHA256_PREFIX).lower()
    if not hmac.compare_digest(candidate.encode(), expected.encode()):
        raise VerificationError("signature mismatch")


SCHEMES: dict[str, Verifier] = {
    "bearer": verify_bearer,
    "hmac": verify_hmac,
}


def verify(
    scheme: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now: datetime,
    options: VerifyOptions | None = None,
) -> None:
    """Run ``scheme`` over the request; raise :class:`VerificationError` unless it passes."""
    verifier = SCHEMES.get(scheme)
    if verifier is None:
        raise VerificationError(f"unknown verification scheme {scheme!r}")
    verifier(lower_headers(headers), body, secret, now, options or VerifyOptions())
