import pytest

from hookhub.errors import ConfigError
from hookhub.store.url import masked, normalise_database_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///hookhub.db", "sqlite+aiosqlite:///hookhub.db"),
        ("sqlite+aiosqlite:////var/lib/hookhub.db", "sqlite+aiosqlite:////var/lib/hookhub.db"),
        ("postgresql://u@db/h", "postgresql+asyncpg://u@db/h"),
        ("postgres://u@db:5433/h", "postgresql+asyncpg://u@db:5433/h"),
        ("postgresql+asyncpg://u@db/h", "postgresql+asyncpg://u@db/h"),
    ],
)
def test_plain_urls_map_to_async_drivers(given: str, expected: str) -> None:
    assert normalise_database_url(given).render_as_string(hide_password=False) == expected


def test_password_survives_normalising_but_not_masking() -> None:
    url = normalise_database_url("postgresql://u:p%40ss@db/h")
    assert url.password == "p@ss"
    assert "p@ss" not in masked(url) and "***" in masked(url)


@pytest.mark.parametrize("bad", ["mysql://x/y", "postgresql://db", "sqlite://", "::"])
def test_unsupported_urls_raise_config_error(bad: str) -> None:
    with pytest.raises(ConfigError):
        normalise_database_url(bad)
