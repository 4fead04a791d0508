"""Server settings, read from ``KAIZEN_*`` environment variables (pydantic-settings).

Example:
    >>> ServerSettings(database_url="sqlite+aiosqlite:///./demo.db").port
    8000
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_DATABASE_URL",
    "MIN_SECRET_KEY_LENGTH",
    "PublishingSettings",
    "ServerSettings",
    "SettingsError",
    "load_settings",
]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./kaizen.db"

MIN_API_KEY_LENGTH = 32
"""Shortest bootstrap key accepted: a shorter one could be guessed offline."""

MIN_SECRET_KEY_LENGTH = 32
"""Shortest ``KAIZEN_SECRET_KEY`` accepted (the key of stored git tokens is derived from it)."""

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable."""


class PublishingSettings(BaseSettings):
    """The settings pull requests need, read by the server and by each job's process.

    ``KAIZEN_SECRET_KEY``: the secret the key of stored git tokens is derived from.
    ``KAIZEN_GIT_ALLOWED_BASE_URLS``: JSON list of the Bitbucket Server base URLs a task's
    ``git_base_url`` may name; no other git host is ever contacted.

    Example:
        >>> PublishingSettings(git_allowed_base_urls=["https://git.acme.test/"]).git_allowed_base_urls
        ['https://git.acme.test']
    """

    model_config = SettingsConfigDict(env_prefix="KAIZEN_", extra="ignore")

    secret_key: SecretStr | None = Field(
        default=None, description="Secret the encryption key of stored git tokens comes from."
    )
    git_allowed_base_urls: list[str] = Field(
        default_factory=list,
        description="Bitbucket Server base URLs (http or https) a task's git_base_url may name.",
    )

    @field_validator("secret_key")
    @classmethod
    def _long_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_SECRET_KEY_LENGTH} characters (got "
                f"{len(value.get_secret_value())})"
            )
        return value

    @field_validator("git_allowed_base_urls")
    @classmethod
    def _plain_base_urls(cls, values: list[str]) -> list[str]:
        for value in values:
            parts = urlsplit(value)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.username is not None
                or parts.query
                or parts.fragment
            ):
                raise ValueError(
                    f"{value!r} is not a base URL: need http(s)://host[:port][/path], "
                    "without credentials, query or fragment"
                )
        return [value.rstrip("/") for value in values]


class ServerSettings(PublishingSettings):
    """Configuration of the CT server.

    Every field maps to an environment variable with the ``KAIZEN_`` prefix, e.g.
    ``KAIZEN_DATABASE_URL`` or ``KAIZEN_MAX_BODY_BYTES``.
    """

    model_config = SettingsConfigDict(env_prefix="KAIZEN_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy async URL: sqlite+aiosqlite:///... or postgresql+asyncpg://...",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: LogLevel = "info"
    api_key: SecretStr | None = Field(
        default=None, description="Bootstrap API key accepted by the server (stored hashed)."
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, description="Largest request body.")
    max_seed_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1,
        description="Largest seed upload (POST /api/v1/tasks/{task}/seed, streamed, not "
        "buffered); each of its lines is at most max_body_bytes.",
    )
    seed_limit: int = Field(
        default=5000,
        ge=1,
        description="Most seed rows a task may hold, all uploads together (a job reads at "
        "most 5000 feedback rows).",
    )
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    sse_poll_seconds: float = Field(
        default=0.25, gt=0, description="How often a SQLite replica polls for prompt events."
    )
    api_key_cache_seconds: float = Field(
        default=2.0, ge=0, description="How long a verified API key is trusted without a query."
    )
    prompt_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="Longest time a rendered active prompt is served from memory (0: off); "
        "activations on any replica invalidate it at once, this bounds anything else.",
    )
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    rollout_check_seconds: float = Field(
        default=30.0,
        gt=0,
        le=24 * 3600,
        description="How often the server applies the recommendation of rollouts started "
        "with auto_decide (promote or roll back).",
    )
    console_session_hours: float = Field(
        default=8.0,
        gt=0,
        le=24 * 30,
        description="How long a console sign-in lasts before the browser must sign in again.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses/networks of reverse proxies whose "
        "X-Forwarded-For/-Proto are believed; empty: none (the peer address is the client).",
    )

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split('://', 1)[0]!r})"
            )
        return value

    @field_validator("api_key")
    @classmethod
    def _strong_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_API_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_API_KEY_LENGTH} characters (got "
                f"{len(value.get_secret_value())}); make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lowercase_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def is_sqlite(self) -> bool:
        """True when the database is a SQLite file."""
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> ServerSettings:
    """Read the settings from the environment, raising :class:`SettingsError` on bad values.

    Example:
        >>> load_settings(port=9000).port
        9000
    """
    try:
        return ServerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"KAIZEN_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise SettingsError(f"invalid server settings: {problems}") from exc
