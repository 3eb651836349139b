"""Fixtures for the HTTP shell: clients built on demand, an injected clock, error checks, logs.

Builds on ``tests/conftest.py`` (``make_settings``, ``admin_headers``, the databases).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
from fastapi.testclient import TestClient

from hookhub.app import create_app
from hookhub.clock import Clock, utc_now
from hookhub.config import Settings
from hookhub.logging import configure_logging

ErrorCheck = Callable[..., dict[str, Any]]


class SteppingClock:
    """A clock that moves forward on every read: known, distinct times for every row.

    Tests can then assert an event's ``occurred_at`` exactly and order audit entries by time,
    without depending on the wall clock's resolution.
    """

    def __init__(
        self,
        start: datetime = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        step: timedelta = timedelta(seconds=1),
    ) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """``make_client(clock=..., **settings)``: a started app's client, stopped at teardown."""
    with ExitStack() as stack:

        def build(*, clock: Clock = utc_now, **overrides: Any) -> TestClient:
            app = create_app(make_settings(**overrides), clock=clock)
            return stack.enter_context(TestClient(app))

        yield build


@pytest.fixture
def expect_error(admin_headers: dict[str, str]) -> ErrorCheck:
    """Check an error answer's contract and return its body.

    Every error is JSON ``{"success": false, "message": ...}`` carrying the request id of its
    ``X-Request-ID`` header, with no stack trace and never the admin token.
    """
    admin_token = admin_headers["Authorization"].removeprefix("Bearer ")

    def check(response: httpx.Response, status: int, message: str | None = None) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert "Traceback" not in response.text
        assert 'File "' not in response.text
        assert admin_token not in response.text
        body: dict[str, Any] = response.json()
        assert body["success"] is False
        assert isinstance(body["message"], str)
        assert body["message"]
        if message is not None:
            assert body["message"] == message
        assert body["request_id"] == response.headers["x-request-id"]
        assert set(body) <= {"success", "message", "errors", "request_id"}
        return body

    return check


@pytest.fixture
def json_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """hookhub's production log setup (JSON); yields a reader of the lines written since last read.

    The handler ``configure_logging`` installs is pointed at a buffer of this fixture's own:
    pytest swaps ``sys.stderr`` between a test's phases, so a handler made at setup would
    write to a closed stream. Logging and structlog are restored afterwards, and loggers are
    not cached meanwhile, so later tests that configure structlog their own way still work.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    access = logging.getLogger("uvicorn.access")
    saved_access_disabled = access.disabled
    configure_logging("info", "json")
    structlog.configure(cache_logger_on_first_use=False)
    buffer = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)

    def read() -> list[dict[str, Any]]:
        lines = buffer.getvalue().splitlines()
        buffer.seek(0)
        buffer.truncate()
        return [json.loads(line) for line in lines]

    try:
        yield read
    finally:
        structlog.reset_defaults()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        access.disabled = saved_access_disabled
