"""Settings: URLs accepted as operators paste them, and unsafe setups refused at startup."""

import base64
import re
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from backend.config import DEV_SECRET_FILE, Settings
from backend.db import postgres_connect_args
from backend.startup_checks import settings_error_lines

from support import make_settings

ROOT = Path(__file__).resolve().parents[1]
# The value backend/.env.example once shipped as an active line: public ever since.
PUBLISHED_SECRET = "replace-with-a-long-random-secret-of-32-or-more-characters"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
    ],
)
def test_database_urls_are_normalised(given: str, expected: str) -> None:
    assert make_settings(given).database_url == expected


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_database_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match=r"DATABASE_URL|unsupported"):
        make_settings(url)


@pytest.mark.usefixtures("in_tmp_dir")
def test_production_without_any_verification_refuses_to_start_saying_what_to_set() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]

    message = str(refused.value)
    assert "BETTER_AUTH_URL" in message
    assert "JWT_JWKS_URL" in message
    assert "BETTER_AUTH_SECRET" in message


@pytest.mark.usefixtures("in_tmp_dir")
@pytest.mark.parametrize(
    "setting",
    [
        {"better_auth_url": "https://auth.example.com"},
        {"jwt_jwks_url": "https://keys.example.com/jwks.json"},
        {"better_auth_secret": secrets.token_urlsafe(32)},
    ],
)
def test_production_starts_with_either_jwks_or_a_secret(setting: dict[str, str]) -> None:
    settings = Settings(_env_file=None, environment="production", **setting)  # type: ignore[call-arg]

    assert settings.environment == "production"


@pytest.mark.usefixtures("in_tmp_dir")
def test_better_auth_url_sets_jwks_url_issuer_and_audience() -> None:
    settings = Settings(_env_file=None, better_auth_url="https://auth.example.com/")  # type: ignore[call-arg]

    assert settings.jwks_url == "https://auth.example.com/api/auth/jwks"
    assert settings.jwks_issuer == "https://auth.example.com"
    assert settings.jwks_audience == "https://auth.example.com"
    assert settings.jwt_secret() is None


@pytest.mark.usefixtures("in_tmp_dir")
def test_jwks_url_issuer_and_audience_can_each_be_overridden() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        better_auth_url="https://auth.example.com",
        jwt_jwks_url="https://cdn.example.com/keys.json",
        jwt_issuer="https://issuer.example.com",
        jwt_audience="task-api",
    )

    assert settings.jwks_url == "https://cdn.example.com/keys.json"
    assert settings.jwks_issuer == "https://issuer.example.com"
    assert settings.jwks_audience == "task-api"


@pytest.mark.usefixtures("in_tmp_dir")
@pytest.mark.parametrize("url", ["auth.example.com", "ftp://auth.example.com", "http://"])
def test_jwks_urls_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError, match="BETTER_AUTH_URL must be an absolute http"):
        Settings(_env_file=None, better_auth_url=url)  # type: ignore[call-arg]


@pytest.mark.usefixtures("in_tmp_dir")
def test_blank_settings_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETTER_AUTH_URL", "")
    monkeypatch.setenv("JWT_ISSUER", " ")

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.jwks_url is None
    assert settings.jwks_issuer is None


@pytest.mark.usefixtures("in_tmp_dir")
@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("short", "is 5 bytes, under the 32"),
        ("é" * 15, "is 30 bytes, under the 32"),  # 15 characters, 30 bytes
        (PUBLISHED_SECRET, "is a placeholder"),
        ("changeme-changeme-changeme-changeme-1", "is a placeholder"),
        ("Replace_With_A_Real_Secret_Of_32+_Characters", "is a placeholder"),
        ("your-secret-here-at-least-32-characters-long", "is a placeholder"),
        ("a" * 64, "fewer than 8 distinct characters"),
        ("0123" * 10, "fewer than 8 distinct characters"),
        ("abcdefghij" * 4, "one shorter piece repeated"),
        ("K7#pQ2!z" * 5, "one shorter piece repeated"),
    ],
)
def test_production_refuses_a_weak_secret_saying_why_and_never_what(
    secret: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, environment="production", better_auth_secret=secret)  # type: ignore[call-arg]

    [line] = settings_error_lines(refused.value)
    assert line.startswith("invalid setting: BETTER_AUTH_SECRET ")
    assert reason in line
    assert "openssl rand" in line
    assert secret not in line


