"""What each task operation documents in OpenAPI: every status, its body, headers and links.

Kept apart from the handlers so they stay readable; generated clients and Schemathesis read
these, so every status a handler or middleware can answer is listed with its schema.
"""

from typing import Any

from fastapi import FastAPI

from backend.schemas import ErrorResponse

Responses = dict[int | str, dict[str, Any]]

_STRING = {"type": "string"}


def _header(description: str, example: str, *, required: bool = True) -> dict[str, Any]:
    return {
        "description": description,
        "required": required,
        "schema": _STRING,
        "example": example,
    }


ETAG = _header("Strong entity tag of the task's current version.", '"42.3"')
LOCATION = _header("URL of the created task.", "/api/user_2x1/tasks/42")
REPLAYED = _header(
    "`true` when this is the stored response to an earlier request with the same "
    "`Idempotency-Key`.",
    "true",
    required=False,
)
TOTAL_COUNT = {
    "description": "How many tasks match the filters, over all pages.",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
    "example": 250,
}
LINK = _header(
    "RFC 8288 links to the `first`, `prev`, `next` and `last` pages, with every query "
    "parameter kept.",
    '<http://api.example/api/u/tasks?limit=100&offset=100>; rel="next"',
)
RETRY_AFTER = _header("Seconds to wait before retrying.", "2")

# The stateful links: a created or fetched task leads to every operation on that task, and a
# write's ETag feeds the next write's If-Match.
_SAME_TASK = {"user_id": "$request.path.user_id", "task_id": "$response.body#/id"}
_CONDITIONAL = {**_SAME_TASK, "header.If-Match": "$response.header.ETag"}
TASK_LINKS = {
    "GetTask": {"operationId": "get_task", "parameters": _SAME_TASK},
    "ReplaceTask": {"operationId": "replace_task", "parameters": _CONDITIONAL},
    "UpdateTask": {"operationId": "update_task", "parameters": _CONDITIONAL},
    "ToggleTask": {"operationId": "toggle_task", "parameters": _CONDITIONAL},
    "DeleteTask": {"operationId": "delete_task", "parameters": _CONDITIONAL},
}


