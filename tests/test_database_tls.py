"""TLS to PostgreSQL, verified for real: a cluster of our own serves a certificate signed by a
CA made here, and the app connects through its own paths (the request pool behind /readyz,
and `python -m backend migrate` on the SQLAlchemy engine).

The certificate names localhost and 127.0.0.1; the server (or the TLS front standing before a
server built without SSL) also listens on 127.0.0.2, a name the certificate does not hold.
"""

import ipaddress
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from backend.db import create_engine
from backend.main import create_app
from backend.migrate import upgrade

from certificates import certificate, new_key, write_key, write_pem
from postgres_tls_proxy import PostgresTlsProxy
from processes import ROOT, ThrowawayPostgres, cluster_owner
from support import make_settings, run_in_fresh_loop, serving

pytestmark = pytest.mark.own_cluster

WRONG_HOST = "127.0.0.2"


@dataclass
class TlsCluster:
    port: int
    ca_file: Path
    unknown_ca_file: Path

    def url(self, query: str, host: str = "localhost") -> str:
        return f"postgresql://postgres@{host}:{self.port}/postgres?{query}"


# Only TLS connections are let in (besides the Unix socket), so an "ok" below was encrypted.
TLS_ONLY_HBA = f"""local all all trust
hostssl all all 127.0.0.1/32 trust
hostssl all all {WRONG_HOST}/32 trust
"""
PLAIN_HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    """A migrated cluster with a server certificate from our own CA, over TLS only: its own
    (ssl=on) where the binaries have SSL, else behind `PostgresTlsProxy` (the wheel's have not).
    """
    files = tmp_path_factory.mktemp("tls")
    ca_key, unknown_ca_key, server_key = (new_key() for _ in "abc")
    ca = certificate("Task API test CA", ca_key)
    server = certificate(
        "localhost",
        server_key,
        issuer=("Task API test CA", ca_key),
        names=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    tls = TlsCluster(
        port=0,
        ca_file=write_pem(files / "ca.pem", ca),
        unknown_ca_file=write_pem(
            files / "unknown-ca.pem", certificate("Someone else's CA", unknown_ca_key)
        ),
    )
    cluster = ThrowawayPostgres()
    proxy = None
    try:
        server_cert, server_key_file = _server_files(cluster.directory, server, server_key)
        hba = cluster.data / "pg_hba.conf"
        hba.write_text(TLS_ONLY_HBA)
        try:
            cluster.start(
                "ssl=on",
                f"ssl_cert_file={server_cert}",
                f"ssl_key_file={server_key_file}",
                f"listen_addresses=127.0.0.1,{WRONG_HOST}",
            )
            tls.port = cluster.port
        except RuntimeError as error:
            if "SSL is not supported by this build" not in str(error):
                raise
            hba.write_text(PLAIN_HBA)
            cluster.start()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(server_cert, server_key_file)
            proxy = PostgresTlsProxy(cluster.port, context, ["127.0.0.1", WRONG_HOST])
            tls.port = proxy.port
        run_in_fresh_loop(_migrate(tls.url(f"sslmode=verify-full&sslrootcert={tls.ca_file}")))
        yield tls
    finally:
        if proxy is not None:
            proxy.close()
        cluster.destroy()


def _server_files(
    directory: Path, server_certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    """The server's certificate and key, owned by the cluster's owner: PostgreSQL reads a
    key only when it is its own and private."""
    cert_file = write_pem(directory / "server.crt", server_certificate)
    key_file = write_key(directory / "server.key", key)
    owner = cluster_owner()
    if owner is not None:
        for path in (cert_file, key_file):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    return cert_file, key_file


async def _migrate(url: str) -> None:
    engine = create_engine(make_settings(url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home without ~/.postgresql/root.crt, so that only the URL decides what is trusted."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


async def readiness_through_the_pool(url: str) -> dict[str, str]:
    """What /readyz says of the database when the app serves on `url` (the request pool)."""
    app = create_app(make_settings(url))
    async with serving(app) as http:
        response = await http.get("/readyz")
    body = response.json()
    checks: dict[str, str] = (
        body["checks"] if response.status_code == 200 else body["detail"]["checks"]
    )
    assert (response.status_code == 200) == (checks["database"] == "ok"), response.text
    return checks


def migrate_command(url: str, home: Path) -> subprocess.CompletedProcess[str]:
    """`python -m backend migrate` on `url`, as an operator runs it (the SQLAlchemy engine)."""
    return subprocess.run(
        [sys.executable, "-m", "backend", "migrate"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": url, "HOME": str(home)},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_verify_full_with_the_ca_file_serves_over_tls(
    tls_cluster: TlsCluster, empty_home: Path
) -> None:
    for host in ("localhost", "127.0.0.1"):
        url = tls_cluster.url(f"sslmode=verify-full&sslrootcert={tls_cluster.ca_file}", host)

        assert (await readiness_through_the_pool(url))["database"] == "ok"


def test_migrate_command_verifies_the_certificate(
    tls_cluster: TlsCluster, empty_home: Path
) -> None:
    good = tls_cluster.url(f"sslmode=verify-full&sslrootcert={tls_cluster.ca_file}")
    wrong_host = tls_cluster.url(
        f"sslmode=verify-full&sslrootcert={tls_cluster.ca_file}", WRONG_HOST
    )

    migrated = migrate_command(good, empty_home)
    refused = migrate_command(wrong_host, empty_home)

    assert migrated.returncode == 0, migrated.stderr
    assert refused.returncode != 0
    assert "certificate verify failed" in refused.stderr
    assert WRONG_HOST in refused.stderr


async def test_verify_full_refuses_a_host_the_certificate_does_not_name_and_verify_ca_accepts_it(
    tls_cluster: TlsCluster, empty_home: Path
) -> None:
    root = f"sslrootcert={tls_cluster.ca_file}"

    full = await readiness_through_the_pool(
        tls_cluster.url(f"sslmode=verify-full&{root}", WRONG_HOST)
    )
    chain_only = await readiness_through_the_pool(
        tls_cluster.url(f"sslmode=verify-ca&{root}", WRONG_HOST)
    )

    assert "SSLCertVerificationError" in full["database"]
    assert chain_only["database"] == "ok"


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
async def test_a_certificate_from_an_unknown_ca_is_refused(
    tls_cluster: TlsCluster, empty_home: Path, mode: str
) -> None:
    url = tls_cluster.url(f"sslmode={mode}&sslrootcert={tls_cluster.unknown_ca_file}")

    checks = await readiness_through_the_pool(url)

    assert "SSLCertVerificationError" in checks["database"]


async def test_the_system_trust_store_does_not_trust_a_self_made_ca(
    tls_cluster: TlsCluster, empty_home: Path
) -> None:
    for query in ("sslrootcert=system", "sslmode=verify-full&sslrootcert=system"):
        checks = await readiness_through_the_pool(tls_cluster.url(query))

        assert "SSLCertVerificationError" in checks["database"]


async def test_require_encrypts_without_checking_and_checks_the_chain_given_a_rootcertificate(
    tls_cluster: TlsCluster, empty_home: Path
) -> None:
    unchecked = await readiness_through_the_pool(tls_cluster.url("sslmode=require"))
    (empty_home / ".postgresql").mkdir()
    (empty_home / ".postgresql" / "root.crt").write_bytes(tls_cluster.unknown_ca_file.read_bytes())
    checked = await readiness_through_the_pool(tls_cluster.url("sslmode=require"))

    assert unchecked["database"] == "ok"
    assert "SSLCertVerificationError" in checked["database"]


async def test_the_default_root_certificate_file_is_used_when_present(
    tls_cluster: TlsCluster, empty_home: Path
) -> None:
    (empty_home / ".postgresql").mkdir()
    (empty_home / ".postgresql" / "root.crt").write_bytes(tls_cluster.ca_file.read_bytes())

    checks = await readiness_through_the_pool(tls_cluster.url("sslmode=verify-full"))

    assert checks["database"] == "ok"
