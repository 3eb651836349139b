import io
import logging

import pytest
import structlog

from hookhub.logging import configure_logging

SECRET = "hh_super-secret-token-value-0123456789"


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_exception_logs_never_show_local_variables(log_format: str) -> None:
    configure_logging("info", log_format)  # type: ignore[arg-type]
    buffer = io.StringIO()
    root = logging.getLogger()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    try:

        def handler(authorization: str) -> None:
            raise RuntimeError("boom")

        try:
            handler(authorization=f"Bearer {SECRET}")
        except RuntimeError:
            structlog.get_logger("test").exception("failed")
        text = buffer.getvalue()
        assert "boom" in text
        assert SECRET not in text
    finally:
        root.handlers.clear()
        structlog.reset_defaults()


def test_http_client_request_lines_never_reach_the_log() -> None:
    # httpx2 logs "HTTP Request: POST <full URL>" at INFO; a webhook URL may hold a token.
    configure_logging("info", "json")
    buffer = io.StringIO()
    root = logging.getLogger()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    try:
        logging.getLogger("httpx2").info("HTTP Request: POST https://example.com/hook/%s", SECRET)
        logging.getLogger("httpx2").warning("a client warning")
        text = buffer.getvalue()
        assert SECRET not in text
        assert "a client warning" in text
    finally:
        root.handlers.clear()
        structlog.reset_defaults()


def test_lines_below_the_level_are_dropped_and_a_level_set_later_applies() -> None:
    # Loggers are cached on first use; the level they obey is the one in force at each call,
    # so a process that logs quietly first (a one-shot command) and then at info still logs.
    log = structlog.get_logger("test.levels")
    configure_logging("warning", "json")
    buffer = io.StringIO()
    root = logging.getLogger()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    try:
        log.info("quiet.info")
        log.warning("quiet.warning")
        configure_logging("info", "json")
        root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
        log.info("loud.info")
        lines = buffer.getvalue()
        assert "quiet.info" not in lines
        assert "quiet.warning" in lines
        assert "loud.info" in lines
    finally:
        root.handlers.clear()
        structlog.reset_defaults()
