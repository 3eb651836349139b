"""What every ``hookhub`` command shares: consoles, settings loading, and running services."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from hookhub.config import Settings, load_settings
from hookhub.errors import HookhubError
from hookhub.logging import configure_logging
from hookhub.services import Services

CLI_ACTOR = "cli"
CLI_SOURCE = "cli"
#: Exit status for configuration and operational errors (Typer uses 2 for usage errors too).
EXIT_ERROR = 1

#: Listings piped to a file or another program are not cut to 80 columns.
PIPED_WIDTH = 200
T = TypeVar("T")
out = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(stderr=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)


def load(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except HookhubError as exc:
        raise fail(exc.message) from None


def quiet_logging(settings: Settings) -> None:
    # One-shot commands print their result; their logs only matter when something is wrong.
    level = settings.log_level if settings.log_level in ("warning", "error") else "warning"
    configure_logging(level, "console")


def run(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Start the services, run ``work`` on them, stop them; errors become one red line."""

    async def go() -> T:
        services = Services.build(settings)
        try:
            await services.start(dispatch=False)
            return await work(services)
        finally:
            await services.stop()

    quiet_logging(settings)
    try:
        return asyncio.run(go())
    except HookhubError as exc:
        raise fail(exc.message) from None


def fail(message: str) -> typer.Exit:
    """Print one red line; raise the returned exit from the command."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(EXIT_ERROR)


def invalid(exc: ValidationError) -> typer.Exit:
    """One red line listing each invalid field as ``path: problem``."""
    return fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