def _error(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    documented: dict[str, Any] = {"model": ErrorResponse, "description": description}
    if headers:
        documented["headers"] = headers
    return documented


_AUTH: Responses = {
    401: _error(
        "Missing, malformed, forged or expired token.",
        **{"WWW-Authenticate": _header("The bearer scheme to use.", 'Bearer realm="api"')},
    ),
    403: _error("The path's `{user_id}` is not the caller."),
    # Any request, even one whose operation takes no body, is refused when its body is too big.
    413: _error("The body is over the size limit (1 MiB by default)."),
    431: _error(
        "A header line is over 8 KiB, or all headers together are over 32 KiB (`header` names "
        "the line that is too long)."
    ),
    429: _error(
        "Over the rate limit (per user, stricter for writes; per client IP without a token).",
        **{
            "Retry-After": RETRY_AFTER,
            "RateLimit": _header("Requests left and seconds until reset.", '"writes";r=0;t=42'),
            "RateLimit-Policy": _header("The quota and its window.", '"writes";q=120;w=60'),
        },
    ),
    503: _error(
        "The database is unreachable or too slow, or its schema is not migrated to this release:"
        " retry later.",
        **{"Retry-After": RETRY_AFTER},
    ),
}
_NOT_FOUND: Responses = {404: _error("No such task among the caller's tasks.")}
_BODY: Responses = {
    400: _error("The body is not valid JSON."),
    415: _error("The body is not sent as JSON."),
}
_PRECONDITIONS: Responses = {
    400: _error(
        "The precondition header is not `*` or a list of at most 64 entity tags "
        "(`header` names it)."
    ),
}
_STALE: Responses = {
    412: _error(
        "`If-Match` names a version the task no longer has; `ETag` is the current one.",
        ETag=ETAG,
    )
}

LIST_RESPONSES: Responses = {
    200: {
        "description": "One page of tasks, in the requested order.",
        "headers": {"X-Total-Count": TOTAL_COUNT, "Link": LINK},
    },
    **_AUTH,
}
CREATE_RESPONSES: Responses = {
    201: {
        "description": "The created task (or, for a retried `Idempotency-Key`, the first "
        "response again).",
        "headers": {"Location": LOCATION, "ETag": ETAG, "Idempotent-Replayed": REPLAYED},
        "links": TASK_LINKS,
    },
    **_AUTH,
    **_BODY,
    400: _error("The body is not valid JSON, or the `Idempotency-Key` is malformed."),
    409: _error(
        "A request with this `Idempotency-Key` is still being processed, or a concurrent write "
        "changed the caller's tags first.",
        **{"Retry-After": _header("Seconds to wait before retrying.", "1")},
    ),
    422: {
        "description": "Validation failed (a list of field errors), or the "
        "`Idempotency-Key` was already used with a different body.",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/HTTPValidationError"},
                        {"$ref": "#/components/schemas/ErrorResponse"},
                    ]
                }
            }
        },
    },
}
GET_RESPONSES: Responses = {
    200: {"description": "The task.", "headers": {"ETag": ETAG}, "links": TASK_LINKS},
    304: {
        "description": "`If-None-Match` names the current version: the client's copy is current.",
        "headers": {"ETag": ETAG},
    },
    **_AUTH,
    **_NOT_FOUND,
    **_PRECONDITIONS,
}
WRITE_RESPONSES: Responses = {
    200: {"description": "The task as written.", "headers": {"ETag": ETAG}, "links": TASK_LINKS},
    **_AUTH,
    **_NOT_FOUND,
    **_BODY,
    400: _error("The body is not valid JSON, or the precondition header is malformed."),
    409: _error(
        "A concurrent write changed the task or the caller's tags first (while completing a "
        "recurring task, setting a recurrence or changing tags): retry.",
        **{"Retry-After": _header("Seconds to wait before retrying.", "1")},
    ),
    **_STALE,
}
DELETE_RESPONSES: Responses = {
    204: {"description": "Deleted."},
    **_AUTH,
    **_NOT_FOUND,
    **_PRECONDITIONS,
    **_STALE,
}

_TAG_NOT_FOUND: Responses = {404: _error("No task of the caller's carries this tag.")}
TAG_LIST_RESPONSES: Responses = {
    200: {"description": "The caller's tags, sorted by name case-insensitively."},
    **_AUTH,
}
TAG_RENAME_RESPONSES: Responses = {
    200: {"description": "The tag under its new name, with how many tasks now carry it."},
    **_AUTH,
    **_TAG_NOT_FOUND,
    **_BODY,
    409: _error(
        "A concurrent write changed the caller's tags first: retry.",
        **{"Retry-After": _header("Seconds to wait before retrying.", "1")},
    ),
}
TAG_DELETE_RESPONSES: Responses = {
    204: {"description": "Taken off every task."},
    **_AUTH,
    **_TAG_NOT_FOUND,
}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, null]` -> X: a query or header parameter is absent, never JSON null."""
    options = schema.get("anyOf")
    if not options or {"type": "null"} not in options or len(options) != 2:
        return schema
    (kept,) = (option for option in options if option != {"type": "null"})
    return {**{key: value for key, value in schema.items() if key != "anyOf"}, **kept}


def tidy_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """Make optional parameters' schemas say what the wire allows (pydantic adds `null`)."""
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _without_null(parameter["schema"])
    return document


def serve_tidy_openapi(app: FastAPI) -> None:
    """Have `app` build its OpenAPI document once, then tidy it, before anyone reads it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            tidy_openapi(build())
        return build()

    app.openapi = openapi  # type: ignore[method-assign]