def test_production_accepts_generated_secrets() -> None:
    generated = [
        *(secrets.token_urlsafe(32) for _ in range(200)),
        *(secrets.token_hex(16) for _ in range(200)),
        *(base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(200)),
    ]

    for secret in generated:
        Settings(_env_file=None, environment="production", better_auth_secret=secret)  # type: ignore[call-arg]


@pytest.mark.usefixtures("in_tmp_dir")
def test_development_accepts_any_secret() -> None:
    settings = Settings(_env_file=None, better_auth_secret="dev")  # type: ignore[call-arg]

    assert settings.jwt_secret() == "dev"


def test_every_secret_our_docs_and_examples_show_is_refused_in_production() -> None:
    shown = {
        match
        for path in [ROOT / "README.md", ROOT / "backend" / ".env.example", *ROOT.glob("docs/*.md")]
        for match in re.findall(r"BETTER_AUTH_SECRET=([^\s`'\"]+)", path.read_text())
    }
    for secret in shown | {PUBLISHED_SECRET}:
        with pytest.raises(ValidationError, match="BETTER_AUTH_SECRET"):
            Settings(_env_file=None, environment="production", better_auth_secret=secret)  # type: ignore[call-arg]


def test_the_example_file_sets_no_secret(in_tmp_dir: Path) -> None:
    """Copied to .env as it is, with production on, the example must not start the server."""
    example = (ROOT / "backend" / ".env.example").read_text()
    (in_tmp_dir / ".env").write_text(
        example.replace("ENVIRONMENT=development", "ENVIRONMENT=production")
    )

    with pytest.raises(ValidationError, match="needs a way to verify tokens"):
        Settings()
    assert not re.search(r"^BETTER_AUTH_SECRET=", example, re.MULTILINE)


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("http://localhost:3000/api/auth", "set it to http://localhost:3000 "),
        ("http://localhost:3000/api/auth/", "set it to http://localhost:3000 "),
        ("https://auth.example.com/api/auth/jwks", "set it to https://auth.example.com "),
        ("https://example.com/auth/api/auth", "set it to https://example.com/auth "),
        ("https://auth.example.com/?tenant=1", "must not have a query"),
        ("https://auth.example.com/#top", "must not have a #fragment"),
        ("ftp://auth.example.com", "must be an absolute http:// or https:// URL"),
        ("auth.example.com", "must be an absolute http:// or https:// URL"),
    ],
)
def test_a_better_auth_url_that_cannot_be_right_is_refused_saying_what_to_set(
    url: str, fix: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, better_auth_url=url)  # type: ignore[call-arg]

    [line] = settings_error_lines(refused.value)
    assert line.startswith("invalid setting: BETTER_AUTH_URL ")
    assert fix in line


@pytest.mark.usefixtures("in_tmp_dir")
@pytest.mark.parametrize(
    ("url", "jwks_url"),
    [
        ("https://example.com/auth", "https://example.com/auth/api/auth/jwks"),
        (
            "https://example.com/api/authentication",
            "https://example.com/api/authentication/api/auth/jwks",
        ),
    ],
)
def test_a_better_auth_url_behind_a_path_prefix_is_accepted(url: str, jwks_url: str) -> None:
    settings = Settings(_env_file=None, better_auth_url=url)  # type: ignore[call-arg]

    assert settings.jwks_url == jwks_url


