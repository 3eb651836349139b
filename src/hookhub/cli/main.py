"""The ``hookhub`` command: Typer commands over the same services the HTTP API uses."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Annotated, Any

import typer
import uvicorn
import uvloop
from pydantic import ValidationError
from rich.table import Table

from hookhub import __version__, heap
from hookhub.cli.common import (
    CLI_ACTOR,
    CLI_SOURCE,
    err,
    fail,
    invalid,
    load,
    out,
    quiet_logging,
    run,
)
from hookhub.clock import isoformat_z, utc_now
from hookhub.demo import load_or_create_admin_token
from hookhub.errors import HookhubError
from hookhub.logging import configure_logging
from hookhub.paging import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from hookhub.realtime import transport
from hookhub.realtime.service import mint_token
from hookhub.services import Services
from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade
from hookhub.store.url import masked, normalise_database_url

app = typer.Typer(
    help="hookhub: webhook and WebSocket gateway for chat bots.", no_args_is_help=True
)
config_app = typer.Typer(help="Inspect the settings.", no_args_is_help=True)
token_app = typer.Typer(help="Admin API tokens.", no_args_is_help=True)
events_app = typer.Typer(help="Events.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(token_app, name="token")
app.add_typer(events_app, name="events")


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
    settings = load(**overrides)
    if settings.demo and settings.admin_token is None:
        token, created = load_or_create_admin_token(settings.admin_token_file)
        settings = load(**overrides, admin_token=token)
        if created:
            out.print(f"Admin token (saved in {settings.admin_token_file}, mode 0600): {token}")
        else:
            out.print(f"Admin token: see {settings.admin_token_file} (starts {token[:10]})")
    configure_logging(settings.log_level, settings.log_format)
    from hookhub.app import create_app  # imported late: building the app pulls in FastAPI

    try:
        application = create_app(settings, settle_heap=True)
    except HookhubError as exc:
        raise fail(exc.message) from None
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
        # Frames over the limit are refused by the protocol (1009) before they are buffered.
        ws_max_size=settings.realtime_max_message_bytes,
        # The hub writes prepared frames straight to each connection (hookhub.frame_writer).
        **transport.uvicorn_options(),
    )


@app.command()
def dispatch() -> None:
    """Run only the outgoing-webhook dispatcher (no HTTP), until SIGTERM or Ctrl-C.

    For the scaled shape: dispatchers beside or instead of the one inside ``serve``.
    """
    settings = load()
    configure_logging(settings.log_level, settings.log_format)

    async def go() -> None:
        services = Services.build(settings)
        await services.start(dispatch=True)
        heap.settle()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        try:
            await stopping.wait()
        finally:
            await services.stop()

    try:
        # On uvloop, as `serve` runs its dispatcher: each delivery is a few tasks and socket
        # events, where uvloop's scheduling costs less CPU than asyncio's own loop.
        uvloop.run(go())
    except HookhubError as exc:
        raise fail(exc.message) from None


@app.command()
def migrate() -> None:
    """Apply database migrations up to the newest."""
    settings = load()
    quiet_logging(settings)

    async def go() -> None:
        db = Database(settings.database_url)
        try:
            await upgrade(db)
        finally:
            await db.close()

    try:
        asyncio.run(go())
    except HookhubError as exc:
        raise fail(exc.message) from None
    out.print(f"migrated {masked(normalise_database_url(settings.database_url))}")


@config_app.command("check")
def config_check() -> None:
    """Validate the settings and print the effective values, secrets masked."""
    settings = load()
    table = Table("setting", "value", title="hookhub settings")
    for name, value in settings.effective().items():
        table.add_row(f"HOOKHUB_{name.upper()}", value)
    out.print(table)


@token_app.command("create")
def token_create(name: Annotated[str, typer.Option(help="What the token is for.")]) -> None:
    """Create an admin API token and print it (shown this once only)."""
    created = run(load(), lambda s: s.tokens.create(name, actor=CLI_ACTOR))
    out.print(f"token {created.id} ({created.name}): {created.token}")
    out.print("Store it now: hookhub keeps only its hash.")


@token_app.command("list")
def token_list(
    include_revoked: Annotated[bool, typer.Option(help="Show revoked tokens too.")] = False,
) -> None:
    """List admin API tokens."""
    tokens = run(load(), lambda s: s.tokens.list(include_revoked=include_revoked))
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
    info = run(load(), lambda s: s.tokens.revoke(token_id, actor=CLI_ACTOR))
    out.print(f"revoked {info.id} ({info.name})")


@token_app.command("ws")
def token_ws(
    user: Annotated[str | None, typer.Option(help="The user it connects as (JWT sub).")] = None,
    channels: Annotated[
        list[str] | None,
        typer.Option(help="Channel patterns it may subscribe to, e.g. 'shop:*' (repeatable)."),
    ] = None,
    ttl_s: Annotated[
        float | None, typer.Option(min=1, help="Lifetime; default HOOKHUB_REALTIME_TOKEN_TTL_S.")
    ] = None,
) -> None:
    """Print a WebSocket connection token (JWT signed with HOOKHUB_TOKEN_SECRET)."""
    settings = load()
    # Repeated or comma-separated: --channels 'shop:*' --channels broadcast, or 'shop:*,broadcast'.
    patterns = [part.strip() for item in channels or [] for part in item.split(",") if part.strip()]
    try:
        token, expires = mint_token(
            settings, user=user, channels=patterns, now=utc_now(), ttl_s=ttl_s
        )
    except HookhubError as exc:
        raise fail(exc.message) from None
    # The token alone on stdout, so it can be captured: TOKEN=$(hookhub token ws ...).
    typer.echo(token)
    err.print(f"expires {isoformat_z(expires)}", highlight=False)


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
        raise fail(f"--payload is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise fail("--payload must be a JSON object")

    try:
        event = run(
            load(),
            lambda s: s.publisher.publish(
                type=type, payload=body, channel=channel, source=CLI_SOURCE
            ),
        )
    except ValidationError as exc:
        raise invalid(exc) from None
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
    page = run(load(), lambda s: s.audit.list(action=action, limit=limit, offset=offset))
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
