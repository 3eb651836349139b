"""Decoding a /xc body by its content type (pure)."""

from __future__ import annotations

import json

import pytest

from hookhub.errors import SignalParseError, UnsupportedMediaTypeError
from hookhub.signals.body import check_body, media_type

from .test_parser import CODE, EXCHANGES, GOOD, SEED_EXAMPLE


def signal_of(body: bytes, content_type: str | None):  # type: ignore[no-untyped-def]
    return check_body(body, content_type, exchanges=EXCHANGES).result()


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "text/plain; charset=utf-8",
        "TEXT/PLAIN; Charset=UTF-8",
        'text/plain; charset="utf-8"',
        "text/plain;charset=us-ascii",
    ],
)
def test_text_bodies(content_type: str | None) -> None:
    assert signal_of(SEED_EXAMPLE.encode(), content_type).code == CODE


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "text/html",
        "application/octet-stream",
        "text/plain; charset=latin-1",
        "application/json; charset=utf-16",
        "text/plainx",
    ],
)
def test_other_types_and_charsets_are_refused(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as raised:
        media_type(content_type)
    assert raised.value.status_code == 415


def test_a_json_string_holds_the_connection_string() -> None:
    body = json.dumps(SEED_EXAMPLE).encode()
    assert signal_of(body, "application/json").code == CODE


def test_a_json_object_of_strings_holds_the_fields() -> None:
    signal = signal_of(json.dumps(GOOD).encode(), "application/json; charset=utf-8")
    assert (signal.code, signal.command, str(signal.amount)) == (CODE, "sell", "0.05")


def errors_of(body: bytes, content_type: str | None) -> list[dict[str, str]]:
    with pytest.raises(SignalParseError) as raised:
        signal_of(body, content_type)
    assert raised.value.errors is not None
    return raised.value.errors


def test_a_json_number_is_refused_and_not_also_missing() -> None:
    body = json.dumps({**GOOD, "amount": 0.05, "demo": True}).encode()
    assert errors_of(body, "application/json") == [
        {"path": "amount", "message": "must be a string"},
        {"path": "demo", "message": "must be a string"},
    ]


def test_duplicate_keys_in_a_json_object_are_errors() -> None:
    body = json.dumps(GOOD)[:-1].encode() + b', "command": "buy"}'
    assert errors_of(body, "application/json") == [
        {"path": "command", "message": "given more than once"}
    ]


def test_unknown_keys_in_a_json_object_are_errors() -> None:
    body = json.dumps({**GOOD, "leverage": "10"}).encode()
    assert [error["path"] for error in errors_of(body, "application/json")] == ["leverage"]


@pytest.mark.parametrize(
    "body",
    [b"{oops", b"[1, 2]", b"[]", b"42", b"null", b"true", b'{"amount": NaN}', b"Infinity", b""],
)
def test_other_json_is_a_body_error(body: bytes) -> None:
    assert [error["path"] for error in errors_of(body, "application/json")] == ["body"]


def test_deep_json_is_a_body_error_not_a_crash() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    assert [error["path"] for error in errors_of(body, "application/json")] == ["body"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json"])
def test_a_body_that_is_not_utf8_is_a_body_error(content_type: str | None) -> None:
    body = SEED_EXAMPLE.encode("utf-16")
    assert errors_of(body, content_type) == [{"path": "body", "message": "must be UTF-8 text"}]
