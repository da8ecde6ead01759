"""Settings: every knob the service reads from the environment, validated once at startup."""

import ipaddress
import logging
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backend.database_url import asyncpg_connect_args, is_pooler_host
from backend.secret_policy import GENERATE_HINT, weak_secret_reason

logger = logging.getLogger("backend.config")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/tasks.db"
DEV_SECRET_FILE = Path("data/dev-secret")
# Better Auth's default basePath, and where its JWT plugin serves the public keys below it.
BETTER_AUTH_BASE_PATH = "/api/auth"
BETTER_AUTH_JWKS_PATH = f"{BETTER_AUTH_BASE_PATH}/jwks"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    TEXT = "text"


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


def normalize_http_url(value: str, name: str) -> str:
    """An absolute http(s) URL without a trailing slash or fragment, or a ValueError naming the
    setting."""
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an absolute http:// or https:// URL, got {value!r}")
    if parts.fragment or url.endswith("#"):
        raise ValueError(f"{name} must not have a #fragment: remove it")
    return url


def check_better_auth_url(url: str) -> str:
    """BETTER_AUTH_URL as Better Auth's own `baseURL`: what the JWKS path is appended to.

    A query, or a path that already holds Better Auth's basePath (`/api/auth`, `/api/auth/jwks`),
    would put the JWKS at a URL that does not exist and expect an issuer no token carries.
    """
    parts = urlsplit(url)
    parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])  # never echo credentials
    if parts.query:
        without_query = urlunsplit(parts._replace(query=""))
        raise ValueError(f"BETTER_AUTH_URL must not have a query: set it to {without_query}")
    base_path, marker, _ = (parts.path + "/").partition(f"{BETTER_AUTH_BASE_PATH}/")
    if marker:
        base = urlunsplit(parts._replace(path=base_path))
        raise ValueError(
            f"BETTER_AUTH_URL is Better Auth's baseURL, without {BETTER_AUTH_BASE_PATH}: set it "
            f"to {base} (keys are read from {base}{BETTER_AUTH_JWKS_PATH}); for a custom "
            "basePath or jwksPath set JWT_JWKS_URL instead"
        )
    return url


