"""The owner-scoped task store a handler works with, in one transaction per request."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from backend.dependencies.auth import PathOwner
from backend.task_store import OwnedTasks


async def owned_tasks(request: Request, owner: PathOwner) -> AsyncIterator[OwnedTasks]:
    """Provision the owner's user row if needed, then open the request's transaction."""
    state = request.app.state
    await state.user_provisioner.ensure(owner)
    async with state.engine.begin() as connection:
        yield OwnedTasks(connection, owner.id)


# "function" scope: the transaction commits before the response is sent, never after.
OwnedTasksDep = Annotated[OwnedTasks, Depends(owned_tasks, scope="function")]


async def require_json_body(request: Request) -> None:
    """415 for a body sent as anything but JSON (a missing Content-Type is read as JSON)."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(
            status_code=415,
            detail={
                "error": "Send the body as JSON with Content-Type: application/json",
                "content_type": content_type,
            },
        )
