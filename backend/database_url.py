"""A PostgreSQL DATABASE_URL, as the keyword arguments of `asyncpg.connect`.

Operators paste libpq URLs (Neon's console prints `?sslmode=require&channel_binding=require`).
asyncpg reads only some libpq parameters, and SQLAlchemy hands the rest to it as keywords,
where they crashed startup with a TypeError. So every libpq parameter is translated here, once,
or refused with a one-line message naming it, and so is the TLS decision (libpq's `sslmode`
meanings), made as an `ssl.SSLContext`. The request pool (`db.open_runner`) and the SQLAlchemy
engine of migrations and the CLI both connect with what `asyncpg_connect_args` returns.
"""

import ssl
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Neon's pooled endpoints are PgBouncer in transaction mode: ep-name-123456-pooler.region...
_POOLER_HOST_MARKER = "-pooler."
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# libpq's sslmode when the URL names none; with sslrootcert=system libpq makes it verify-full.
DEFAULT_SSLMODE = "prefer"
SYSTEM_ROOT_CERT = "system"
TARGET_SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
TLS_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
# libpq's floor since PostgreSQL 13, which the context keeps unless the URL raises it.
DEFAULT_MIN_TLS_VERSION = "TLSv1.2"

# TLS settings that only mean something when this module builds the TLS context (sslmode
# require or stronger); with disable/allow/prefer they would be silently ignored.
_TLS_CONTEXT_PARAMS = (
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "sslkeylogfile",
)

# Parameters accepted only with the value(s) that mean what asyncpg does anyway.
_ONLY_VALUES: dict[str, tuple[tuple[str, ...], str]] = {
    "channel_binding": (
        ("prefer", "disable"),
        f"asyncpg {asyncpg.__version__} has no SCRAM-SHA-256-PLUS; remove it or write "
        "channel_binding=prefer, and use sslmode=verify-full&sslrootcert=system, whose "
        "certificate check proves the server is the one named",
    ),
    "client_encoding": (("UTF8", "utf8", "UTF-8", "utf-8"), "asyncpg always speaks UTF8"),
    "gssencmode": (("prefer", "disable"), "asyncpg has no GSSAPI encryption"),
    "gssdelegation": (("0",), "asyncpg does not delegate GSSAPI credentials"),
    "load_balance_hosts": (("disable",), "only one host is supported"),
    "sslsni": (("1",), "asyncpg always sends the host name (SNI)"),
    "sslcompression": (("0",), "TLS compression is obsolete and never used"),
    "sslcertmode": (("allow",), "asyncpg sends a client certificate when sslcert names one"),
    "sslnegotiation": (("postgres", "direct"), "libpq accepts postgres or direct"),
    "replication": (("0", "false", "off", "no"), "a replication connection cannot serve the API"),
    "min_protocol_version": (("3.0",), "asyncpg speaks protocol 3.0"),
    "max_protocol_version": (("3.0",), "asyncpg speaks protocol 3.0"),
}

# libpq parameters asyncpg has no equivalent for: refused, with what to do instead.
_REFUSED: dict[str, str] = {
    "hostaddr": "asyncpg connects by host name; put the address in the URL's host",
    "service": "a service file would bypass these checks; put its parameters in DATABASE_URL",
    "require_auth": "asyncpg cannot restrict the server's authentication methods",
    "requirepeer": "asyncpg cannot check the server's Unix user",
    "requiressl": "it was removed from libpq; use sslmode=require or stronger",
    "keepalives": "asyncpg does not expose TCP keepalives; DB_POOL_PRE_PING finds dead connections",
    "keepalives_idle": "asyncpg does not expose TCP keepalives; use DB_POOL_PRE_PING",
    "keepalives_interval": "asyncpg does not expose TCP keepalives; use DB_POOL_PRE_PING",
    "keepalives_count": "asyncpg does not expose TCP keepalives; use DB_POOL_PRE_PING",
    "tcp_user_timeout": "asyncpg does not expose it; DB_STATEMENT_TIMEOUT bounds each statement",
    "scram_client_key": "asyncpg authenticates with the password only",
    "scram_server_key": "asyncpg authenticates with the password only",
    "oauth_issuer": "asyncpg has no OAuth authentication",
    "oauth_client_id": "asyncpg has no OAuth authentication",
    "oauth_client_secret": "asyncpg has no OAuth authentication",
    "oauth_scope": "asyncpg has no OAuth authentication",
}

