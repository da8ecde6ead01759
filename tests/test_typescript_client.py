"""clients/typescript stays the API's: its OpenAPI document is the app's, its types are generated
from that document as committed, and the client and the example type-check against them
(including the request bodies' type-level test, clients/typescript/test/request-bodies.ts). The
wrapper's own tests (test/client.test.ts: tokens, the retry on a 401, headers as values) pass.

After a change to the API, `make client` regenerates both files.
"""

import json

import pytest
from httpx import AsyncClient

from backend.cli import openapi_document
from backend.config import Settings

from node_projects import CLIENT_DIR, EXAMPLE_DIR, run_bin, run_script

pytestmark = pytest.mark.web

DOCUMENT = CLIENT_DIR / "openapi.json"
TYPES = CLIENT_DIR / "src" / "schema.ts"
REGENERATE = "the client is out of date with the API: run `make client` and commit the result"


async def test_the_committed_document_is_the_one_the_app_serves(
    client: AsyncClient, settings: Settings
) -> None:
    served = (await client.get("/openapi.json")).json()

    assert json.loads(DOCUMENT.read_text()) == served, REGENERATE
    assert DOCUMENT.read_text() == openapi_document(settings), REGENERATE


def test_the_committed_types_are_generated_from_the_committed_document() -> None:
    generated = run_bin(CLIENT_DIR, "openapi-typescript", *types_script_arguments())

    assert generated.returncode == 0, generated.stderr
    assert generated.stdout == TYPES.read_text(), REGENERATE


def types_script_arguments() -> list[str]:
    """The generator's arguments as `npm run types` (the Makefile's `client`) passes them."""
    script: str = json.loads((CLIENT_DIR / "package.json").read_text())["scripts"]["types"]
    command, *arguments = script.split()
    assert command == "openapi-typescript"
    return arguments


def test_the_client_and_its_type_level_tests_type_check() -> None:
    checked = run_bin(CLIENT_DIR, "tsc", "--noEmit", "-p", ".")

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_example_type_checks_against_the_client() -> None:
    checked = run_bin(EXAMPLE_DIR, "tsc", "--noEmit", "-p", ".")

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_clients_own_tests_pass() -> None:
    tested = run_script(CLIENT_DIR, "test")

    assert tested.returncode == 0, tested.stdout + tested.stderr
