"""Graceful shutdown of a real server process: on SIGTERM the request in flight completes,
new connections are refused, and the process exits cleanly."""

import asyncio
import signal
from pathlib import Path

import httpx

from processes import running_server
from support import SECRET, token_for
from test_database_faults import row_locked, wait_for_lock_waiter


async def refuses_new_connections(base_url: str) -> bool:
    try:
        async with httpx.AsyncClient(base_url=base_url) as fresh:
            await fresh.get("/healthz")
    except httpx.ConnectError:
        return True
    return False


async def test_sigterm_finishes_in_flight_requests_and_refuses_new_ones(
    postgresql_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": postgresql_url,
        "BETTER_AUTH_SECRET": SECRET,
        "DB_STATEMENT_TIMEOUT": "60",
    }
    headers = {"Authorization": f"Bearer {token_for('alice-id')}"}
    with running_server(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as client:
            created = await client.post("/api/alice-id/tasks", json={"title": "Original"})
            task_url = f"/api/alice-id/tasks/{created.json()['id']}"
            async with row_locked(postgresql_url, created.json()["id"]) as locker:
                in_flight = asyncio.create_task(client.put(task_url, json={"title": "Changed"}))
                await wait_for_lock_waiter(locker)
                server.process.send_signal(signal.SIGTERM)
                for _ in range(200):
                    if await refuses_new_connections(server.base_url):
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("new connections were still accepted after SIGTERM")
                assert not in_flight.done()
            finished = await in_flight
        exit_code = await asyncio.to_thread(server.process.wait, 60)

    assert finished.status_code == 200
    assert finished.json()["title"] == "Changed"
    # uvicorn re-raises the signal once shut down, so the exit status reports SIGTERM.
    assert exit_code in (0, -signal.SIGTERM)
    log = server.log()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log