def url_origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: what Better Auth puts in `iss` and `aud`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class Settings(BaseSettings):
    """One validated view of the environment (and of an optional `.env` file)."""

    # A refused value is never echoed: DATABASE_URL holds a password, and secrets are secret.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_pool_timeout: float = Field(default=10.0, gt=0)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    db_pool_pre_ping: bool = True
    db_connect_timeout: float = Field(default=5.0, gt=0)
    db_statement_timeout: float = Field(default=10.0, ge=0)
    db_transaction_pooling: bool = False
    db_echo: bool = False

    better_auth_secret: SecretStr | None = None
    jwt_algorithms: Annotated[list[str], NoDecode] = ["HS256"]
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=600)
    jwt_max_token_bytes: int = Field(default=8192, ge=256, le=65536)
    better_auth_url: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwks_cache_ttl_seconds: int = Field(default=300, ge=1, le=86400)
    jwks_refetch_interval_seconds: float = Field(default=10.0, ge=1, le=3600)
    jwks_fetch_timeout_seconds: float = Field(default=5.0, gt=0, le=30)

    cors_origins: Annotated[list[str], NoDecode] = [
        "http://localhost:3000",
        "http://localhost:5173",
    ]
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    docs_enabled: bool = True
    lean_handlers_enabled: bool = True
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = []
    idempotency_key_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    idempotency_purge_interval_seconds: int = Field(default=3600, ge=1)

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.AUTO
    access_log: bool = True
    access_log_buffer_lines: int = Field(default=10_000, ge=100, le=1_000_000)
    metrics_enabled: bool = True
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)

    rate_limit_enabled: bool = True
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=86_400)
    rate_limit_reads: int = Field(default=600, ge=1)
    rate_limit_writes: int = Field(default=120, ge=1)
    rate_limit_anonymous: int = Field(default=60, ge=1)
    redis_url: SecretStr | None = None
    redis_key_prefix: str = "taskapi:"
    redis_timeout_seconds: float = Field(default=0.5, gt=0)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_timeout_seconds: int = Field(default=30, ge=1)

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str) -> str:
        """Normalise the scheme, and refuse at startup what asyncpg could not honour."""
        url = normalize_database_url(value)
        if not url.startswith("sqlite"):
            asyncpg_connect_args(url)
        return url

    @field_validator(
        "better_auth_secret",
        "better_auth_url",
        "jwt_jwks_url",
        "jwt_issuer",
        "jwt_audience",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("better_auth_url", "jwt_jwks_url")
    @classmethod
    def _http_urls(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        url = normalize_http_url(value, str(info.field_name).upper())
        return check_better_auth_url(url) if info.field_name == "better_auth_url" else url

    @field_validator("cors_origins", "jwt_algorithms", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_url_or_unset(cls, value: Any) -> Any:
        """`REDIS_URL=` (as in .env.example) means no Redis; anything else must be a Redis URL."""
        if isinstance(value, str):
            if not value.strip():
                return None
            if not value.startswith(_REDIS_SCHEMES):
                raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        """Accept addresses and CIDR ranges, as a list or as CSV: `10.0.0.0/8, 127.0.0.1`."""
        if isinstance(value, str):
            value = [item for item in value.split(",") if item.strip()]
        if isinstance(value, list):
            return [ipaddress.ip_network(str(item).strip(), strict=False) for item in value]
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _only_hmac_algorithms(cls, value: list[str]) -> list[str]:
        allowed = {"HS256", "HS384", "HS512"}
        if not value or not set(value) <= allowed:
            raise ValueError(f"JWT_ALGORITHMS must be a non-empty subset of {sorted(allowed)}")
        return value

    @model_validator(mode="after")
    def _refuse_unverifiable_setups_in_production(self) -> "Settings":
        if self.environment is not Environment.PRODUCTION:
            return self
        if self.better_auth_secret is None and self.jwks_url is None:
            raise ValueError(
                "ENVIRONMENT=production needs a way to verify tokens: set BETTER_AUTH_URL "
                "(your Better Auth server, whose JWT plugin publishes keys at "
                f"{BETTER_AUTH_JWKS_PATH}) or JWT_JWKS_URL, and/or BETTER_AUTH_SECRET "
                "(for HS256 tokens you mint yourself)"
            )
        if self.better_auth_secret is not None:
            reason = weak_secret_reason(self.better_auth_secret.get_secret_value())
            if reason is not None:
                raise ValueError(
                    f"BETTER_AUTH_SECRET {reason}: ENVIRONMENT=production refuses it; "
                    f"{GENERATE_HINT}, or unset it to accept only Better Auth's JWKS-signed tokens"
                )
        return self

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def uses_transaction_pooler(self) -> bool:
        """PgBouncer in transaction mode: set explicitly, or implied by a Neon `-pooler` host."""
        return self.db_transaction_pooling or (
            not self.is_sqlite and is_pooler_host(self.database_url)
        )

    @cached_property
    def json_logs(self) -> bool:
        if self.log_format is LogFormat.AUTO:
            return self.environment is Environment.PRODUCTION
        return self.log_format is LogFormat.JSON

    @property
    def jwks_url(self) -> str | None:
        """Where asymmetric tokens' public keys are: JWT_JWKS_URL, else below BETTER_AUTH_URL."""
        if self.jwt_jwks_url is not None:
            return self.jwt_jwks_url
        if self.better_auth_url is not None:
            return self.better_auth_url + BETTER_AUTH_JWKS_PATH
        return None

    @property
    def jwks_issuer(self) -> str | None:
        """The `iss` JWKS tokens must carry: JWT_ISSUER, else BETTER_AUTH_URL's origin."""
        if self.jwt_issuer is not None or self.better_auth_url is None:
            return self.jwt_issuer
        return url_origin(self.better_auth_url)

    @property
    def jwks_audience(self) -> str | None:
        """The `aud` JWKS tokens must carry: JWT_AUDIENCE, else BETTER_AUTH_URL's origin."""
        if self.jwt_audience is not None or self.better_auth_url is None:
            return self.jwt_audience
        return url_origin(self.better_auth_url)

    def jwt_secret(self) -> str | None:
        """The HS256 secret; in development without JWKS, a generated one kept on disk.

        None means HS256 is off: only JWKS-verified tokens are accepted.
        """
        if self.better_auth_secret is not None:
            return self.better_auth_secret.get_secret_value()
        if self.environment is Environment.DEVELOPMENT and self.jwks_url is None:
            return _development_secret()
        return None


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
