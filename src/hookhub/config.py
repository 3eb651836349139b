"""Settings: ``HOOKHUB_*`` environment variables plus an optional TOML file.

The TOML file is named by ``HOOKHUB_CONFIG``; its keys are the setting names without the prefix
(``port = 9000``). The environment wins over the file. Everything is validated once, at start-up:
:func:`load_settings` turns a validation failure into one :class:`ConfigError` line that names
the setting, and never repeats a secret.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hookhub.automations.models import AutomationCreate
from hookhub.errors import ConfigError
from hookhub.events import CHANNEL_PATTERN, MAX_CHANNEL_CHARS
from hookhub.inbound.models import EndpointConfig
from hookhub.store.url import masked, normalise_database_url
from hookhub.tickets.routing import Team, TicketRoute

ENV_PREFIX = "HOOKHUB_"
CONFIG_ENV = "HOOKHUB_CONFIG"
MIN_SECRET_CHARS = 32
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///hookhub.db"
DEFAULT_ADMIN_TOKEN_FILE = Path(".hookhub-admin-token")
#: Seconds a delivery lease lasts beyond the longest possible attempt.
LEASE_MARGIN_S = 1.0
#: Messages kept per channel at most: recovery reads them all in one go.
MAX_HISTORY_SIZE = 10_000
#: Body bytes of each incoming request kept in its endpoint's request history.
DEFAULT_INBOUND_HISTORY_BODY_BYTES = 64 * 1024
SECRET_FIELDS = ("admin_token", "internal_secret", "token_secret")
#: Signal webhook: exchanges a /xc signal may name unless configured otherwise.
DEFAULT_SIGNAL_EXCHANGES = ("binance", "bybit", "kucoin", "okx")
#: Signal webhook: a connection string is about 150 bytes; this leaves room and no more.
DEFAULT_SIGNALS_MAX_BODY_BYTES = 4096
DEFAULT_SIGNALS_RATE_PER_MINUTE = 60
EXCHANGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_\-]{0,31}")
#: An action plugin: ``package.module``, ``package.module.function`` or ``package.module:function``.
PLUGIN_PATH_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?$"
DEFAULT_TICKET_TEAM = "triage"
#: Automations triggering one another may chain at most this deep, whatever is configured.
MAX_CHAIN_DEPTH = 100


class Settings(BaseSettings):
    """Every setting hookhub reads; see the configuration table in the README."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    #: Put before every Redis key and channel, so deployments can share one Redis.
    redis_key_prefix: str = Field(default="hookhub:", min_length=1, max_length=64)
    admin_token: SecretStr | None = None
    internal_secret: SecretStr | None = None
    token_secret: SecretStr | None = None
    demo: bool = False
    admin_token_file: Path = DEFAULT_ADMIN_TOKEN_FILE
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Outgoing webhooks.
    dispatcher_enabled: bool = True
    outbound_allow_private: bool = False
    outbound_allowed_cidrs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    outbound_connect_timeout_s: float = Field(default=5.0, gt=0)
    outbound_timeout_s: float = Field(default=15.0, gt=0)
    outbound_disable_after_s: float = Field(default=5 * 24 * 3600.0, gt=0)
    outbound_rotation_overlap_s: float = Field(default=24 * 3600.0, ge=0)
    outbound_lease_s: float = Field(default=60.0, gt=0)
    outbound_poll_interval_s: float = Field(default=1.0, gt=0)
    outbound_max_in_flight: int = Field(default=64, gt=0)

    # Real-time hub (WebSocket).
    realtime_broadcast_channel: str = Field(
        default="broadcast", min_length=1, max_length=MAX_CHANNEL_CHARS, pattern=CHANNEL_PATTERN
    )
    realtime_history_size: int = Field(default=100, ge=0, le=MAX_HISTORY_SIZE)
    realtime_history_ttl_s: float = Field(default=600.0, gt=0)
    realtime_max_queue_bytes: int = Field(default=1024 * 1024, gt=0)
    realtime_max_message_bytes: int = Field(default=64 * 1024, gt=0)
    realtime_ping_interval_s: float = Field(default=25.0, gt=0)
    realtime_idle_timeout_s: float = Field(default=75.0, ge=0)
    realtime_max_subscriptions: int = Field(default=128, gt=0)
    realtime_rate_per_s: float = Field(default=50.0, gt=0)
    realtime_rate_burst: int = Field(default=100, ge=1)
    realtime_token_ttl_s: float = Field(default=24 * 3600.0, gt=0)

    # Signal webhook (/xc, seed 001).
    #: Where callers reach hookhub, for the URLs it hands out; unset: http://{host}:{port}.
    public_url: str | None = None
    signals_exchanges: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_SIGNAL_EXCHANGES)
    )
    signals_max_body_bytes: int = Field(default=DEFAULT_SIGNALS_MAX_BODY_BYTES, gt=0)
    #: Signals one code may send per minute; 0 turns the limit off.
    signals_rate_per_minute: int = Field(default=DEFAULT_SIGNALS_RATE_PER_MINUTE, ge=0)
    # Actions (plugins) and tickets.
    action_plugins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Load the actions of installed packages' ``hookhub.actions`` entry points at start-up.
    action_entry_points: bool = True
    ticket_default_team: Team = DEFAULT_TICKET_TEAM
    #: Team routing rules for tickets created without a team; the first match wins.
    ticket_routing: list[TicketRoute] = Field(default_factory=list)
    # Automations.
    #: Automations defined here (``[[automations]]`` tables in TOML), synced at start-up.
    automations: list[AutomationCreate] = Field(default_factory=list)
    automations_max_concurrent: int = Field(default=16, gt=0)
    automations_lease_s: float = Field(default=60.0, gt=0)
    automations_step_timeout_s: float = Field(default=300.0, gt=0)
    automations_max_chain_depth: int = Field(default=5, ge=0, le=MAX_CHAIN_DEPTH)
    automations_trigger_max_bytes: int = Field(default=64 * 1024, gt=0)
    automations_result_max_bytes: int = Field(default=16 * 1024, gt=0)
    # Incoming webhooks (/hooks/{slug}).
    #: Endpoints defined here are synced into the store at start-up (``[[endpoints]]`` tables).
    endpoints: list[EndpointConfig] = Field(default_factory=list)
    #: Proxies whose ``X-Forwarded-For`` is believed (CIDRs); the socket peer otherwise.
    inbound_trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    inbound_history_body_bytes: int = Field(default=DEFAULT_INBOUND_HISTORY_BODY_BYTES, ge=0)

    @field_validator("inbound_trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        return cls._cidr_list(value)

    @field_validator("inbound_trusted_proxies")
    @classmethod
    def _proxies_valid(cls, value: list[str]) -> list[str]:
        return cls._cidrs_valid(value)

    @field_validator("endpoints")
    @classmethod
    def _endpoint_slugs_unique(cls, value: list[EndpointConfig]) -> list[EndpointConfig]:
        slugs = [endpoint.slug for endpoint in value]
        repeated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
        if repeated:
            raise ValueError(f"slug defined more than once: {', '.join(repeated)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            return normalise_database_url(value).render_as_string(hide_password=False)
        except ConfigError as exc:
            raise ValueError(exc.message) from None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        # A lease that can end mid-attempt lets a second dispatcher send the same delivery.
        longest_s = self.outbound_connect_timeout_s + self.outbound_timeout_s + LEASE_MARGIN_S
        if self.outbound_lease_s < longest_s:
            raise ValueError(
                f"HOOKHUB_OUTBOUND_LEASE_S: must be at least {longest_s:g} "
                "(connect timeout + total timeout + margin), so a lease outlasts an attempt"
            )
        return self

    @field_validator("automations")
    @classmethod
    def _automation_names_unique(cls, value: list[AutomationCreate]) -> list[AutomationCreate]:
        # The name is how a config-defined automation is found again at the next start.
        names = [automation.name for automation in value]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"automation name {name!r} is used twice")
        return value

    @field_validator("outbound_allowed_cidrs", mode="before")
    @classmethod
    def _cidr_list(cls, value: object) -> object:
        # The environment gives "10.0.0.0/8,192.168.0.0/16"; TOML gives a list.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("outbound_allowed_cidrs")
    @classmethod
    def _cidrs_valid(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a CIDR network") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must have no query, fragment or credentials")
        return value.rstrip("/")

    @field_validator("signals_exchanges", mode="before")
    @classmethod
    def _exchange_list(cls, value: object) -> object:
        # The environment gives "binance,okx"; TOML gives a list.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("action_plugins", mode="before")
    @classmethod
    def _plugin_list(cls, value: object) -> object:
        # The environment gives "mypkg.actions,other.plugin:register"; TOML gives a list.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("signals_exchanges")
    @classmethod
    def _exchanges_valid(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one exchange")
        for name in value:
            if not EXCHANGE_PATTERN.fullmatch(name):
                raise ValueError(
                    f"{name[:40]!r} is not an exchange name (lower-case letters, digits, _ -; "
                    "at most 32 characters)"
                )
        return list(dict.fromkeys(value))

    @field_validator("action_plugins")
    @classmethod
    def _plugin_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not re.fullmatch(PLUGIN_PATH_PATTERN, path):
                raise ValueError(
                    f"{path!r} is not a dotted path (package.module or package.module:function)"
                )
        return value

    @field_validator(*SECRET_FIELDS)
    @classmethod
    def _secret_strength(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_path = os.environ.get(CONFIG_ENV)
        if config_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_path)))
        return tuple(sources)

    def effective(self) -> dict[str, str]:
        """The settings as display strings, secrets masked to a short prefix."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                shown[name] = mask_secret(value.get_secret_value()) if value else "(unset)"
            elif name == "database_url":
                shown[name] = masked(normalise_database_url(value))
            elif name == "redis_url" and value:
                shown[name] = _mask_redis(value)
            elif name == "automations":
                # Names only: parameters may hold credentials (an http_request header).
                shown[name] = ", ".join(repr(item.name) for item in value) or "(none)"
            elif name == "endpoints":  # their secrets stay out: the slugs say which are defined
                shown[name] = ", ".join(endpoint.slug for endpoint in value) or "(none)"
            else:
                shown[name] = "(unset)" if value is None else str(value)
        return shown


def mask_secret(secret: str) -> str:
    """Show at most a short prefix of a secret: enough to tell two apart, not to use one."""
    return f"{secret[:4]}…({len(secret)} chars)"


def _mask_redis(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    return f"{scheme}{sep}***@{host}" if at and creds else url


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise one-line :class:`ConfigError` on any problem."""
    config_path = os.environ.get(CONFIG_ENV)
    if config_path:
        _check_toml(Path(config_path))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_path)) from None


def _check_toml(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"{CONFIG_ENV}: no such file: {path}")
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{CONFIG_ENV}: {path} is not valid TOML: {exc}") from None


def _describe(exc: ValidationError, config_path: str | None) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a check across settings names them in its message
            problems.append(message)
        elif error["type"] == "extra_forbidden":
            where = f" in {config_path}" if config_path else ""
            problems.append(f"unknown setting {name!r}{where}")
        else:
            problems.append(f"{ENV_PREFIX}{name.upper()}: {message}")
    return "; ".join(problems)
