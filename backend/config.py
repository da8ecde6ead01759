"""Settings: every knob the service reads from the environment, validated once at startup."""

import logging
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

logger = logging.getLogger("backend.config")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/tasks.db"
DEV_SECRET_FILE = Path("data/dev-secret")
MIN_SECRET_LENGTH = 32
# Query parameters Neon and libpq put in URLs that asyncpg refuses as keywords.
_LIBPQ_SSL_PARAMS = ("sslmode", "channel_binding")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


def normalize_database_url(url: str) -> str:
    """Give a PostgreSQL URL the asyncpg driver and a SQLite URL the aiosqlite driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("DATABASE_URL must look like postgresql://user:pass@host/db")
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r}: use postgresql:// or sqlite://")


def split_ssl_params(url: str) -> tuple[str, dict[str, Any]]:
    """Move libpq-only query parameters (sslmode, channel_binding) out of the URL.

    asyncpg takes TLS as the `ssl` connect argument and negotiates SCRAM channel binding on
    its own, so a URL copied from the Neon console would otherwise crash the driver.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in query if key not in _LIBPQ_SSL_PARAMS]
    ssl_params = {key: value for key, value in query if key in _LIBPQ_SSL_PARAMS}
    connect_args: dict[str, Any] = {}
    sslmode = ssl_params.get("sslmode")
    if sslmode and sslmode != "disable":
        connect_args["ssl"] = sslmode
    return urlunsplit(parts._replace(query=urlencode(kept))), connect_args


class Settings(BaseSettings):
    """One validated view of the environment (and of an optional `.env` file)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    db_pool_timeout: float = Field(default=10.0, gt=0)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    db_pool_pre_ping: bool = True
    db_echo: bool = False

    better_auth_secret: SecretStr | None = None
    jwt_algorithms: Annotated[list[str], NoDecode] = ["HS256"]
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=600)
    jwt_max_token_bytes: int = Field(default=8192, ge=256, le=65536)

    cors_origins: Annotated[list[str], NoDecode] = [
        "http://localhost:3000",
        "http://localhost:5173",
    ]
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    idempotency_key_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    idempotency_purge_interval_seconds: int = Field(default=3600, ge=1)
    log_level: str = "INFO"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("cors_origins", "jwt_algorithms", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _only_hmac_algorithms(cls, value: list[str]) -> list[str]:
        allowed = {"HS256", "HS384", "HS512"}
        if not value or not set(value) <= allowed:
            raise ValueError(f"JWT_ALGORITHMS must be a non-empty subset of {sorted(allowed)}")
        return value

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> "Settings":
        if self.environment is Environment.PRODUCTION:
            if self.better_auth_secret is None:
                raise ValueError(
                    "BETTER_AUTH_SECRET must be set when ENVIRONMENT=production "
                    "(the secret your Better Auth frontend signs tokens with)"
                )
            if len(self.better_auth_secret.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"BETTER_AUTH_SECRET must be at least {MIN_SECRET_LENGTH} characters "
                    "when ENVIRONMENT=production"
                )
        return self

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def jwt_secret(self) -> str:
        """The HS256 secret, falling back to a generated development secret kept on disk."""
        if self.better_auth_secret is not None:
            return self.better_auth_secret.get_secret_value()
        return _development_secret()


def _development_secret() -> str:
    """Read, or create once, the git-ignored secret that local development signs tokens with."""
    if DEV_SECRET_FILE.exists():
        logger.warning(
            "BETTER_AUTH_SECRET is not set: using the development secret in %s", DEV_SECRET_FILE
        )
        return DEV_SECRET_FILE.read_text().strip()
    DEV_SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    DEV_SECRET_FILE.touch(mode=0o600)
    DEV_SECRET_FILE.write_text(secret + "\n")
    logger.warning(
        "BETTER_AUTH_SECRET is not set: generated a development secret in %s", DEV_SECRET_FILE
    )
    return secret
