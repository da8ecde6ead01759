"""DATABASE_URL's libpq parameters: each translated into what asyncpg connects with, or
refused at startup in one line that names it; never a TypeError from the driver.

Through the settings (what startup validates) and `postgres_connect_args` (what the request
pool and the migration engine both connect with). Certificates are checked for real in
test_database_tls.py.
"""

import inspect
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from pydantic import ValidationError

from backend.db import postgres_connect_args

from certificates import certificate, new_key, write_key, write_pem
from support import make_settings

BASE = "postgresql://app:secret@db.example.com:5433/tasks"
# Every connection parameter of libpq (PostgreSQL 18).
LIBPQ_PARAMETERS = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "requiressl",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslkeylogfile",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "min_protocol_version",
    "max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
    "scram_client_key",
    "scram_server_key",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
]


@pytest.fixture(autouse=True)
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ~/.postgresql/root.crt unless a test puts one there."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A CA, a client certificate it signed, its key (plain and encrypted), and junk."""
    ca_key, client_key = new_key(), new_key()
    ca = certificate("Test CA", ca_key)
    client = certificate("app", client_key, issuer=("Test CA", ca_key))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    return {
        "ca": write_pem(tmp_path / "ca.pem", ca),
        "cert": write_pem(tmp_path / "client.crt", client),
        "key": write_key(tmp_path / "client.key", client_key),
        "locked_key": write_key(tmp_path / "locked.key", client_key, password=b"open sesame"),
        "junk": junk,
    }


def connect_args(query: str, **settings: Any) -> dict[str, Any]:
    """What the app connects with for BASE?query; fails the test if asyncpg would not take it."""
    args = postgres_connect_args(make_settings(f"{BASE}?{query}", **settings))
    args.pop("prepared_statement_cache_size", None)  # SQLAlchemy's, removed before asyncpg
    inspect.signature(asyncpg.connect).bind(**args)
    return args


def refusal(query: str) -> str:
    """The startup error for BASE?query: one line."""
    with pytest.raises(ValidationError) as refused:
        make_settings(f"{BASE}?{query}")
    message = str(refused.value.errors()[0]["msg"])
    assert "\n" not in message
    return message


def test_where_and_who_come_from_the_url_and_its_libpq_parameters() -> None:
    from_url = connect_args("")
    from_query = connect_args(
        "host=/var/run/postgresql&port=6543&dbname=other&user=u&password=p%40w"
    )

    assert (
        from_url.items()
        >= {
            "host": "db.example.com",
            "port": 5433,
            "user": "app",
            "password": "secret",
            "database": "tasks",
        }.items()
    )
    assert (
        from_query.items()
        >= {
            "host": "/var/run/postgresql",
            "port": 6543,
            "user": "u",
            "password": "p@w",
            "database": "other",
        }.items()
    )


def test_no_sslmode_means_libpqs_prefer_and_disable_turns_tls_off() -> None:
    assert connect_args("")["ssl"] == "prefer"
    assert connect_args("sslmode=allow")["ssl"] == "allow"
    assert connect_args("sslmode=prefer")["ssl"] == "prefer"
    assert connect_args("sslmode=disable")["ssl"] is False


def test_require_encrypts_without_checking_the_certificate() -> None:
    context = connect_args("sslmode=require")["ssl"]

    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_require_checks_the_chain_when_a_root_certificate_is_there(
    empty_home: Path, files: dict[str, Path]
) -> None:
    given = connect_args(f"sslmode=require&sslrootcert={files['ca']}")["ssl"]
    (empty_home / ".postgresql").mkdir()
    (empty_home / ".postgresql" / "root.crt").write_bytes(files["ca"].read_bytes())
    default = connect_args("sslmode=require")["ssl"]

    for context in (given, default):
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert not context.check_hostname


@pytest.mark.parametrize(("mode", "checks_name"), [("verify-ca", False), ("verify-full", True)])
def test_verify_modes_check_the_chain_and_verify_full_the_host_name(
    files: dict[str, Path], mode: str, checks_name: bool
) -> None:
    context = connect_args(f"sslmode={mode}&sslrootcert={files['ca']}")["ssl"]

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is checks_name
    assert [authority["subject"] for authority in context.get_ca_certs()] == [
        ((("commonName", "Test CA"),),)
    ]


@pytest.mark.parametrize("query", ["sslrootcert=system", "sslmode=verify-full&sslrootcert=system"])
def test_sslrootcert_system_is_the_os_trust_store_with_verify_full(query: str) -> None:
    context = connect_args(query)["ssl"]

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats() == ssl.create_default_context().cert_store_stats()


