from pathlib import Path

import pytest

from hookhub.config import Settings, load_settings
from hookhub.errors import ConfigError

STRONG = "s" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOOKHUB_CONFIG", raising=False)
    for name in Settings.model_fields:
        monkeypatch.delenv(f"HOOKHUB_{name.upper()}", raising=False)


def test_defaults_are_the_embedded_shape() -> None:
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.database_url == "sqlite+aiosqlite:///hookhub.db"
    assert settings.redis_url is None
    assert settings.max_body_bytes == 1024 * 1024


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_PORT", "9000")
    monkeypatch.setenv("HOOKHUB_DATABASE_URL", "postgresql://u:pw@db/hookhub")
    settings = load_settings()
    assert settings.port == 9000
    assert settings.database_url == "postgresql+asyncpg://u:pw@db/hookhub"


def test_toml_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "hookhub.toml"
    config.write_text('port = 9100\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("HOOKHUB_CONFIG", str(config))
    monkeypatch.setenv("HOOKHUB_PORT", "9200")
    settings = load_settings()
    assert settings.host == "0.0.0.0"
    assert settings.port == 9200


def test_unknown_toml_key_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hookhub.toml"
    config.write_text("prot = 9100\n")
    monkeypatch.setenv("HOOKHUB_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"unknown setting 'prot' in .*hookhub.toml"):
        load_settings()


def test_missing_and_broken_toml_files_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKHUB_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="HOOKHUB_CONFIG: no such file"):
        load_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    monkeypatch.setenv("HOOKHUB_CONFIG", str(broken))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


@pytest.mark.parametrize("name", ["internal_secret", "token_secret", "admin_token"])
def test_short_secret_is_one_line_naming_the_setting(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**{name: "too-short-secret-value"})
    message = caught.value.message
    assert message == f"HOOKHUB_{name.upper()}: must be at least 32 characters"
    assert "too-short-secret-value" not in message


def test_empty_secret_means_unset() -> None:
    assert load_settings(internal_secret="").internal_secret is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root@localhost/hookhub", "unsupported database 'mysql'"),
        ("not a url", "not a database URL"),
        ("postgresql+psycopg://localhost/x", "unsupported driver 'psycopg'"),
        ("sqlite://", "needs a file path"),
    ],
)
def test_bad_database_url_is_named(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="HOOKHUB_DATABASE_URL: ") as caught:
        load_settings(database_url=url)
    assert problem in caught.value.message
    assert "\n" not in caught.value.message


def test_bad_redis_url_and_port_are_named() -> None:
    with pytest.raises(ConfigError, match="HOOKHUB_REDIS_URL: must start with redis://"):
        load_settings(redis_url="http://localhost:6379")
    with pytest.raises(ConfigError, match="HOOKHUB_PORT"):
        load_settings(port=70000)


def test_effective_settings_mask_secrets_and_passwords() -> None:
    settings = load_settings(
        admin_token=STRONG + "-admin",
        database_url="postgresql://hookhub:db-password@db:5432/hookhub",
        redis_url="redis://:redis-password@cache:6379/0",
    )
    shown = settings.effective()
    text = repr(shown)
    assert STRONG not in text
    assert "db-password" not in text
    assert "redis-password" not in text
    assert shown["admin_token"].startswith("ssss…")
    assert shown["database_url"] == "postgresql+asyncpg://hookhub:***@db:5432/hookhub"
    assert shown["redis_url"] == "redis://***@cache:6379/0"
    assert shown["internal_secret"] == "(unset)"


def test_settings_repr_never_shows_a_secret() -> None:
    settings = load_settings(admin_token=STRONG)
    assert STRONG not in repr(settings)
    assert STRONG not in str(settings.model_dump())


def test_a_lease_shorter_than_an_attempt_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^HOOKHUB_OUTBOUND_LEASE_S: must be at least 21"):
        load_settings(outbound_lease_s=20)
    short = load_settings(
        outbound_lease_s=2, outbound_connect_timeout_s=0.5, outbound_timeout_s=0.5
    )
    assert short.outbound_lease_s == 2


def test_allowed_cidrs_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_OUTBOUND_ALLOWED_CIDRS", "10.1.0.0/16, 192.168.5.0/24")
    assert load_settings().outbound_allowed_cidrs == ["10.1.0.0/16", "192.168.5.0/24"]
    monkeypatch.setenv("HOOKHUB_OUTBOUND_ALLOWED_CIDRS", "10.1.0.0/16,nope")
    with pytest.raises(ConfigError, match="HOOKHUB_OUTBOUND_ALLOWED_CIDRS: 'nope' is not a CIDR"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("HOOKHUB_REALTIME_HISTORY_SIZE", "-1"),
        ("HOOKHUB_REALTIME_HISTORY_SIZE", "100001"),
        ("HOOKHUB_REALTIME_MAX_QUEUE_BYTES", "0"),
        ("HOOKHUB_REALTIME_IDLE_TIMEOUT_S", "-5"),
        ("HOOKHUB_REALTIME_BROADCAST_CHANNEL", "has space"),
        ("HOOKHUB_REDIS_KEY_PREFIX", ""),
    ],
)
def test_bad_realtime_settings_name_the_setting(
    env: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.message.startswith(f"{env}: ")


def test_realtime_defaults() -> None:
    settings = load_settings()
    assert settings.realtime_broadcast_channel == "broadcast"
    assert settings.realtime_max_queue_bytes == 1024 * 1024
    assert settings.realtime_max_message_bytes == 64 * 1024
    assert settings.realtime_ping_interval_s == 25