# Parameters handled by name below (besides those in the two tables above).
_TRANSLATED = frozenset(
    {
        "host",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "sslmode",
        "options",
        "application_name",
        "fallback_application_name",
        "connect_timeout",
        "target_session_attrs",
        "krbsrvname",
        "gsslib",
        *_TLS_CONTEXT_PARAMS,
    }
)


class DatabaseUrlError(ValueError):
    """A DATABASE_URL this service cannot honour as written; the message says what to change."""


def is_pooler_host(url: str) -> bool:
    """Whether the URL names a Neon pooled endpoint (PgBouncer in transaction mode)."""
    try:
        host = make_url(url).host or ""
    except (ArgumentError, ValueError):
        return False
    return _POOLER_HOST_MARKER in host


def asyncpg_connect_args(url: str) -> dict[str, Any]:
    """`asyncpg.connect` keywords for a PostgreSQL URL: where, who, and how (TLS included).

    Raises DatabaseUrlError, one line naming the parameter, for anything it cannot honour.
    `timeout` and `server_settings` are only there when the URL sets them (connect_timeout,
    options, application_name); `db.postgres_connect_args` adds the settings' own.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        # The parser's own message may quote the URL, password included.
        raise DatabaseUrlError(
            "DATABASE_URL: cannot be parsed; write postgresql://user:password@host:port/database, "
            "the port a number, special characters in the password percent-encoded"
        ) from None
    params = _single_values(dict(parsed.query))
    args: dict[str, Any] = {
        "host": params.pop("host", parsed.host),
        "port": _port(params.pop("port", None), parsed.port),
        "user": params.pop("user", parsed.username),
        "password": params.pop("password", parsed.password),
        "database": params.pop("dbname", parsed.database),
    }
    if args["host"] and "," in args["host"]:
        raise DatabaseUrlError("DATABASE_URL: names several hosts: give exactly one")
    _check_values(params)
    args["ssl"] = _ssl_argument(params)
    if params.pop("sslnegotiation", "postgres") == "direct":
        if not isinstance(args["ssl"], ssl.SSLContext):
            raise DatabaseUrlError(
                "DATABASE_URL: sslnegotiation=direct needs sslmode=require, verify-ca or "
                "verify-full"
            )
        args["direct_tls"] = True
    server_settings = _server_settings(params)
    if server_settings:
        args["server_settings"] = server_settings
    if "connect_timeout" in params:
        args["timeout"] = _connect_timeout(params.pop("connect_timeout"))
    if "target_session_attrs" in params:
        args["target_session_attrs"] = _one_of(
            "target_session_attrs", params.pop("target_session_attrs"), TARGET_SESSION_ATTRS
        )
    if "gsslib" in params:
        args["gsslib"] = _one_of("gsslib", params.pop("gsslib"), ("gssapi", "sspi"))
    for name in ("passfile", "krbsrvname"):
        if name in params:
            args[name] = params.pop(name)
    return {key: value for key, value in args.items() if value is not None}


def _single_values(query: dict[str, str | tuple[str, ...]]) -> dict[str, str]:
    """The URL's query as one value per name; a name given twice is ambiguous, so refused."""
    values: dict[str, str] = {}
    for name, value in query.items():
        if isinstance(value, tuple):
            raise DatabaseUrlError(f"DATABASE_URL: gives {name} more than once: give it once")
        values[name] = value
    return values


def _check_values(params: dict[str, str]) -> None:
    """Refuse unknown parameters and those asyncpg cannot honour, naming the first one."""
    for name, value in params.items():
        if name in _REFUSED:
            reason = _REFUSED[name]
            raise DatabaseUrlError(f"DATABASE_URL: parameter {name} is not supported: {reason}")
        if name in _ONLY_VALUES:
            accepted, reason = _ONLY_VALUES[name]
            if value not in accepted:
                raise DatabaseUrlError(
                    f"DATABASE_URL: {name}={value} is not supported by this service: {reason} "
                    f"(accepted: {', '.join(accepted)})"
                )
        elif name not in _TRANSLATED:
            raise DatabaseUrlError(
                f"DATABASE_URL: parameter {name} is not a libpq connection parameter: remove it"
            )


