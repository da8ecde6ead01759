"""A real JWKS endpoint on loopback for the tests: keys they sign with, and a switch for outages.

It runs `http.server` in a thread, counts every request it receives, and can answer as a healthy
endpoint, an erroring one, a slow one, or one returning garbage.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from support import free_port

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass
class SigningKey:
    """A key pair as Better Auth's JWT plugin keeps one: a `kid`, an algorithm, a private key."""

    kid: str
    algorithm: str
    private_key: PrivateKey

    @classmethod
    def generate(cls, kid: str, algorithm: str = "EdDSA") -> "SigningKey":
        private_key: PrivateKey
        if algorithm == "EdDSA":
            private_key = ed25519.Ed25519PrivateKey.generate()
        elif algorithm == "ES256":
            private_key = ec.generate_private_key(ec.SECP256R1())
        else:
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid, algorithm, private_key)

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public: dict[str, Any] = algorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.algorithm}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, **header}
        return jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers=headers)


@dataclass
class JwksServer:
    """The endpoint's state; tests change `keys` and `mode` while it serves."""

    port: int
    keys: list[SigningKey] = field(default_factory=list)
    mode: str = "ok"  # ok | error | garbage | slow
    slow_seconds: float = 10.0
    requests: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/auth/jwks"

    def document(self) -> bytes:
        return json.dumps({"keys": [key.public_jwk() for key in self.keys]}).encode()


def _handler(state: JwksServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            if state.mode == "slow":
                state.release.wait(state.slow_seconds)
            if state.mode == "error":
                self._answer(500, b"upstream exploded", "text/plain")
            elif state.mode == "garbage":
                self._answer(200, b"<html>not a key set</html>", "text/html")
            else:
                self._answer(200, state.document(), "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting: what a slow endpoint is for

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read `requests`, not the log."""

    return Handler


@contextmanager
def serving_jwks(*keys: SigningKey) -> Iterator[JwksServer]:
    """Serve `keys` as a JWKS on a loopback port until the block ends."""
    state = JwksServer(port=free_port(), keys=list(keys))
    server = ThreadingHTTPServer(("127.0.0.1", state.port), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def claims_for(user_id: str, **overrides: Any) -> dict[str, Any]:
    """Claims shaped like Better Auth's: `sub`, the user object, `iat`, `exp` in 15 minutes."""
    now = int(time.time())
    return {
        "sub": user_id,
        "id": user_id,
        "email": f"{user_id}@example.com",
        "name": user_id.title(),
        "emailVerified": False,
        "iat": now,
        "exp": now + 900,
        **overrides,
    }
