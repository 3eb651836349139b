"""``hookhub webhooks`` against a migrated SQLite file named by the environment."""

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hookhub.cli import app

runner = CliRunner()


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("HOOKHUB_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HOOKHUB_OUTBOUND_ALLOW_PRIVATE", "true")
    monkeypatch.delenv("HOOKHUB_CONFIG", raising=False)
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    return path


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def create(url: str = "http://127.0.0.1:9/hook") -> str:
    output = invoke("webhooks", "create", "--name", "crm", "--url", url, "--event-type", "ticket.*")
    assert "secret: whsec_" in output
    return output.split()[1]


def test_create_list_show(db_path: Path) -> None:
    webhook_id = create()
    listing = invoke("webhooks", "list")
    assert webhook_id in listing and "ticket.*" in listing
    assert "whsec_" not in listing
    assert webhook_id not in invoke("webhooks", "list", "--inactive")
    shown = invoke("webhooks", "show", webhook_id)
    assert "stats.total" in shown and "secret_prefix" in shown


def test_create_refuses_bad_input_in_one_line(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(
        app, ["webhooks", "create", "--name", "x", "--url", "ftp://x", "--event-type", "a"]
    )
    assert result.exit_code == 1
    assert "url" in result.output and "http" in result.output
    monkeypatch.setenv("HOOKHUB_OUTBOUND_ALLOW_PRIVATE", "false")
    refused = runner.invoke(
        app,
        ["webhooks", "create", "--name", "x", "--url", "http://10.0.0.1/", "--event-type", "a"],
    )
    assert refused.exit_code == 1
    assert "forbidden address" in refused.output


def _fail_all(db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE webhook_deliveries SET status = 'failed', attempts = 8")


def test_deliveries_resend_and_recover_with_progress(db_path: Path) -> None:
    webhook_id = create()
    for n in range(3):
        invoke("events", "publish", "ticket.created", "--payload", f'{{"n": {n}}}')
    pending = invoke("webhooks", "deliveries", webhook_id, "--status", "pending")
    assert "deliveries (3)" in pending
    _fail_all(db_path)
    assert "deliveries (3)" in invoke("webhooks", "deliveries", webhook_id, "--status", "failed")

    listing = invoke("webhooks", "deliveries", webhook_id)
    delivery_id = re.findall(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", listing)[0]
    assert f"delivery {delivery_id} queued again" in invoke(
        "webhooks", "resend", webhook_id, delivery_id
    )

    recovered = invoke("webhooks", "recover", webhook_id, "--since", "2000-01-01T00:00:00Z")
    assert "re-queued 2 failed deliveries" in recovered
    assert "2/2" in recovered  # the progress bar's final state
    assert "deliveries (3)" in invoke("webhooks", "deliveries", webhook_id, "--status", "pending")


def test_recover_refuses_a_bad_window(db_path: Path) -> None:
    webhook_id = create()
    bad = runner.invoke(app, ["webhooks", "recover", webhook_id, "--since", "yesterday"])
    assert bad.exit_code == 1 and "--since: not an ISO 8601 time" in bad.output
    backwards = runner.invoke(
        app,
        [
            "webhooks",
            "recover",
            webhook_id,
            "--since",
            "2030-01-02T00:00:00Z",
            "--until",
            "2030-01-01T00:00:00Z",
        ],
    )
    assert backwards.exit_code == 1 and "since must not be after until" in backwards.output
    naive = runner.invoke(app, ["webhooks", "recover", webhook_id, "--since", "2030-01-02"])
    assert naive.exit_code == 1 and "give a zone" in naive.output
    missing = runner.invoke(app, ["webhooks", "show", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"])
    assert missing.exit_code == 1 and "Webhook not found" in missing.output