def test_development_secret_is_generated_once_and_kept(in_tmp_dir: Path) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    first = settings.jwt_secret()
    second = Settings(_env_file=None).jwt_secret()  # type: ignore[call-arg]

    assert first == second
    assert len(first) >= 32
    secret_file = in_tmp_dir / DEV_SECRET_FILE
    assert secret_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.usefixtures("in_tmp_dir")
def test_csv_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")

    assert Settings(_env_file=None).cors_origins == ["https://a.example", "https://b.example"]  # type: ignore[call-arg]


@pytest.mark.usefixtures("in_tmp_dir")
def test_only_hmac_algorithms_are_accepted_for_the_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_ALGORITHMS"):
        Settings(_env_file=None, jwt_algorithms="none")  # type: ignore[call-arg]


def test_neon_pooler_hosts_switch_prepared_statements_off() -> None:
    url = (
        "postgresql://u:p@ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech/db?sslmode=require"
    )
    settings = make_settings(url, db_statement_timeout=5)

    args = postgres_connect_args(settings)

    assert settings.uses_transaction_pooler
    assert args["statement_cache_size"] == 0
    assert args["prepared_statement_cache_size"] == 0
    # A pooler refuses unknown startup parameters: the limit is enforced client-side there.
    assert "server_settings" not in args
    assert args["command_timeout"] > 5


def test_direct_hosts_keep_the_statement_cache_and_get_a_server_timeout() -> None:
    settings = make_settings(
        "postgresql://u:p@ep-cool-name-123456.eu-central-1.aws.neon.tech/db",
        db_transaction_pooling=False,
    )

    args = postgres_connect_args(settings)

    assert not settings.uses_transaction_pooler
    assert "statement_cache_size" not in args
    assert args["server_settings"] == {"statement_timeout": "10000"}
    assert args["timeout"] == settings.db_connect_timeout


def test_any_pgbouncer_can_be_declared_a_transaction_pooler() -> None:
    settings = make_settings("postgresql://u@127.0.0.1:6432/db", db_transaction_pooling=True)

    assert postgres_connect_args(settings)["statement_cache_size"] == 0


def test_statement_timeout_zero_means_no_limit() -> None:
    args = postgres_connect_args(make_settings("postgresql://u@h/db", db_statement_timeout=0))

    assert "command_timeout" not in args
    assert "server_settings" not in args


@pytest.mark.usefixtures("in_tmp_dir")
def test_trusted_proxies_accept_addresses_and_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::1")

    networks = Settings(_env_file=None).trusted_proxies  # type: ignore[call-arg]

    assert [str(network) for network in networks] == ["10.0.0.0/8", "192.168.1.7/32", "::1/128"]


@pytest.mark.usefixtures("in_tmp_dir")
def test_a_malformed_trusted_proxy_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="does not appear to be an IPv4 or IPv6"):
        Settings(_env_file=None, trusted_proxies="10.0.0.0/8,proxy.example")  # type: ignore[call-arg]


@pytest.mark.usefixtures("in_tmp_dir")
def test_log_format_follows_the_environment_unless_chosen() -> None:
    secret = secrets.token_urlsafe(32)
    production = Settings(_env_file=None, environment="production", better_auth_secret=secret)  # type: ignore[call-arg]
    chosen = Settings(
        _env_file=None, log_format="text", environment="production", better_auth_secret=secret
    )  # type: ignore[call-arg]

    assert production.json_logs
    assert not Settings(_env_file=None).json_logs  # type: ignore[call-arg]
    assert not chosen.json_logs


@pytest.mark.usefixtures("in_tmp_dir")
def test_blank_optional_settings_from_the_example_file_mean_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("TRUSTED_PROXIES", "")

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.redis_url is None
    assert settings.trusted_proxies == []


@pytest.mark.usefixtures("in_tmp_dir")
def test_a_redis_url_that_is_not_one_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="REDIS_URL must start with redis://"):
        Settings(_env_file=None, redis_url="http://127.0.0.1:6379")  # type: ignore[call-arg]