def test_the_neon_console_url_with_verify_full_is_accepted() -> None:
    url = (
        "postgresql://app:pw@ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech/neondb"
        "?sslmode=verify-full&sslrootcert=system&channel_binding=prefer"
    )
    settings = make_settings(url)

    args = postgres_connect_args(settings)

    assert settings.uses_transaction_pooler
    assert args["statement_cache_size"] == 0
    assert args["ssl"].check_hostname


def test_client_certificates_tls_versions_crls_and_key_log(
    files: dict[str, Path], tmp_path: Path
) -> None:
    root = f"sslmode=verify-full&sslrootcert={files['ca']}"
    plain = connect_args(f"{root}&sslcert={files['cert']}&sslkey={files['key']}")
    locked = connect_args(
        f"{root}&sslcert={files['cert']}&sslkey={files['locked_key']}"
        f"&sslpassword={quote('open sesame')}"
    )
    versions = connect_args(
        f"{root}&ssl_min_protocol_version=TLSv1.3&ssl_max_protocol_version=TLSv1.3"
    )
    key_log = connect_args(f"{root}&sslkeylogfile={tmp_path / 'keys.log'}")

    assert isinstance(plain["ssl"], ssl.SSLContext)
    assert isinstance(locked["ssl"], ssl.SSLContext)
    assert versions["ssl"].minimum_version == ssl.TLSVersion.TLSv1_3
    assert versions["ssl"].maximum_version == ssl.TLSVersion.TLSv1_3
    assert key_log["ssl"].keylog_filename == str(tmp_path / "keys.log")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("application_name=tasks-api", {"application_name": "tasks-api"}),
        ("fallback_application_name=fallback", {"application_name": "fallback"}),
        (
            "options=" + quote("-c search_path=app,public -c lock_timeout=5s"),
            {"search_path": "app,public", "lock_timeout": "5s"},
        ),
        (
            "options=" + quote("-csearch_path=app --work-mem=8MB"),
            {"search_path": "app", "work_mem": "8MB"},
        ),
        (
            "options=" + quote(r"-c application_name=with\ space"),
            {"application_name": "with space"},
        ),
        ("options=" + quote("-c statement_timeout=2s"), {"statement_timeout": "2s"}),
    ],
)
def test_options_and_application_name_become_startup_settings(
    query: str, expected: dict[str, str]
) -> None:
    # On a direct connection (a transaction pooler gets no startup settings at all).
    args = connect_args(query, db_statement_timeout=10, db_transaction_pooling=False)
    server_settings = args["server_settings"]

    assert server_settings == {"statement_timeout": "10000", **expected}


def test_connect_timeout_overrides_db_connect_timeout() -> None:
    assert connect_args("", db_connect_timeout=5)["timeout"] == 5
    assert connect_args("connect_timeout=12", db_connect_timeout=5)["timeout"] == 12


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("target_session_attrs=read-write", {"target_session_attrs": "read-write"}),
        ("target_session_attrs=prefer-standby", {"target_session_attrs": "prefer-standby"}),
        ("krbsrvname=postgres", {"krbsrvname": "postgres"}),
        ("gsslib=gssapi", {"gsslib": "gssapi"}),
        ("passfile=/etc/app/pgpass", {"passfile": "/etc/app/pgpass"}),
        ("sslmode=require&sslnegotiation=direct", {"direct_tls": True}),
    ],
)
def test_parameters_asyncpg_has_are_passed_on(query: str, expected: dict[str, Any]) -> None:
    assert connect_args(query).items() >= expected.items()


