"""What every verification scheme shares: the error, the options, and strict parsing helpers.

The helpers parse attacker-controlled header values strictly (fixed lengths, fixed alphabets)
and return ``None`` or raise :class:`VerificationError` on anything else, so a scheme never
crashes on a malformed header and never compares a digest other than with
:func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hookhub.errors import HookhubError

#: What a caller is told whatever the cause (seed 002): the precise reason would help an attacker.
PUBLIC_MESSAGE = "Security validation failed"
#: Seed 002's replay window, both ways; also the window Stripe, Slack and Standard Webhooks use.
DEFAULT_TOLERANCE_S = 300.0
#: At most this many signatures are tried from one header (rotation sends two or three); more
#: would only let one request buy an attacker many guesses' worth of HMAC work.
MAX_SIGNATURES = 8
SHA256_BYTES = 32
#: Unix seconds or milliseconds as ASCII digits (``\d`` would take any script's digits, which
#: ``float()`` reads too); 15 digits reach past the year 30000 in milliseconds.
_EPOCH = re.compile(r"[0-9]{1,15}")
_EPOCH_WITH_FRACTION = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")
_HEX = re.compile(r"[0-9a-fA-F]+")


class VerificationError(HookhubError):
    """A request failed verification. ``reason`` is for operators, never for the caller.

    No reason contains the secret or a presented credential: they name the header and the
    check that failed.
    """

    status_code = 401

    def __init__(self, reason: str) -> None:
        super().__init__(PUBLIC_MESSAGE)
        self.reason = reason


@dataclass(frozen=True)
class VerifyOptions:
    """Per-endpoint options every scheme may read."""

    #: How far a signed timestamp may be from ``now``, either way.
    tolerance_s: float = DEFAULT_TOLERANCE_S
    #: ``hmac`` only (the one scheme whose timestamp is optional): a timestamp header is
    #: required. Without it a timestamp that is present is still checked.
    require_timestamp: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tolerance_s) and self.tolerance_s > 0):
            raise ValueError("tolerance_s must be a positive number of seconds")


Headers = Mapping[str, str]
#: ``(lower-cased headers, raw body, secret, now, options) -> None``; raises VerificationError.
Verifier = Callable[[Headers, bytes, str, datetime, VerifyOptions], None]
#: ``(raw body, secret, now, message id or None) -> headers a sender attaches``.
Signer = Callable[[bytes, str, datetime, str | None], dict[str, str]]


def require_secret(secret: str) -> None:
    """Fail closed on an empty secret: an empty HMAC key or token would let anyone in."""
    if not secret:
        raise VerificationError("no secret is configured for this scheme")


def require_header(headers: Headers, name: str) -> str:
    """The header's value, stripped; VerificationError if it is absent or blank."""
    value = headers.get(name, "").strip()
    if not value:
        raise VerificationError(f"missing {name} header")
    return value


def check_timestamp(timestamp_s: float, now: datetime, tolerance_s: float) -> None:
    """Refuse a timestamp outside ``now ± tolerance_s`` (old: replayed; future: forged)."""
    skew_s = now.timestamp() - timestamp_s
    if skew_s > tolerance_s:
        raise VerificationError(f"timestamp too old ({skew_s:.0f} s)")
    if skew_s < -tolerance_s:
        raise VerificationError(f"timestamp in the future ({-skew_s:.0f} s)")


def parse_epoch(raw: str, name: str, *, fraction: bool = False) -> float:
    """Decimal digits (optionally ``.digits``) as a number; VerificationError otherwise.

    Strict on purpose: ``float()`` would take ``nan``, which compares false with every bound
    and so would pass any window check.
    """
    pattern = _EPOCH_WITH_FRACTION if fraction else _EPOCH
    if not pattern.fullmatch(raw):
        raise VerificationError(f"malformed {name} header")
    return float(raw)


def decode_hex(value: str, size: int) -> bytes | None:
    """``size`` bytes from hex of either case, or ``None`` (``bytes.fromhex`` takes spaces)."""
    if len(value) != 2 * size or not _HEX.fullmatch(value):
        return None
    return bytes.fromhex(value)


def decode_base64(value: str, size: int) -> bytes | None:
    """``size`` bytes from standard base64, or ``None``."""
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == size else None


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def matches_any(expected: bytes, candidates: Iterable[bytes | None]) -> bool:
    """Whether any candidate equals ``expected``, each compared in constant time.

    Every candidate (up to :data:`MAX_SIGNATURES`) is compared even after a match, so the time
    taken does not tell which position matched.
    """
    matched = False
    for count, candidate in enumerate(candidates, start=1):
        if count > MAX_SIGNATURES:
            break
        if candidate is not None and hmac.compare_digest(candidate, expected):
            matched = True
    return matched
