"""The benchmark's floor: the least work that does the task API's job on its hot routes.

Starlette, one raw asyncpg pool, PyJWT HS256 and orjson; the same SQL statements, status codes,
JSON shapes and headers (`ETag`; `X-Total-Count` and `Link` on a list page of `limit`, default
100) as `backend` for list (unfiltered, and by priority sorted by due date), get, create,
replace and toggle. It does the per-user work the API does, the same way: a verified token is
remembered as `backend/tokens.py`'s `TokenVerifier` remembers it, and a user's row is
provisioned once per process with `backend/user_store.py`'s SQL. What it leaves out is
`LEAVES_OUT`, which the harness prints with every result. It is a yardstick, not a product: only
the harness and its tests use it.

Configured by environment: `REFERENCE_DATABASE_URL`, `REFERENCE_SECRET`, `REFERENCE_POOL_SIZE`.
"""

import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
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
_COLUMNS += "CASE task.priority WHEN 0 THEN 'none' WHEN 1 THEN 'low' WHEN 2 THEN 'medium' "
_COLUMNS += "WHEN 3 THEN 'high' END AS priority, task.due_at, task.recurrence, "
# Each task's tag names, aggregated in the same statement, as the API reads them.
_COLUMNS += "(SELECT string_agg(tag.name, E'\\x1f') FROM task_tag JOIN tag "
_COLUMNS += "ON tag.user_id = task_tag.user_id AND tag.key = task_tag.key "
_COLUMNS += "WHERE task_tag.task_id = task.id) AS tags, "
_COLUMNS += "task.created_at, task.updated_at, task.version"
# One page, newest first, with the trigger-kept total in the same statement (as the API does).
LIST_SQL = (
    f"SELECT {_COLUMNS}, coalesce((SELECT task_count.total FROM task_count "
    "WHERE task_count.user_id = $1::VARCHAR), 0) AS total FROM task "
    "WHERE task.user_id = $1::VARCHAR ORDER BY task.created_at DESC, task.id DESC "
    "LIMIT $2::INTEGER OFFSET $3::INTEGER"
)
COUNT_SQL = "SELECT task_count.total FROM task_count WHERE task_count.user_id = $1::VARCHAR"
# The API's `priority=...&sort=due_at`: any of up to four priority ranks (unused slots -1),
# tasks without a due date last, the total counted in the same statement.
_BY_PRIORITY = (
    "task.user_id = $1::VARCHAR AND task.priority IN "
    "($2::INTEGER, $3::INTEGER, $4::INTEGER, $5::INTEGER)"
)
BY_PRIORITY_SQL = (
    f"SELECT {_COLUMNS}, coalesce((SELECT count(*) AS total FROM task WHERE {_BY_PRIORITY}), 0) "
    f"AS total FROM task WHERE {_BY_PRIORITY} ORDER BY task.due_at NULLS LAST, task.id "
    "LIMIT $6::INTEGER OFFSET $7::INTEGER"
)
BY_PRIORITY_COUNT_SQL = f"SELECT count(*) AS total FROM task WHERE {_BY_PRIORITY}"
PRIORITY_RANKS = {"none": 0, "low": 1, "medium": 2, "high": 3}
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
GET_SQL = f"SELECT {_COLUMNS} FROM task WHERE task.user_id = $1::VARCHAR AND task.id = $2::INTEGER"
CREATE_SQL = (
    "INSERT INTO task (user_id, title, description, completed, created_at, updated_at, "
    "priority, due_at, recurrence, version) VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, "
    "$4::BOOLEAN, $5::TIMESTAMP WITH TIME ZONE, $6::TIMESTAMP WITH TIME ZONE, $7::SMALLINT, "
    f"$8::TIMESTAMP WITH TIME ZONE, NULL, 1) RETURNING {_COLUMNS}"
)
REPLACE_SQL = (
    "UPDATE task SET title=$1::VARCHAR, description=$2::VARCHAR, completed=$3::BOOLEAN, "
    "updated_at=$4::TIMESTAMP WITH TIME ZONE, priority=$5::SMALLINT, "
    "due_at=$6::TIMESTAMP WITH TIME ZONE, recurrence=NULL, version=task.version + 1 "
    "WHERE task.user_id = $7::VARCHAR AND task.id = $8::INTEGER "
    # The API's replace of a task that carries no tag, by a body that sends none.
    "AND NOT (EXISTS (SELECT * FROM task_tag WHERE task_tag.task_id = task.id)) "
    f"RETURNING {_COLUMNS}"
)
TOGGLE_SQL = (
    "UPDATE task SET completed=NOT task.completed, updated_at=$1::TIMESTAMP WITH TIME ZONE, "
    "version=task.version + 1 "
    "WHERE task.user_id = $2::VARCHAR AND task.id = $3::INTEGER "
    # The API's toggle, which leaves an open recurring task to be rescheduled.
    f"AND (task.completed OR task.recurrence IS NULL) RETURNING {_COLUMNS}"
)
# A user's row, written as `backend/user_store.py` writes it (the SQL its statements compile to
# on PostgreSQL): an email a token names is taken from any other user first, then the row is
# inserted, or updated only when its email or name changed.
RELEASE_EMAIL_SQL = (
    'UPDATE "user" SET email=$1::VARCHAR WHERE "user".email = $2::VARCHAR '
    'AND "user".id != $3::VARCHAR'
)
UPSERT_USER_SQL = (
    'INSERT INTO "user" (id, email, name, created_at) VALUES ($1::VARCHAR, $2::VARCHAR, '
    "$3::VARCHAR, $4::TIMESTAMP WITH TIME ZONE) ON CONFLICT (id) DO UPDATE SET "
    'email = excluded.email, name = excluded.name WHERE "user".email IS DISTINCT FROM '
    'excluded.email OR "user".name IS DISTINCT FROM excluded.name'
)
# The API's bounds (backend/tokens.py, user_store.py, models.py, config.py defaults).
VERIFIED_CACHE_SIZE = 50_000
REMEMBERED_USERS = 50_000
MAX_TOKEN_BYTES = 8192
USER_ID_MAX_LENGTH = 255
EMAIL_MAX_LENGTH = 255
NAME_MAX_LENGTH = 100
LEEWAY_SECONDS = 30
# What the API does on every benchmarked request and this app does not (the harness prints it;
# tests/test_bench_reference.py checks the headers).
LEAVES_OUT = (
    "access log (the API writes one JSON line per request)",
    "metrics (the API's Prometheus counters and histograms)",
    "rate limiting (the API counts every request against the user's quota and sends "
    "`RateLimit`/`RateLimit-Policy`)",
    "request id (`X-Request-ID` on every response and log line)",
    "security headers (`X-Content-Type-Options`, `Referrer-Policy`, `X-Frame-Options`, "
    "`Content-Security-Policy`, `Cache-Control: no-store`)",
    "the request body size limit, conditional requests (`If-Match`, `If-None-Match`) and "
    "idempotency keys, CORS (wrk sends no `Origin`), the JWKS key source and the detailed "
    "4xx bodies",
    "tags and recurrence beyond reading them (the benchmark's tasks have neither; the "
    "statements carry the API's conditions, and a task they refuse is a 404 here)",
)
READ_ONLY_FIELDS = frozenset({"id", "user_id", "created_at", "updated_at"})
WRITABLE_FIELDS = frozenset({"title", "description", "completed", "priority", "due_at"})
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


