"""Tasks outlive the process that stored them."""

from backend.config import Settings
from backend.main import create_app

from support import serving, token_for


async def test_tasks_survive_an_app_restart(settings: Settings) -> None:
    headers = {"Authorization": f"Bearer {token_for('alice-id')}"}

    async with serving(create_app(settings)) as client:
        created = await client.post("/api/alice-id/tasks", json={"title": "keep"}, headers=headers)

    async with serving(create_app(settings)) as client:
        listed = await client.get("/api/alice-id/tasks", headers=headers)

    assert created.status_code == 201
    assert listed.json() == [created.json()]
