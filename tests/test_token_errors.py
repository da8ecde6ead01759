"""No PyJWT exception can become a 500: each class is a 401 or a 503, as docs/authentication.md
shows."""

import re
from pathlib import Path
from typing import Any

import jwt
from fastapi import FastAPI
from httpx import AsyncClient

from backend.tokens import TokenVerifier, auth_error_from_pyjwt

from support import token_for

TABLE = Path(__file__).resolve().parents[1] / "docs" / "authentication.md"


def pyjwt_error_classes() -> list[type[jwt.PyJWTError]]:
    """Every exception class PyJWT defines, found by walking the hierarchy (not a list)."""
    found: list[type[jwt.PyJWTError]] = []
    pending: list[type[jwt.PyJWTError]] = [jwt.PyJWTError]
    while pending:
        error_class = pending.pop()
        if error_class.__module__.startswith("jwt"):
            found.append(error_class)
        pending.extend(error_class.__subclasses__())
    return found


class RaisingKeySource:
    """A key source that fails with a given PyJWT error, as a real one might."""

    algorithms = frozenset({"HS256"})
    generation = 0

    def __init__(self, error: jwt.PyJWTError) -> None:
        self._error = error

    def describe(self) -> str:
        return f"raises {type(self._error).__name__}"

    def refresh_if_due(self) -> None:
        """Nothing to refresh."""

    async def start(self) -> None:
        """Nothing to start."""

    async def aclose(self) -> None:
        """Nothing to close."""

    async def decode(self, token: str, header: dict[str, Any]) -> dict[str, Any]:
        raise self._error


def test_the_walk_finds_the_classes_the_issue_names() -> None:
    names = {error_class.__name__ for error_class in pyjwt_error_classes()}

    assert {"InvalidKeyError", "PyJWKClientError", "PyJWKClientConnectionError"} <= names
    assert len(names) >= 19


async def test_every_pyjwt_error_is_answered_401_or_503(app: FastAPI, client: AsyncClient) -> None:
    answered: dict[str, int] = {}
    for error_class in pyjwt_error_classes():
        await app.state.token_verifier.aclose()
        app.state.token_verifier = TokenVerifier([RaisingKeySource(error_class("exp"))], 8192)

        response = await client.get(
            "/api/alice-id/tasks", headers={"Authorization": f"Bearer {token_for('alice-id')}"}
        )

        answered[error_class.__name__] = response.status_code
        assert response.status_code in (401, 503), error_class
        expected_header = "retry-after" if response.status_code == 503 else "www-authenticate"
        assert expected_header in response.headers
        expected = auth_error_from_pyjwt(error_class("exp"))
        assert response.json()["detail"]["error"] == expected.message
    assert answered["PyJWKClientConnectionError"] == 503
    assert answered["InvalidKeyError"] == 401


def test_readme_shows_the_mapping_of_every_class() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| (\d{3}) \|", TABLE.read_text(), flags=re.MULTILINE))

    for error_class in pyjwt_error_classes():
        status = str(auth_error_from_pyjwt(error_class("exp")).status)
        assert rows.get(error_class.__name__) == status, error_class.__name__
