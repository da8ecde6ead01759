"""The benchmark's floor: the least work that does the task API's job on its hot routes.

Starlette, one raw asyncpg pool, PyJWT HS256 and orjson; the same SQL statements, status codes,
JSON shapes and headers (`ETag`; `X-Total-Count` and `Link` on a list page of `limit`, default
100) as `backend` for list, get, create, replace and toggle. It verifies the token on
every request (no claims cache) and skips user provisioning (the seed creates the users), as the
minimal app in the issue did. It is a yardstick, not a product: nothing imports it.

Configured by environment: `REFERENCE_DATABASE_URL`, `REFERENCE_SECRET`, `REFERENCE_POOL_SIZE`.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The same pure function as the API's, so both send byte-identical Link headers.
from backend.pagination import link_header

_COLUMNS = "task.id, task.user_id, task.title, task.description, task.completed, "
_COLUMNS += "task.created_at, task.updated_at, task.version"
# One page, newest first, with the trigger-kept total in the same statement (as the API does).
LIST_SQL = (
    f"SELECT {_COLUMNS}, coalesce((SELECT task_count.total FROM task_count "
    "WHERE task_count.user_id = $1::VARCHAR), 0) AS total FROM task "
    "WHERE task.user_id = $1::VARCHAR ORDER BY task.created_at DESC, task.id DESC "
    "LIMIT $2::INTEGER OFFSET $3::INTEGER"
)
COUNT_SQL = "SELECT task_count.total FROM task_count WHERE task_count.user_id = $1::VARCHAR"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
GET_SQL = f"SELECT {_COLUMNS} FROM task WHERE task.user_id = $1::VARCHAR AND task.id = $2::INTEGER"
CREATE_SQL = (
    "INSERT INTO task (user_id, title, description, completed, created_at, updated_at, version) "
    "VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, $4::BOOLEAN, "
    f"$5::TIMESTAMP WITH TIME ZONE, $6::TIMESTAMP WITH TIME ZONE, 1) RETURNING {_COLUMNS}"
)
REPLACE_SQL = (
    "UPDATE task SET title=$1::VARCHAR, description=$2::VARCHAR, completed=$3::BOOLEAN, "
    "updated_at=$4::TIMESTAMP WITH TIME ZONE, version=task.version + 1 "
    f"WHERE task.user_id = $5::VARCHAR AND task.id = $6::INTEGER RETURNING {_COLUMNS}"
)
TOGGLE_SQL = (
    "UPDATE task SET completed=NOT task.completed, updated_at=$1::TIMESTAMP WITH TIME ZONE, "
    "version=task.version + 1 "
    f"WHERE task.user_id = $2::VARCHAR AND task.id = $3::INTEGER RETURNING {_COLUMNS}"
)
READ_ONLY_FIELDS = frozenset({"id", "user_id", "created_at", "updated_at"})
WRITABLE_FIELDS = frozenset({"title", "description", "completed"})
MAX_TASK_ID = 2**31 - 1
_REALM = 'Bearer realm="api"'


def _json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code, headers, "application/json")


def _error(status_code: int, message: str, **context: Any) -> Response:
    headers = {"WWW-Authenticate": _REALM} if status_code == 401 else None
    return _json({"detail": {"error": message, **context}}, status_code, headers)


class _Rejected(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _owner(request: Request) -> str:
    """The caller's id after HS256 verification; 401 or 403 as the API answers them."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _Rejected(_error(401, "Missing bearer token"))
    try:
        claims = jwt.decode(
            token.strip(),
            request.app.state.secret,
            algorithms=["HS256"],
            leeway=30,
            options={"require": ["exp"]},
        )
    except jwt.PyJWTError:
        raise _Rejected(_error(401, "Token is invalid")) from None
    owner = claims.get("sub")
    if not isinstance(owner, str) or not owner:
        raise _Rejected(_error(401, "Token subject is not a valid user id"))
    if request.path_params["user_id"] != owner:
        raise _Rejected(_error(403, "You can only access your own tasks"))
    return owner


def _task_id(request: Request) -> int:
    raw = request.path_params["task_id"]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TASK_ID:
        raise _Rejected(_json({"detail": [{"loc": ["path", "task_id"]}]}, 422))
    return int(raw)


