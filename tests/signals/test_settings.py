"""The signal webhook's settings block: exchanges and the public URL."""

from __future__ import annotations

import pytest

from hookhub.config import load_settings
from hookhub.errors import ConfigError
from tests.conftest import ADMIN_TOKEN


def test_defaults() -> None:
    settings = load_settings(admin_token=ADMIN_TOKEN)
    assert settings.signals_exchanges == ["binance", "bybit", "kucoin", "okx"]
    assert settings.public_url is None
    assert settings.signals_max_body_bytes == 4096
    assert settings.signals_rate_per_minute == 60


def test_exchanges_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_SIGNALS_EXCHANGES", " deribit, okx ,okx,")
    assert load_settings(admin_token=ADMIN_TOKEN).signals_exchanges == ["deribit", "okx"]


@pytest.mark.parametrize("value", ["Binance", "bin ance", "", ",", "a" * 33, "-x"])
def test_bad_exchanges_are_refused_at_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HOOKHUB_SIGNALS_EXCHANGES", value)
    with pytest.raises(ConfigError, match="HOOKHUB_SIGNALS_EXCHANGES"):
        load_settings(admin_token=ADMIN_TOKEN)


def test_the_public_url_loses_its_trailing_slash() -> None:
    settings = load_settings(admin_token=ADMIN_TOKEN, public_url="https://h.example.com/")
    assert settings.public_url == "https://h.example.com"


@pytest.mark.parametrize(
    "value",
    [
        "h.example.com",
        "ftp://h.example.com",
        "https://",
        "https://h.example.com/?x=1",
        "https://user:pw@h.example.com",
        "https://h.example.com/#top",
    ],
)
def test_bad_public_urls_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="HOOKHUB_PUBLIC_URL"):
        load_settings(admin_token=ADMIN_TOKEN, public_url=value)
