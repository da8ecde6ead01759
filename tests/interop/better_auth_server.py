"""Runs the real `better-auth` npm package (tests/interop/better-auth/server.mjs) for the tests.

Where Node.js or the installed package is missing the interop tests skip, saying why; under
`CI=true` they fail instead, since CI must prove the API against the real library.
"""

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from support import free_ports

PACKAGE_DIR = Path(__file__).parent / "better-auth"
START_TIMEOUT_SECONDS = 60

# name -> the jwt() plugin options the instance differs by.
INSTANCES: dict[str, dict[str, str]] = {
    "main": {},  # Better Auth's defaults: EdDSA (Ed25519) keys, 15-minute tokens
    "other": {},  # the same setup with its own keys: another deployment
    "es256": {"alg": "ES256"},
    "rs256": {"alg": "RS256"},
    "expired": {"expiresIn": "2 minutes ago"},  # Better Auth's own expirationTime setting
    "rotating": {},  # its keys get rotated by a test
}


def node_or_skip() -> str:
    """The `node` executable; skip (fail under CI) when the interop setup is incomplete."""
    node = shutil.which("node")
    if node is None:
        reason = "Node.js is not installed (the Better Auth interop tests need node 20+)"
    elif not (PACKAGE_DIR / "node_modules" / "better-auth").is_dir():
        reason = f"better-auth is not installed: run `npm ci` in {PACKAGE_DIR} (make test does)"
    else:
        return node
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the Better Auth interop tests: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class BetterAuthUser:
    id: str
    email: str
    token: str


@dataclass
class BetterAuth:
    """One running Better Auth instance: its base URL and the frontend actions tests need."""

    url: str

    def _control(self, action: str, **body: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/control/{action}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def sign_up(self, name: str) -> BetterAuthUser:
        """A new user, signed up with email and password, and their token from /api/auth/token."""
        email = f"{name.lower()}-{secrets.token_hex(4)}@example.com"
        result = self._control("users", email=email, password=secrets.token_urlsafe(12), name=name)
        return BetterAuthUser(id=result["id"], email=email, token=result["token"])

    def new_token(self, user: BetterAuthUser) -> str:
        return str(self._control("token", email=user.email)["token"])

    def rotate_keys(self) -> None:
        self._control("rotate")

    def retire_rotated_keys(self) -> None:
        self._control("retire")

    def jwks(self) -> dict[str, Any]:
        document: dict[str, Any] = httpx.get(f"{self.url}/api/auth/jwks", timeout=30).json()
        return document


@contextmanager
def running_better_auth() -> Iterator[dict[str, BetterAuth]]:
    """Start every instance of `INSTANCES` in one Node process; stop it afterwards."""
    node = node_or_skip()
    ports = free_ports(len(INSTANCES))
    config = [
        {"name": name, "port": port, **options}
        for (name, options), port in zip(INSTANCES.items(), ports, strict=True)
    ]
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [node, "server.mjs", json.dumps(config)],
            cwd=PACKAGE_DIR,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            ready = _wait_until_ready(process, log)
            yield {name: BetterAuth(url) for name, url in ready.items()}
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_until_ready(process: subprocess.Popen[str], log: IO[str]) -> dict[str, str]:
    """The instances' URLs from the process's one line of output, once it prints it."""
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_SECONDS)
    if not lines or not lines[0].strip():
        process.kill()
        log.seek(0)
        raise RuntimeError(f"Better Auth did not start: {log.read()[-2000:]}")
    ready: dict[str, str] = json.loads(lines[0])["ready"]
    return ready