@dataclass(frozen=True, slots=True)
class _User:
    """Who a verified token speaks for; `expires_at` is its `exp` (epoch seconds)."""

    id: str
    email: str | None
    name: str | None
    expires_at: float


def _claim(value: Any, max_length: int, *, truncate: bool) -> str | None:
    """An optional profile claim as the API stores it: a cut name, or no email if too long."""
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    if len(value) > max_length and not truncate:
        return None
    return value[:max_length] or None


def _user(claims: dict[str, Any]) -> _User:
    subject = claims.get("sub", claims.get("user_id"))
    if (
        not isinstance(subject, str)
        or not subject.strip()
        or len(subject) > USER_ID_MAX_LENGTH
        or "\x00" in subject
    ):
        raise _Rejected(_error(401, "Token subject is not a valid user id"))
    email = _claim(claims.get("email"), EMAIL_MAX_LENGTH, truncate=False)
    name = _claim(claims.get("name"), NAME_MAX_LENGTH, truncate=True)
    return _User(subject, email, name, float(claims["exp"]))


class VerifiedTokens:
    """HS256 verification, remembered per token as the API's `TokenVerifier` does.

    Keyed by the token string; at most `VERIFIED_CACHE_SIZE` entries, the least recently used
    dropped first; an entry answers only while its token's
    `exp` is in the future (no leeway: PyJWT's applies on verification only). Refusals are not
    remembered. The API also drops entries of a withdrawn JWKS key; a secret is never withdrawn.
    """

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._verified: OrderedDict[str, _User] = OrderedDict()

    def verify(self, token: str) -> _User:
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at > time.time():
                self._verified.move_to_end(token)
                return cached
            del self._verified[token]
        if len(token) > MAX_TOKEN_BYTES:
            raise _Rejected(_error(401, "Token is too large"))
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp"]},
            )
        except jwt.PyJWTError:
            raise _Rejected(_error(401, "Token is invalid")) from None
        user = _user(claims)
        self._verified[token] = user
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return user


