"""Connection tokens: minted and verified with an injected clock; what a grant allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from hookhub.realtime import auth
from hookhub.realtime.auth import ADMIN_GRANT, Grant, InvalidToken

SECRET = "s" * 40
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def test_a_minted_token_grants_its_user_and_patterns() -> None:
    token, expires = auth.mint(SECRET, user="u1", channels=["shop:*"], now=NOW, ttl_s=60)
    assert expires == NOW + timedelta(seconds=60)
    grant = auth.verify(SECRET, token, now=NOW)
    assert grant == Grant(user="u1", patterns=("shop:*",))
    assert grant.allows("shop:42")
    assert grant.allows("user:u1")  # its own user channel, always
    assert not grant.allows("user:u2")
    assert not grant.allows("broadcast")
    assert auth.looks_like_jwt(token)


def test_admin_grant_allows_everything() -> None:
    assert ADMIN_GRANT.allows("user:anyone")
    assert ADMIN_GRANT.admin


def test_expiry_uses_the_given_clock_with_leeway() -> None:
    token, _ = auth.mint(SECRET, user=None, channels=[], now=NOW, ttl_s=60)
    auth.verify(SECRET, token, now=NOW + timedelta(seconds=60 + auth.LEEWAY_S))
    with pytest.raises(InvalidToken, match="expired"):
        auth.verify(SECRET, token, now=NOW + timedelta(seconds=61 + auth.LEEWAY_S))


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        auth.mint("x" * 40, user="u", channels=[], now=NOW)[0],  # another secret
        jwt.encode({"sub": "u"}, SECRET, algorithm="HS256"),  # no exp
        jwt.encode({"exp": 9e12, "sub": 5}, SECRET, algorithm="HS256"),
        jwt.encode({"exp": 9e12, "channels": "shop:*"}, SECRET, algorithm="HS256"),
        jwt.encode({"exp": 9e12, "channels": ["a b"]}, SECRET, algorithm="HS256"),
        jwt.encode({"exp": 9e12}, SECRET * 2, algorithm="HS512"),
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        auth.verify(SECRET, token, now=NOW)


def test_the_none_algorithm_is_refused() -> None:
    token = jwt.encode({"exp": 9e12, "channels": ["*"]}, None, algorithm="none")
    with pytest.raises(InvalidToken):
        auth.verify(SECRET, token, now=NOW)


@pytest.mark.parametrize(
    ("user", "channels"), [("a b", []), (None, ["bad pattern"]), (None, ["x"] * 65)]
)
def test_minting_refuses_bad_input(user: str | None, channels: list[str]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message names the field; any is fine)
        auth.mint(SECRET, user=user, channels=channels, now=NOW)
