"""CLI tests: each command runs against a migrated SQLite file named by the environment."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hookhub.cli import app

runner = CliRunner()
SECRET = "cli-test-admin-token-" + "z" * 32


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"HOOKHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HOOKHUB_CONFIG", raising=False)
    return values


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_commands_before_migrate_say_what_to_do(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["token", "list"])
    assert result.exit_code == 1
    assert "run `hookhub migrate`" in result.output


def test_token_lifecycle(env: dict[str, str]) -> None:
    invoke("migrate")
    created = invoke("token", "create", "--name", "deploy-bot")
    token = next(word for word in created.split() if word.startswith("hh_"))
    token_id = created.split()[1]
    listing = invoke("token", "list")
    assert "deploy-bot" in listing and token_id in listing
    assert token not in listing
    assert token[:10] in listing
    assert f"revoked {token_id}" in invoke("token", "revoke", token_id)
    assert "deploy-bot" not in invoke("token", "list")
    assert "deploy-bot" in invoke("token", "list", "--include-revoked")
    missing = runner.invoke(app, ["token", "revoke", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"])
    assert missing.exit_code == 1 and "no token" in missing.output
    audit = invoke("audit")
    assert "token.created" in audit and "token.revoked" in audit and "cli" in audit
    assert "token.revoked" not in invoke("audit", "--action", "token.created")


def test_events_publish_stores_the_event(env: dict[str, str]) -> None:
    import asyncio

    from hookhub.store.engine import Database
    from hookhub.store.repositories import EventRepository

    invoke("migrate")
    output = invoke("events", "publish", "ticket.created", "--payload", '{"title": "Hi"}')
    assert '"source": "cli"' in output

    async def stored() -> list[str]:
        db = Database(env["HOOKHUB_DATABASE_URL"])
        try:
            page = await EventRepository(db).list(type="ticket.created", limit=10, offset=0)
            return [str(e.payload["title"]) for e in page.items]
        finally:
            await db.close()

    assert asyncio.run(stored()) == ["Hi"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["ticket.created", "--payload", "{nope"], "--payload is not JSON"),
        (["ticket.created", "--payload", "[1]"], "must be a JSON object"),
        (["bad type"], "type:"),
    ],
)
def test_events_publish_refuses_bad_input(
    env: dict[str, str], args: list[str], problem: str
) -> None:
    invoke("migrate")
    result = runner.invoke(app, ["events", "publish", *args])
    assert result.exit_code == 1
    assert problem in result.output
    assert "Traceback" not in result.output


def test_config_check_masks_secrets(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_ADMIN_TOKEN", SECRET)
    output = invoke("config", "check")
    assert "HOOKHUB_ADMIN_TOKEN" in output
    assert SECRET not in output
    assert "(53 chars)" in output


def test_config_check_reports_a_bad_setting_in_one_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKHUB_INTERNAL_SECRET", "short")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: HOOKHUB_INTERNAL_SECRET: must be at least 32 characters"


def test_serve_without_admin_token_refuses_to_start(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOKHUB_ADMIN_TOKEN", raising=False)
    invoke("migrate")
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "HOOKHUB_ADMIN_TOKEN: required" in result.output


def test_token_ws_prints_a_connection_token(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from hookhub.realtime import auth

    token_secret = "cli-token-secret-" + "t" * 32
    monkeypatch.setenv("HOOKHUB_TOKEN_SECRET", token_secret)
    result = runner.invoke(
        app, ["token", "ws", "--user", "u1", "--channels", "shop:*", "--channels", "a,b"]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    grant = auth.verify(token_secret, token, now=datetime.now(UTC))
    assert grant.user == "u1"
    assert grant.patterns == ("shop:*", "a", "b")
    bad = runner.invoke(app, ["token", "ws", "--channels", "no spaces"])
    assert bad.exit_code == 1 and "channel pattern" in bad.output


def test_token_ws_needs_the_token_secret(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOKHUB_TOKEN_SECRET", raising=False)
    result = runner.invoke(app, ["token", "ws"])
    assert result.exit_code == 1
    assert "HOOKHUB_TOKEN_SECRET" in result.output