class ProvisionedUsers:
    """Each user's row written on first sight, as the API's `UserProvisioner` does.

    Remembers each (id, email, name) it wrote, at most `REMEMBERED_USERS` of them, the least
    recently seen dropped first; a changed email or name is written again. Both statements run
    in one transaction; a concurrent first request for the same email can win the race, then
    the write is tried once more.
    """

    def __init__(self) -> None:
        self._provisioned: OrderedDict[tuple[str, str | None, str | None], None] = OrderedDict()

    async def ensure(self, pool: asyncpg.Pool, user: _User) -> None:
        key = (user.id, user.email, user.name)
        if key in self._provisioned:
            self._provisioned.move_to_end(key)
            return
        try:
            await self._write(pool, user)
        except asyncpg.UniqueViolationError:
            await self._write(pool, user)
        self._provisioned[key] = None
        if len(self._provisioned) > REMEMBERED_USERS:
            self._provisioned.popitem(last=False)

    @staticmethod
    async def _write(pool: asyncpg.Pool, user: _User) -> None:
        async with pool.acquire() as connection, connection.transaction():
            if user.email is not None:
                await connection.execute(RELEASE_EMAIL_SQL, None, user.email, user.id)
            now = datetime.now(UTC)
            await connection.execute(UPSERT_USER_SQL, user.id, user.email, user.name, now)


def _token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _Rejected(_error(401, "Missing bearer token"))
    return token


async def _owner(request: Request) -> str:
    """The caller's id, verified and provisioned; 401 or 403 as the API answers them."""
    state = request.app.state
    user = state.tokens.verify(_token(request))
    if request.path_params["user_id"] != user.id:
        raise _Rejected(_error(403, "You can only access your own tasks"))
    await state.users.ensure(state.pool, user)
    return user.id


def _task_id(request: Request) -> int:
    raw = request.path_params["task_id"]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TASK_ID:
        raise _Rejected(_json({"detail": [{"loc": ["path", "task_id"]}]}, 422))
    return int(raw)


def _due_at(value: Any) -> datetime | None:
    """An RFC 3339 date-time with an offset, in UTC (the API's rule, by the standard library)."""
    if value is None:
        return None
    try:
        due_at = datetime.fromisoformat(value) if isinstance(value, str) else None
        if due_at is None or due_at.tzinfo is None:
            raise ValueError(value)
        return due_at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _Rejected(_json({"detail": [{"loc": ["body", "due_at"]}]}, 422)) from None


async def _body(request: Request) -> tuple[str, str | None, bool, int, datetime | None]:
    """title, description, completed, priority rank and due date from a JSON body, with the
    API's validation rules."""
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
    priority = PRIORITY_RANKS.get(fields.get("priority", "none"))
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
        or priority is None
    ):
        raise _Rejected(_json({"detail": [{"loc": ["body"]}]}, 422))
    return title, description, completed, priority, _due_at(fields.get("due_at"))


