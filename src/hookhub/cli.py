"""The ``hookhub`` command: Typer commands over the same services the HTTP API uses."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from hookhub import __version__
from hookhub.clock import isoformat_z
from hookhub.config import Settings, load_settings
from hookhub.demo import load_or_create_admin_token
from hookhub.errors import HookhubError
from hookhub.logging import configure_logging
from hookhub.paging import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from hookhub.services import Services
from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade
from hookhub.store.url import masked, normalise_database_url

CLI_ACTOR = "cli"
CLI_SOURCE = "cli"
#: Exit status for configuration and operational errors (Typer uses 2 for usage errors too).
EXIT_ERROR = 1

app = typer.Typer(
    help="hookhub: webhook and WebSocket gateway for chat bots.", no_args_is_help=True
)
config_app = typer.Typer(help="Inspect the settings.", no_args_is_help=True)
token_app = typer.Typer(help="Admin API tokens.", no_args_is_help=True)
events_app = typer.Typer(help="Events.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(token_app, name="token")
app.add_typer(events_app, name="events")

#: Listings piped to a file or another program are not cut to 80 columns.
PIPED_WIDTH = 200
out = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(stderr=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)
T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except HookhubError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None


def _quiet_logging(settings: Settings) -> None:
    # One-shot commands print their result; their logs only matter when something is wrong.
    level = settings.log_level if settings.log_level in ("warning", "error") else "warning"
    configure_logging(level, "console")


def _run(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Start the services, run ``work`` on them, stop them; errors become one red line."""

    async def go() -> T:
        services = Services.build(settings)
        try:
            await services.start(dispatch=False)
            return await work(services)
        finally:
            await services.stop()

    _quiet_logging(settings)
    try:
        return asyncio.run(go())
    except HookhubError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Override HOOKHUB_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Override HOOKHUB_PORT.")] = None,
    demo: Annotated[
        bool, typer.Option(help="Local demo mode: generate an admin token if none is set.")
    ] = False,
) -> None:
    """Serve the HTTP and WebSocket API."""
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if demo:
        overrides["demo"] = True
    settings = _settings(**overrides)
    if settings.demo and settings.admin_token is None:
        token, created = load_or_create_admin_token(settings.admin_token_file)
        settings = _settings(**overrides, admin_token=token)
        if created:
            out.print(f"Admin token (saved in {settings.admin_token_file}, mode 0600): {token}")
        else:
            out.print(f"Admin token: see {settings.admin_token_file} (starts {token[:10]})")
    configure_logging(settings.log_level, settings.log_format)
    from hookhub.app import create_app  # imported late: building the app pulls in FastAPI

    try:
        application = create_app(settings)
    except HookhubError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    out.print(f"hookhub {__version__}: API docs at http://{shown_host}:{settings.port}/docs")
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations up to the newest."""
    settings = _settings()
    _quiet_logging(settings)

    async def go() -> None:
        db = Database(settings.database_url)
        try:
            await upgrade(db)
        finally:
            await db.close()

    try:
        asyncio.run(go())
    except HookhubError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    out.print(f"migrated {masked(normalise_database_url(settings.database_url))}")


@config_app.command("check")
def config_check() -> None:
    """Validate the settings and print the effective values, secrets masked."""
    settings = _settings()
    table = Table("setting", "value", title="hookhub settings")
    for name, value in settings.effective().items():
        table.add_row(f"HOOKHUB_{name.upper()}", value)
    out.print(table)


@token_app.command("create")
def token_create(name: Annotated[str, typer.Option(help="What the token is for.")]) -> None:
    """Create an admin API token and print it (shown this once only)."""
    created = _run(_settings(), lambda s: s.tokens.create(name, actor=CLI_ACTOR))
    out.print(f"token {created.id} ({created.name}): {created.token}")
    out.print("Store it now: hookhub keeps only its hash.")


@token_app.command("list")
def token_list(
    include_revoked: Annotated[bool, typer.Option(help="Show revoked tokens too.")] = False,
) -> None:
    """List admin API tokens."""
    tokens = _run(_settings(), lambda s: s.tokens.list(include_revoked=include_revoked))
    table = Table("id", "name", "prefix", "created", "last used", "revoked", title="API tokens")
    for info in tokens:
        table.add_row(
            info.id,
            info.name,
            info.prefix,
            isoformat_z(info.created_at),
            isoformat_z(info.last_used_at) if info.last_used_at else "-",
            isoformat_z(info.revoked_at) if info.revoked_at else "-",
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke an admin API token."""
    info = _run(_settings(), lambda s: s.tokens.revoke(token_id, actor=CLI_ACTOR))
    out.print(f"revoked {info.id} ({info.name})")


@events_app.command("publish")
def events_publish(
    type: Annotated[str, typer.Argument(help="Event type, e.g. ticket.created.")],
    payload: Annotated[str, typer.Option(help="JSON object.")] = "{}",
    channel: Annotated[str | None, typer.Option(help="Channel to deliver on.")] = None,
) -> None:
    """Store an event and publish it on the bus."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        err.print(f"[red]error:[/red] --payload is not JSON: {exc}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    if not isinstance(body, dict):
        err.print("[red]error:[/red] --payload must be a JSON object", highlight=False)
        raise typer.Exit(EXIT_ERROR)
    from pydantic import ValidationError

    try:
        event = _run(
            _settings(),
            lambda s: s.publisher.publish(
                type=type, payload=body, channel=channel, source=CLI_SOURCE
            ),
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        err.print(f"[red]error:[/red] {problems}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    out.print_json(event.model_dump_json())


@app.command()
def audit(
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. token.created.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Show the audit log, newest first."""
    page = _run(_settings(), lambda s: s.audit.list(action=action, limit=limit, offset=offset))
    table = Table(
        "when", "actor", "action", "target", "request", title=f"audit log ({page.total} entries)"
    )
    for entry in page.items:
        table.add_row(
            isoformat_z(entry.occurred_at),
            entry.actor,
            entry.action,
            entry.target or "-",
            entry.request_id or "-",
        )
    out.print(table)
    if page.offset + len(page.items) < page.total:
        out.print(f"more: --offset {page.offset + len(page.items)}")


def main() -> None:
    app()