@pytest.mark.parametrize(
    "query",
    [
        "channel_binding=prefer",
        "channel_binding=disable",
        "client_encoding=UTF8",
        "gssencmode=prefer",
        "gssencmode=disable",
        "sslsni=1",
        "sslcompression=0",
        "sslcertmode=allow",
        "sslnegotiation=postgres",
        "load_balance_hosts=disable",
        "replication=false",
        "gssdelegation=0",
        "min_protocol_version=3.0",
        "max_protocol_version=3.0",
    ],
)
def test_values_that_mean_what_asyncpg_does_anyway_are_accepted(query: str) -> None:
    assert connect_args(query)["host"] == "db.example.com"


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (
            "sslmode=require&channel_binding=require",
            "channel_binding=require is not supported by this service: asyncpg",
        ),
        ("sslmode=verify-full", "add sslrootcert=system"),
        ("sslmode=verify-ca", "add sslrootcert=system"),
        ("sslmode=verify-ca&sslrootcert=system", "use sslmode=verify-full"),
        ("sslmode=require&sslrootcert=system", "use sslmode=verify-full"),
        ("sslmode=always", "sslmode=always is not valid"),
        ("sslmode=verify-full&sslrootcert=/no/such/ca.pem", "sslrootcert /no/such/ca.pem"),
        ("sslmode=prefer&sslrootcert=/etc/ca.pem", "sslrootcert has no effect with sslmode=prefer"),
        ("sslmode=disable&sslcert=/etc/c.crt", "sslcert has no effect with sslmode=disable"),
        ("sslmode=require&sslkey=/etc/c.key", "sslkey/sslpassword need sslcert"),
        ("sslmode=require&sslcrl=/etc/c.crl", "sslcrl/sslcrldir need a certificate check"),
        ("sslnegotiation=direct", "sslnegotiation=direct needs sslmode=require"),
        ("sslmode=require&ssl_min_protocol_version=SSLv3", "ssl_min_protocol_version=SSLv3"),
        ("sslmode=require&sslmode=disable", "gives sslmode more than once"),
        ("options=" + quote("-X debug"), "only -c name=value"),
        ("options=" + quote("-c search_path"), "not name=value"),
        ("connect_timeout=0", "connect_timeout=0 must be a positive whole number"),
        ("connect_timeout=ten", "connect_timeout=ten must be a positive whole number"),
        ("target_session_attrs=leader", "target_session_attrs=leader is not valid"),
        ("gsslib=kerberos", "gsslib=kerberos is not valid"),
        ("port=54x", "port=54x is not a TCP port number"),
        ("port=0", "port=0 is not a TCP port number"),
        ("host=a.example.com,b.example.com", "several hosts"),
        ("client_encoding=LATIN1", "client_encoding=LATIN1 is not supported"),
        ("gssencmode=require", "gssencmode=require is not supported"),
        ("sslsni=0", "sslsni=0 is not supported"),
        ("sslcertmode=require", "sslcertmode=require is not supported"),
        ("replication=database", "replication=database is not supported"),
        ("hostaddr=10.0.0.1", "parameter hostaddr is not supported"),
        ("service=prod", "parameter service is not supported"),
        ("keepalives_idle=30", "parameter keepalives_idle is not supported"),
        ("require_auth=scram-sha-256", "parameter require_auth is not supported"),
        ("oauth_issuer=https://issuer.example.com", "parameter oauth_issuer is not supported"),
        ("statement_cache=0", "parameter statement_cache is not a libpq connection parameter"),
        ("ssl=true", "parameter ssl is not a libpq connection parameter"),
    ],
)
def test_what_asyncpg_cannot_honour_is_refused_at_startup_naming_it(query: str, says: str) -> None:
    message = refusal(query)

    assert message.startswith("Value error, DATABASE_URL")
    assert says in message


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}?sslmode=verify-full",
        f"{BASE}?channel_binding=require",
        "postgresql://app:secret@db.example.com:54x/tasks",
        "mysql://app:secret@db.example.com/tasks",
    ],
)
def test_a_refused_url_is_never_echoed_with_its_password(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings(url)

    assert "DATABASE_URL" in str(refused.value)
    assert "secret" not in str(refused.value)


def test_bad_certificate_files_and_key_passwords_are_refused(files: dict[str, Path]) -> None:
    root = f"sslmode=verify-full&sslrootcert={files['ca']}"

    assert "sslrootcert" in refusal(f"sslmode=verify-full&sslrootcert={files['junk']}")
    assert "sslcert/sslkey/sslpassword" in refusal(
        f"{root}&sslcert={files['cert']}&sslkey={files['locked_key']}&sslpassword=wrong"
    )
    assert "sslcert/sslkey/sslpassword" in refusal(f"{root}&sslcert={files['junk']}")


def test_a_missing_root_certificate_names_the_file_and_the_fix(empty_home: Path) -> None:
    message = refusal("sslmode=verify-full")

    assert str(empty_home / ".postgresql" / "root.crt") in message
    assert "sslrootcert=system" in message


@pytest.mark.parametrize("name", LIBPQ_PARAMETERS)
def test_every_libpq_parameter_is_translated_or_refused_by_name(
    name: str, files: dict[str, Path]
) -> None:
    """A plausible value of each: what asyncpg.connect takes, or a startup error naming it."""
    values = {
        "sslrootcert": str(files["ca"]),
        "sslcert": str(files["cert"]),
        "sslkey": str(files["key"]),
        "sslcrl": str(files["junk"]),
        "sslcrldir": str(files["ca"].parent),
        "port": "6432",
        "connect_timeout": "10",
        "options": "-c search_path=app",
        "sslkeylogfile": str(files["ca"].parent / "keys.log"),
    }
    query = f"sslmode=verify-full&sslrootcert={files['ca']}&{name}={values.get(name, '1')}"
    if name in ("sslmode", "sslrootcert"):
        query = f"sslmode=verify-full&sslrootcert={files['ca']}"
    try:
        connect_args(query)
    except ValidationError as refused:
        message = str(refused.errors()[0]["msg"])
        assert name in message
        assert "\n" not in message