def _task_fields(record: asyncpg.Record) -> dict[str, Any]:
    """A row as the API returns it: the aggregated tag names as a list, case-insensitively."""
    task = dict(record)
    names = task["tags"]
    task["tags"] = sorted(names.split("\x1f"), key=lambda n: (n.casefold(), n)) if names else []
    return task


def _task(task: dict[str, Any], status_code: int = 200, **headers: str) -> Response:
    return _json(task, status_code, {"ETag": f'"{task["id"]}.{task["version"]}"', **headers})


def _row(record: asyncpg.Record | None, task_id: int) -> Response:
    if record is None:
        return _error(404, "Task not found", task_id=task_id)
    return _task(_task_fields(record))


def _bounded(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise _Rejected(_json({"detail": [{"loc": ["query", name]}]}, 422))
    return int(raw)


def _priority_ranks(request: Request) -> list[int] | None:
    """The ranks of `priority=` (any of them), padded to four slots; None without the filter,
    which needs `sort=due_at` (the one filtered list this app serves)."""
    names = request.query_params.getlist("priority")
    sort = request.query_params.get("sort", "-created_at")
    if not names and sort == "-created_at":
        return None
    if not names or sort != "due_at" or not set(names) <= PRIORITY_RANKS.keys():
        raise _Rejected(_json({"detail": [{"loc": ["query", "priority"]}]}, 422))
    ranks = sorted({PRIORITY_RANKS[name] for name in names})
    return ranks + [-1] * (4 - len(ranks))


async def _page(request: Request, pool: asyncpg.Pool, owner: str) -> Response:
    limit = _bounded(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _bounded(request, "offset", 0, 0, 2**31 - 1)
    ranks = _priority_ranks(request)
    if ranks is None:
        records = await pool.fetch(LIST_SQL, owner, limit, offset)
    else:
        records = await pool.fetch(BY_PRIORITY_SQL, owner, *ranks, limit, offset)
    if records:
        total = records[0]["total"]
    elif offset == 0:
        total = 0
    elif ranks is None:
        total = await pool.fetchval(COUNT_SQL, owner) or 0
    else:
        total = await pool.fetchval(BY_PRIORITY_COUNT_SQL, owner, *ranks)
    tasks = []
    for record in records:
        task = _task_fields(record)
        del task["total"]
        tasks.append(task)
    headers = {
        "X-Total-Count": str(total),
        "Link": link_header(request.url, total=total, limit=limit, offset=offset),
    }
    return _json(tasks, headers=headers)


async def tasks(request: Request) -> Response:
    try:
        owner = await _owner(request)
        pool: asyncpg.Pool = request.app.state.pool
        if request.method == "GET":
            return await _page(request, pool, owner)
        title, description, completed, priority, due_at = await _body(request)
        now = datetime.now(UTC)
        record = await pool.fetchrow(
            CREATE_SQL, owner, title, description, completed, now, now, priority, due_at
        )
        location = f"{request.url.path.rstrip('/')}/{record['id']}"
        return _task(_task_fields(record), 201, Location=location)
    except _Rejected as rejected:
        return rejected.response


async def task(request: Request) -> Response:
    try:
        owner = await _owner(request)
        task_id = _task_id(request)
        pool: asyncpg.Pool = request.app.state.pool
        if request.method == "GET":
            return _row(await pool.fetchrow(GET_SQL, owner, task_id), task_id)
        title, description, completed, priority, due_at = await _body(request)
        now = datetime.now(UTC)
        record = await pool.fetchrow(
            REPLACE_SQL, title, description, completed, now, priority, due_at, owner, task_id
        )
        return _row(record, task_id)
    except _Rejected as rejected:
        return rejected.response


async def toggle(request: Request) -> Response:
    try:
        owner = await _owner(request)
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
    app.state.tokens = VerifiedTokens(os.environ["REFERENCE_SECRET"])
    app.state.users = ProvisionedUsers()
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