async def _body(request: Request) -> tuple[str, str | None, bool]:
    """title, description, completed from a JSON body, with the API's validation rules."""
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise _Rejected(_error(400, "Request body is not valid JSON")) from None
    if not isinstance(data, dict):
        raise _Rejected(_json({"detail": [{"loc": ["body"]}]}, 422))
    fields = {key: value for key, value in data.items() if key not in READ_ONLY_FIELDS}
    title = fields.get("title")
    description = fields.get("description")
    completed = fields.get("completed", False)
    if isinstance(title, str):
        title = title.strip()
    if (
        not fields.keys() <= WRITABLE_FIELDS
        or not isinstance(title, str)
        or not 1 <= len(title) <= 200
        or "\x00" in title
        or not (description is None or (isinstance(description, str) and len(description) <= 1000))
        or (description is not None and "\x00" in description)
        or not isinstance(completed, bool)
    ):
        raise _Rejected(_json({"detail": [{"loc": ["body"]}]}, 422))
    return title, description, completed


def _task(task: dict[str, Any], status_code: int = 200, **headers: str) -> Response:
    return _json(task, status_code, {"ETag": f'"{task["id"]}.{task["version"]}"', **headers})


def _row(record: asyncpg.Record | None, task_id: int) -> Response:
    if record is None:
        return _error(404, "Task not found", task_id=task_id)
    return _task(dict(record))


def _bounded(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise _Rejected(_json({"detail": [{"loc": ["query", name]}]}, 422))
    return int(raw)


async def _page(request: Request, pool: asyncpg.Pool, owner: str) -> Response:
    limit = _bounded(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _bounded(request, "offset", 0, 0, 2**31 - 1)
    records = await pool.fetch(LIST_SQL, owner, limit, offset)
    if records:
        total = records[0]["total"]
    elif offset == 0:
        total = 0
    else:
        total = await pool.fetchval(COUNT_SQL, owner) or 0
    tasks = []
    for record in records:
        task = dict(record)
        del task["total"]
        tasks.append(task)
    headers = {
        "X-Total-Count": str(total),
        "Link": link_header(request.url, total=total, limit=limit, offset=offset),
    }
    return _json(tasks, headers=headers)


async def tasks(request: Request) -> Response:
    try:
        owner = _owner(request)
        pool: asyncpg.Pool = request.app.state.pool
        if request.method == "GET":
            return await _page(request, pool, owner)
        title, description, completed = await _body(request)
        now = datetime.now(UTC)
        record = await pool.fetchrow(CREATE_SQL, owner, title, description, completed, now, now)
        location = f"{request.url.path.rstrip('/')}/{record['id']}"
        return _task(dict(record), 201, Location=location)
    except _Rejected as rejected:
        return rejected.response


async def task(request: Request) -> Response:
    try:
        owner = _owner(request)
        task_id = _task_id(request)
        pool: asyncpg.Pool = request.app.state.pool
        if request.method == "GET":
            return _row(await pool.fetchrow(GET_SQL, owner, task_id), task_id)
        title, description, completed = await _body(request)
        now = datetime.now(UTC)
        record = await pool.fetchrow(
            REPLACE_SQL, title, description, completed, now, owner, task_id
        )
        return _row(record, task_id)
    except _Rejected as rejected:
        return rejected.response


async def toggle(request: Request) -> Response:
    try:
        owner = _owner(request)
        task_id = _task_id(request)
        pool: asyncpg.Pool = request.app.state.pool
        now = datetime.now(UTC)
        return _row(await pool.fetchrow(TOGGLE_SQL, now, owner, task_id), task_id)
    except _Rejected as rejected:
        return rejected.response


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release: the app changes no session state."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    size = int(os.environ.get("REFERENCE_POOL_SIZE", "10"))
    app.state.secret = os.environ["REFERENCE_SECRET"]
    async with asyncpg.create_pool(
        os.environ["REFERENCE_DATABASE_URL"], min_size=size, max_size=size, reset=_keep_session
    ) as pool:
        app.state.pool = pool
        yield


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/api/{user_id}/tasks", tasks, methods=["GET", "POST"]),
            Route("/api/{user_id}/tasks/{task_id}", task, methods=["GET", "PUT"]),
            Route("/api/{user_id}/tasks/{task_id}/complete", toggle, methods=["PATCH"]),
        ],
        lifespan=lifespan,
    )


app = create_app()
