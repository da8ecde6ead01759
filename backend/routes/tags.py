"""The tag endpoints under `/api/{user_id}/tags`, declared on the app's router by `add_routes`.

A user's tags are the ones their tasks carry: listing counts the tasks, renaming and deleting
change every task that carries the tag. What each does is in `task_handlers.py`; the store
confines every statement to the caller, as it does for tasks.
"""

import functools
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from backend.dependencies.tasks import OwnedTasksDep, require_json_body
from backend.routes import openapi_docs as docs
from backend.routes import task_handlers as handlers
from backend.schemas import TagCount, TagName, TagRename

COLLECTION = "/api/{user_id}/tags"
# `:path`, so that a tag with a `/` in it (sent as `%2F`) is still one path parameter.
TAG = COLLECTION + "/{name:path}"
TagPathName = Annotated[TagName, Path(description="The tag's name, in any case.")]


async def list_tags(tasks: OwnedTasksDep) -> Response:
    """The caller's tags, each with how many of their tasks carry it, sorted by name
    case-insensitively; a tag no task carries is not listed."""
    return await handlers.list_tags(tasks)


async def rename_tag(tasks: OwnedTasksDep, name: TagPathName, body: TagRename) -> Response:
    """Rename the tag on every task that carries it; renaming it onto another of the caller's
    tags merges the two, under the new spelling."""
    return await handlers.rename_tag(tasks, name, body)


async def delete_tag(tasks: OwnedTasksDep, name: TagPathName) -> Response:
    """Take the tag off every task that carries it."""
    return await handlers.delete_tag(tasks, name)


def add_routes(router: APIRouter) -> None:
    """Declare the tag endpoints on `router`, the app's own (as `tasks.add_routes` does)."""
    add = functools.partial(router.add_api_route, tags=["tags"], strict_content_type=False)
    add(
        COLLECTION,
        list_tags,
        methods=["GET"],
        operation_id="list_tags",
        response_model=list[TagCount],
        responses=docs.TAG_LIST_RESPONSES,
        summary="List the caller's tags",
    )
    add(
        TAG,
        rename_tag,
        methods=["PATCH"],
        operation_id="rename_tag",
        response_model=TagCount,
        responses=docs.TAG_RENAME_RESPONSES,
        dependencies=[Depends(require_json_body)],
        summary="Rename a tag, or merge it into another",
    )
    add(
        TAG,
        delete_tag,
        methods=["DELETE"],
        operation_id="delete_tag",
        status_code=204,
        response_class=Response,
        responses=docs.TAG_DELETE_RESPONSES,
        summary="Take a tag off every task",
    )
