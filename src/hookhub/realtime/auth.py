"""Connection tokens: HS256 JWTs signed with ``HOOKHUB_TOKEN_SECRET``, and what a token grants.

Claims: ``sub`` (the user, optional), ``channels`` (glob patterns such as ``shop:*``), ``iat``
and ``exp`` (required). Pure: the caller passes ``now``; PyJWT checks only the signature, so
expiry is judged against the injected clock, not the wall clock.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from hookhub.realtime.protocol import user_channel, valid_user

ALGORITHM = "HS256"
DEFAULT_TOKEN_TTL_S = 24 * 3600
MAX_PATTERNS = 64
MAX_PATTERN_CHARS = 255
#: The channel alphabet plus the glob characters ``*`` and ``?``.
PATTERN_RE = re.compile(r"^[A-Za-z0-9_\-.:@/*?]+$")
#: Seconds of clock difference tolerated between the minting and the checking process.
LEEWAY_S = 30


class InvalidToken(Exception):
    """The token is malformed, wrongly signed, expired or grants nothing valid.

    Its message is for the log only; the client learns nothing beyond close code 4401.
    """


@dataclass(frozen=True, slots=True)
class Grant:
    """What a connection may do: who it is and which channels it may subscribe to."""

    user: str | None
    patterns: tuple[str, ...]
    #: The admin token and API tokens: every channel, and every published message (seed 004).
    admin: bool = False

    def allows(self, channel: str) -> bool:
        if self.admin:
            return True
        if self.user is not None and channel == user_channel(self.user):
            return True
        return any(fnmatch.fnmatchcase(channel, pattern) for pattern in self.patterns)


ADMIN_GRANT = Grant(user=None, patterns=("*",), admin=True)


def valid_pattern(pattern: str) -> bool:
    return 0 < len(pattern) <= MAX_PATTERN_CHARS and PATTERN_RE.match(pattern) is not None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def mint(
    secret: str,
    *,
    user: str | None,
    channels: list[str],
    now: datetime,
    ttl_s: float = DEFAULT_TOKEN_TTL_S,
) -> tuple[str, datetime]:
    """A signed connection token and the moment it expires.

    Raises ``ValueError`` naming the bad user or pattern.
    """
    if user is not None and not valid_user(user):
        raise ValueError(f"user {user!r} is not 1 to 128 characters of letters, digits, _-.@")
    if len(channels) > MAX_PATTERNS:
        raise ValueError(f"at most {MAX_PATTERNS} channel patterns")
    for pattern in channels:
        if not valid_pattern(pattern):
            raise ValueError(f"channel pattern {pattern!r} uses characters outside _-.:@/*?")
    expires = now + timedelta(seconds=ttl_s)
    claims: dict[str, object] = {
        "channels": channels,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    if user is not None:
        claims["sub"] = user
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


def verify(secret: str, token: str, *, now: datetime) -> Grant:
    """The grant in a valid token; :class:`InvalidToken` otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "require": ["exp"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
    exp = claims["exp"]
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise InvalidToken("exp is not a number")
    if now.timestamp() > exp + LEEWAY_S:
        raise InvalidToken("expired")
    user = claims.get("sub")
    if user is not None and (not isinstance(user, str) or not valid_user(user)):
        raise InvalidToken("sub is not a valid user id")
    channels = claims.get("channels", [])
    if not isinstance(channels, list) or len(channels) > MAX_PATTERNS:
        raise InvalidToken("channels is not a list of patterns")
    patterns = []
    for pattern in channels:
        if not isinstance(pattern, str) or not valid_pattern(pattern):
            raise InvalidToken("channels holds an invalid pattern")
        patterns.append(pattern)
    return Grant(user=user, patterns=tuple(patterns))
