"""Database URL parsing: a pure function shared by the settings and the engine."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from hookhub.errors import ConfigError

#: The async driver each supported backend runs on.
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_ALIASES = {"postgres": "postgresql"}


def normalise_database_url(raw: str) -> URL:
    """Return the SQLAlchemy async URL for ``raw``.

    Plain ``sqlite:///`` and ``postgresql://`` (or ``postgres://``) map to the aiosqlite and
    asyncpg drivers; an explicit ``+aiosqlite`` or ``+asyncpg`` is kept. Anything else raises
    :class:`ConfigError` with a message that never repeats the password.
    """
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            "not a database URL (expected sqlite:///path or postgresql://...)"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    backend = _ALIASES.get(backend, backend)
    if backend not in ASYNC_DRIVERS:
        raise ConfigError(f"unsupported database {backend!r}; use sqlite or postgresql")
    wanted = ASYNC_DRIVERS[backend]
    if driver and f"{backend}+{driver}" != wanted:
        raise ConfigError(f"unsupported driver {driver!r}; hookhub uses {wanted}")
    if backend == "sqlite" and url.database in (None, ""):
        raise ConfigError("sqlite URL needs a file path (sqlite:///hookhub.db)")
    if backend == "postgresql" and not url.database:
        raise ConfigError("postgresql URL needs a database name")
    return url.set(drivername=wanted)


def masked(url: URL) -> str:
    """The URL as text with its password replaced by ``***``."""
    return url.render_as_string(hide_password=True)
