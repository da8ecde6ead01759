"""Settings: URLs accepted as operators paste them, and unsafe setups refused at startup."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from backend.config import DEV_SECRET_FILE, Settings, split_ssl_params

from conftest import make_settings


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


def test_neon_console_url_becomes_driver_settings() -> None:
    url = "postgresql+asyncpg://u:p@ep-x.neon.tech/db?sslmode=require&channel_binding=require"

    cleaned, connect_args = split_ssl_params(url)

    assert cleaned == "postgresql+asyncpg://u:p@ep-x.neon.tech/db"
    assert connect_args == {"ssl": "require"}


@pytest.mark.usefixtures("in_tmp_dir")
def test_production_without_a_secret_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="BETTER_AUTH_SECRET must be set"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]


@pytest.mark.usefixtures("in_tmp_dir")
def test_production_with_a_short_secret_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None, environment="production", better_auth_secret="short")  # type: ignore[call-arg]


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
