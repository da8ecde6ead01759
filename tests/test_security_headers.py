"""Security headers on every response, and the API docs that production can switch off."""

import pytest
from httpx import AsyncClient, Response

from backend.main import create_app

from support import ApiUser, make_settings, serving

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"


def assert_hardened(response: Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


async def test_json_responses_get_every_header(alice: ApiUser) -> None:
    responses = [
        await alice.request("POST", json={"title": "t"}),
        await alice.request("GET"),
        await alice.request("GET", "/424242"),
        await alice.client.get("/api/alice-id/tasks"),
        await alice.client.get("/no/such/path"),
        await alice.request("POST", content=b"{not json"),
    ]

    assert [response.status_code for response in responses] == [201, 200, 404, 401, 404, 400]
    for response in responses:
        assert_hardened(response)
        assert response.headers["content-security-policy"] == STRICT_CSP
        assert response.headers["cache-control"] == "no-store"


async def test_a_response_without_a_body_is_hardened_too(alice: ApiUser) -> None:
    created = await alice.create()

    response = await alice.request("DELETE", f"/{created['id']}")

    assert response.status_code == 204
    assert_hardened(response)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_pages_may_load_only_from_the_api_itself(client: AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert_hardened(response)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    sources = " ".join(policy.values())
    assert "http" not in sources
    assert "*" not in sources


@pytest.mark.parametrize(
    "path", ["/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"]
)
async def test_docs_can_be_turned_off_for_production(database_url: str, path: str) -> None:
    app = create_app(make_settings(database_url, docs_enabled=False))

    async with serving(app) as client:
        response = await client.get(path)

    assert response.status_code == 404
