"""User rows provisioned from token claims, so that task foreign keys always hold."""

from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import ApiUser, token_for


async def user_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(text('SELECT id, email, name FROM "user" ORDER BY id'))
        return [dict(row) for row in result.mappings()]


async def test_first_request_creates_the_user_from_claims(
    engine: AsyncEngine, alice: ApiUser
) -> None:
    await alice.request("GET")

    assert await user_rows(engine) == [
        {"id": "alice-id", "email": "alice@example.com", "name": "Alice"}
    ]


async def test_changed_email_or_name_is_updated(engine: AsyncEngine, client: AsyncClient) -> None:
    first = token_for("carol-id", email="carol@old.example", name="Carol")
    second = token_for("carol-id", email="carol@new.example", name="Carol B.")

    await client.get("/api/carol-id/tasks", headers={"Authorization": f"Bearer {first}"})
    await client.get("/api/carol-id/tasks", headers={"Authorization": f"Bearer {second}"})

    assert await user_rows(engine) == [
        {"id": "carol-id", "email": "carol@new.example", "name": "Carol B."}
    ]


async def test_email_moving_to_a_new_user_id_is_no_error(
    engine: AsyncEngine, client: AsyncClient
) -> None:
    old = token_for("dave-old", email="dave@example.com", name="Dave")
    new = token_for("dave-new", email="dave@example.com", name="Dave")

    first = await client.post(
        "/api/dave-old/tasks", json={"title": "old"}, headers={"Authorization": f"Bearer {old}"}
    )
    second = await client.post(
        "/api/dave-new/tasks", json={"title": "new"}, headers={"Authorization": f"Bearer {new}"}
    )

    assert first.status_code == second.status_code == 201
    assert await user_rows(engine) == [
        {"id": "dave-new", "email": "dave@example.com", "name": "Dave"},
        {"id": "dave-old", "email": None, "name": "Dave"},
    ]


async def test_token_without_profile_claims_works(engine: AsyncEngine, client: AsyncClient) -> None:
    token = token_for("erin-id")

    response = await client.post(
        "/api/erin-id/tasks", json={"title": "t"}, headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 201
    assert await user_rows(engine) == [{"id": "erin-id", "email": None, "name": None}]


async def test_unstorable_profile_claims_are_cleaned(
    engine: AsyncEngine, client: AsyncClient
) -> None:
    token = token_for("frank-id", email="x" * 300, name="Fr\x00ank " + "n" * 200)

    response = await client.get("/api/frank-id/tasks", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    [row] = await user_rows(engine)
    assert row["email"] is None
    assert row["name"] == ("Frank " + "n" * 200)[:100]
