"""The owner-scoped stores a handler works with."""

import re
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from starlette.datastructures import State

from backend.dependencies.auth import PathOwner
from backend.idempotency import IdempotencyKeys
from backend.task_store import OwnedTasks
from backend.tokens import AuthenticatedUser


async def owned_tasks(request: Request, owner: PathOwner) -> OwnedTasks:
    """Provision the owner's user row if needed; the store then runs each operation's single
    statement on a pooled connection of its own, committed before the response is sent.

    A plain function rather than a `yield` dependency: the request holds no connection, so
    there is nothing to clean up, and FastAPI's exit stack stays off the hot path.
    """
    return await open_owned_tasks(request.app.state, owner)


async def open_owned_tasks(state: State, owner: AuthenticatedUser) -> OwnedTasks:
    """The owner's store, once their user row is known to exist (lean handlers' way in too)."""
    await state.user_provisioner.ensure(owner)
    return OwnedTasks(state.runner, owner.id)


OwnedTasksDep = Annotated[OwnedTasks, Depends(owned_tasks)]


def is_json_content_type(content_type: str | None) -> bool:
    """What FastAPI reads as JSON: `application/json`, `application/*+json`, or no
    Content-Type at all (read as JSON, as curl users expect). Anything else is a 415."""
    if not content_type:
        return True
    media_type = content_type.partition(";")[0].strip().lower()
    main_type, slash, subtype = media_type.partition("/")
    if not slash or "/" in subtype:
        return False
    return main_type == "application" and (subtype == "json" or subtype.endswith("+json"))


async def require_json_body(request: Request) -> None:
    """415 for a body sent as anything but JSON (a missing Content-Type is read as JSON)."""
    content_type = request.headers.get("content-type")
    if not is_json_content_type(content_type):
        raise HTTPException(
            status_code=415,
            detail={
                "error": "Send the body as JSON with Content-Type: application/json",
                "content_type": content_type,
            },
        )


# An Idempotency-Key: 1-255 visible ASCII characters (inner spaces allowed), per the draft's
# advice to use a UUID or another random string. Used as the OpenAPI pattern too.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def is_idempotency_key(key: str) -> bool:
    return _IDEMPOTENCY_KEY.fullmatch(key) is not None


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes the POST safe to retry: a retry with the same key and body "
            "within 24 hours replays the first response and creates nothing. 1-255 visible "
            "ASCII characters; a random UUID is a good key.",
            json_schema_extra={
                "minLength": 1,
                "maxLength": 255,
                "pattern": IDEMPOTENCY_KEY_PATTERN,
            },
            openapi_examples={"uuid": {"value": "8e03978e-40d5-43e8-bc93-6894a57f9324"}},
        ),
    ] = None,
) -> str | None:
    """400 for a malformed key, before anything is read or written."""
    if key is not None and not is_idempotency_key(key):
        raise HTTPException(
            status_code=400,
            detail={
                "error": "Idempotency-Key must be 1-255 visible ASCII characters",
                "header": "Idempotency-Key",
            },
        )
    return key


IdempotencyKeyHeader = Annotated[str | None, Depends(idempotency_key)]


def owner_idempotency_keys(state: State, owner_id: str) -> IdempotencyKeys:
    """The owner's idempotency keys (lean handlers' way in too)."""
    ttl = timedelta(seconds=state.settings.idempotency_key_ttl_seconds)
    return IdempotencyKeys(state.runner, owner_id, ttl)


async def idempotency_keys(request: Request, owner: PathOwner) -> IdempotencyKeys:
    return owner_idempotency_keys(request.app.state, owner.id)


IdempotencyKeysDep = Annotated[IdempotencyKeys, Depends(idempotency_keys)]
