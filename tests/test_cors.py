"""Browsers on the configured origins may call the API; others may not."""

from httpx import AsyncClient

from support import ApiUser


async def test_preflight_with_authorization_works_for_a_listed_origin(client: AsyncClient) -> None:
    response = await client.options(
        "/api/alice-id/tasks",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed


async def test_preflight_from_an_unlisted_origin_is_refused(client: AsyncClient) -> None:
    response = await client.options(
        "/api/alice-id/tasks",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_location_is_exposed_to_the_frontend(alice: ApiUser) -> None:
    response = await alice.request(
        "POST", json={"title": "x"}, headers={"Origin": "http://localhost:3000"}
    )

    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "location" in response.headers["access-control-expose-headers"].lower()


async def test_401_carries_cors_headers_so_the_frontend_can_read_it(client: AsyncClient) -> None:
    response = await client.get("/api/alice-id/tasks", headers={"Origin": "http://localhost:3000"})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


async def test_preflight_allows_the_conditional_and_idempotency_headers(
    client: AsyncClient,
) -> None:
    response = await client.options(
        "/api/alice-id/tasks/1",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": (
                "authorization,if-match,if-none-match,idempotency-key"
            ),
        },
    )

    assert response.status_code == 200
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"if-match", "if-none-match", "idempotency-key"} <= set(allowed.split(", "))
