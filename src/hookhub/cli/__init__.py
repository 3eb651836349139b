"""The ``hookhub`` command: Typer commands over the same services the HTTP API uses."""

from __future__ import annotations

from hookhub.cli.main import app
from hookhub.cli.webhooks import webhooks_app

app.add_typer(webhooks_app, name="webhooks")


def main() -> None:
    app()


__all__ = ["app", "main"]