def _port(query_port: str | None, url_port: int | None) -> int | None:
    if query_port is None:
        return url_port
    if not query_port.isascii() or not query_port.isdigit() or not 0 < int(query_port) < 65536:
        raise DatabaseUrlError(f"DATABASE_URL: port={query_port} is not a TCP port number")
    return int(query_port)


def _one_of(name: str, value: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise DatabaseUrlError(
            f"DATABASE_URL: {name}={value} is not valid; accepted: {', '.join(accepted)}"
        )
    return value


def _connect_timeout(value: str) -> float:
    """libpq's whole seconds; its 0 (wait forever) would hang requests, so it is refused."""
    if not value.isascii() or not value.isdigit() or int(value) == 0:
        raise DatabaseUrlError(
            f"DATABASE_URL: connect_timeout={value} must be a positive whole number of seconds"
        )
    return float(value)


def _server_settings(params: dict[str, str]) -> dict[str, str]:
    """Startup settings from `options` (`-c name=value`) and `application_name`."""
    settings = _parse_options(params.pop("options", ""))
    fallback = params.pop("fallback_application_name", None)
    application_name = params.pop("application_name", None) or fallback
    if application_name:
        settings["application_name"] = application_name
    return settings


def _parse_options(options: str) -> dict[str, str]:
    """libpq's `options`: `-c name=value` or `--name=value` words, `\\` escaping a space."""
    settings: dict[str, str] = {}
    words = _option_words(options)
    position = 0
    while position < len(words):
        word = words[position]
        if word == "-c" and position + 1 < len(words):
            position += 1
            setting = words[position]
        elif (word.startswith("-c") and len(word) > 2) or word.startswith("--"):
            setting = word[2:]
        else:
            raise DatabaseUrlError(
                f"DATABASE_URL: options={options!r} holds {word!r}; only -c name=value "
                "(or --name=value) settings are supported"
            )
        name, equals, value = setting.partition("=")
        if not name or not equals:
            raise DatabaseUrlError(
                f"DATABASE_URL: options={options!r} holds {setting!r}, not name=value"
            )
        settings[name.replace("-", "_")] = value
        position += 1
    return settings


def _option_words(options: str) -> list[str]:
    """Split on whitespace, as the server does; a backslash keeps the next character."""
    words: list[str] = []
    current: list[str] = []
    escaped = False
    for character in options:
        if escaped:
            current.append(character)
            escaped = False
        elif character == "\\":
            escaped = True
        elif character.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(character)
    if current:
        words.append("".join(current))
    return words


def _ssl_argument(params: dict[str, str]) -> ssl.SSLContext | str | bool:
    """asyncpg's `ssl`: False, libpq's opportunistic mode by name, or a context of our own.

    allow and prefer stay asyncpg's own (an unverified context), because asyncpg falls back
    to plain text only when `ssl` names one of them; from require on, the context is ours.
    """
    rootcert = params.get("sslrootcert")
    default = "verify-full" if rootcert == SYSTEM_ROOT_CERT else DEFAULT_SSLMODE
    mode = _one_of("sslmode", params.pop("sslmode", default), SSLMODES)
    if mode in ("disable", "allow", "prefer"):
        given = [name for name in _TLS_CONTEXT_PARAMS if name in params]
        if given:
            raise DatabaseUrlError(
                f"DATABASE_URL: {given[0]} has no effect with sslmode={mode}: use "
                "sslmode=verify-full (or require, verify-ca)"
            )
        return False if mode == "disable" else mode
    return _tls_context(mode, params)


def _tls_context(mode: str, params: dict[str, str]) -> ssl.SSLContext:
    """The context for sslmode require, verify-ca or verify-full, with libpq's meanings.

    require encrypts without checking the certificate, unless a root certificate is there
    (sslrootcert, or ~/.postgresql/root.crt), when it checks the chain as verify-ca does;
    verify-ca checks the chain; verify-full checks the chain and the host name.
    `sslrootcert=system` is the operating system's trust store, with verify-full only: any
    host can get a certificate from a public CA, so only the name check makes it mean much.
    """
    rootcert = params.pop("sslrootcert", None)
    if rootcert == SYSTEM_ROOT_CERT:
        if mode != "verify-full":
            raise DatabaseUrlError(
                f"DATABASE_URL: sslmode={mode} may not be used with sslrootcert=system (any "
                "host can get a certificate from a public CA): use sslmode=verify-full"
            )
        context = ssl.create_default_context()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = mode == "verify-full"
        root = _root_certificate(mode, rootcert)
        if root is None:
            context.verify_mode = ssl.CERT_NONE
        else:
            _load(context.load_verify_locations, "sslrootcert", root, cafile=root)
    _add_revocation_lists(context, params)
    _add_client_certificate(context, params)
    _set_tls_versions(context, params)
    if "sslkeylogfile" in params:
        context.keylog_filename = params.pop("sslkeylogfile")
    if ssl.HAS_ALPN:
        # What PostgreSQL 17+ requires for direct TLS; servers that do not know it ignore it.
        context.set_alpn_protocols(["postgresql"])
    return context


def _root_certificate(mode: str, rootcert: str | None) -> str | None:
    """The CA file to check the server against: sslrootcert, else libpq's default file."""
    if rootcert is not None:
        return str(Path(rootcert).expanduser())
    try:
        default = Path.home() / ".postgresql" / "root.crt"
    except RuntimeError:
        default = None
    if default is not None and default.is_file():
        return str(default)
    if mode == "require":
        return None
    raise DatabaseUrlError(
        f"DATABASE_URL: sslmode={mode} checks the server's certificate against "
        f"{default or '~/.postgresql/root.crt'}, which does not exist: add sslrootcert=system "
        "to trust the operating system's CAs (Neon, most hosted PostgreSQL), or "
        "sslrootcert=/path/to/ca.pem"
    )


def _add_revocation_lists(context: ssl.SSLContext, params: dict[str, str]) -> None:
    crl, crl_dir = params.pop("sslcrl", None), params.pop("sslcrldir", None)
    if crl is None and crl_dir is None:
        return
    if context.verify_mode == ssl.CERT_NONE:
        raise DatabaseUrlError(
            "DATABASE_URL: sslcrl/sslcrldir need a certificate check: use sslmode=verify-full "
            "with sslrootcert"
        )
    if crl is not None:
        _load(context.load_verify_locations, "sslcrl", crl, cafile=crl)
    if crl_dir is not None:
        _load(context.load_verify_locations, "sslcrldir", crl_dir, capath=crl_dir)
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN


def _add_client_certificate(context: ssl.SSLContext, params: dict[str, str]) -> None:
    """sslcert with sslkey (default: the certificate file) and sslpassword for the key."""
    cert, key = params.pop("sslcert", None), params.pop("sslkey", None)
    password = params.pop("sslpassword", None)
    if cert is None:
        if key is not None or password is not None:
            raise DatabaseUrlError(
                "DATABASE_URL: sslkey/sslpassword need sslcert (the client certificate)"
            )
        return
    _load(
        context.load_cert_chain,
        "sslcert/sslkey/sslpassword",
        cert,
        certfile=cert,
        keyfile=key,
        # A callable, so that a key without a password never waits for a prompt.
        password=lambda: password or "",
    )


def _set_tls_versions(context: ssl.SSLContext, params: dict[str, str]) -> None:
    names = tuple(TLS_VERSIONS)
    lowest = params.pop("ssl_min_protocol_version", DEFAULT_MIN_TLS_VERSION)
    context.minimum_version = TLS_VERSIONS[_one_of("ssl_min_protocol_version", lowest, names)]
    if "ssl_max_protocol_version" in params:
        highest = _one_of("ssl_max_protocol_version", params.pop("ssl_max_protocol_version"), names)
        context.maximum_version = TLS_VERSIONS[highest]


def _load(loader: Any, name: str, path: str, **arguments: Any) -> None:
    """Load a certificate, key or CRL file, turning a missing or bad file into one line."""
    try:
        loader(**arguments)
    except (OSError, ssl.SSLError, ValueError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise DatabaseUrlError(f"DATABASE_URL: {name} {path} cannot be used: {reason}") from None
