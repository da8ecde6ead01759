"""Stored `Idempotency-Key`s: a retried POST replays the first response instead of acting twice.

Per the IETF httpapi Idempotency-Key draft. A key belongs to one user. The key is claimed with
`INSERT ... ON CONFLICT` in the same transaction that creates the task and records its response,
so a concurrent duplicate waits on the unique key until that transaction ends, then replays the
stored response (or, if it rolled back, claims the key itself). Expired keys are reclaimed by
the claim itself, and deleted by `purge_expired` at startup and then periodically.

Like the task statements (`task_store.py`), each statement is built once, at import, with
bound parameters, a key's owner among them: `IdempotencyKeys._params` binds it on every call.
"""

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Insert, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from starlette.responses import Response

from backend.errors import error_response, schema_mismatch
from backend.etags import task_etag
from backend.models import IdempotencyKey, UTCDateTime, utc_now
from backend.sql_runner import Statement, StatementRunner

logger = logging.getLogger("backend.idempotency")

key_table = IdempotencyKey.__table__

# Parameters outside VALUES and SET are named unlike any column: in an INSERT or UPDATE,
# SQLAlchemy reserves a column's name for that column's value.
_OWNER = bindparam("owner_id")
_KEY = bindparam("idempotency_key")
_EXPIRED_BEFORE = bindparam("expired_before", type_=UTCDateTime())


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """What the first request with a key answered (status None: it has not finished)."""

    fingerprint: str
    status_code: int | None
    body: bytes | None
    location: str | None


def fingerprint(normalised_body: object) -> str:
    """SHA-256 of the validated body: the same request however its JSON was spelled."""
    return hashlib.sha256(orjson.dumps(normalised_body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class IdempotencyKeys:
    """One user's idempotency keys, on the runner (the transaction) of their tasks.

    `once` is the whole protocol: claim, act and record in one transaction, or replay what the
    key's first request answered, 422 for the same key with another body, 409 while the first
    request is still in flight.
    """

    __slots__ = ("_owner_id", "_runner", "_ttl")

    def __init__(self, runner: StatementRunner, owner_id: str, ttl: timedelta) -> None:
        self._runner = runner
        self._owner_id = owner_id
        self._ttl = ttl

    def _within(self, runner: StatementRunner) -> "IdempotencyKeys":
        """The same keys on `runner`: the transaction that also writes the task."""
        return IdempotencyKeys(runner, self._owner_id, self._ttl)

    async def once(
        self,
        key: str,
        request_fingerprint: str,
        act: Callable[[StatementRunner], Awaitable[Response]],
    ) -> Response:
        """`act`'s response, acting only for the key's first request: the claim, what `act`
        writes on the runner it is given, and the stored response commit together or not at
        all."""
        async with self._runner.transaction() as transaction:
            keys = self._within(transaction)
            if await keys.claim(key, request_fingerprint):
                response = await act(transaction)
                await keys.record(
                    key, response.status_code, bytes(response.body), response.headers["Location"]
                )
                return response
            stored = await keys.stored(key)
        return _answer_again(stored, key, request_fingerprint)

    def _params(self, **values: Any) -> dict[str, Any]:
        """The values of one statement, always with this store's owner."""
        values["owner_id"] = self._owner_id
        return values

    async def claim(self, key: str, request_fingerprint: str) -> bool:
        """True when this request now owns the key (new, or its previous use has expired)."""
        now = utc_now()
        params = self._params(
            idempotency_key=key,
            fingerprint=request_fingerprint,
            created_at=now,
            expired_before=now - self._ttl,
        )
        return await self._runner.one_or_none(_CLAIM, params) is not None

    async def stored(self, key: str) -> StoredResponse | None:
        row = await self._runner.one_or_none(_STORED, self._params(idempotency_key=key))
        if row is None:
            return None
        body = None if row["response_body"] is None else row["response_body"].encode()
        return StoredResponse(row["fingerprint"], row["status_code"], body, row["location"])

    async def record(self, key: str, status_code: int, body: bytes, location: str | None) -> None:
        params = self._params(
            idempotency_key=key,
            status_code=status_code,
            response_body=body.decode(),
            location=location,
        )
        await self._runner.execute(_RECORD, params)


def _answer_again(stored: StoredResponse | None, key: str, request_fingerprint: str) -> Response:
    """What a repeated key gets: the first response replayed, or why it cannot be."""
    if stored is not None and stored.fingerprint != request_fingerprint:
        return error_response(
            422,
            "This Idempotency-Key was already used with a different request body",
            idempotency_key=key,
        )
    if stored is None or stored.status_code is None or stored.body is None:
        return error_response(
            409,
            "A request with this Idempotency-Key is still being processed: retry shortly",
            headers={"Retry-After": "1"},
        )
    headers = {"ETag": task_etag(orjson.loads(stored.body)), "Idempotent-Replayed": "true"}
    if stored.location is not None:
        headers["Location"] = stored.location
    return Response(stored.body, stored.status_code, headers, media_type="application/json")


def _claim_statement(dialect_insert: Any) -> Insert:
    """Claim a key: insert it, or take over its row once the previous use has expired."""
    statement = dialect_insert(key_table).values(
        user_id=_OWNER,
        key=_KEY,
        fingerprint=bindparam("fingerprint"),
        created_at=bindparam("created_at", type_=UTCDateTime()),
    )
    return statement.on_conflict_do_update(
        index_elements=[key_table.c.user_id, key_table.c.key],
        set_={
            "fingerprint": statement.excluded.fingerprint,
            "created_at": statement.excluded.created_at,
            "status_code": None,
            "response_body": None,
            "location": None,
        },
        where=key_table.c.created_at < _EXPIRED_BEFORE,
    ).returning(key_table.c.key)


_CLAIM = Statement(_claim_statement(postgresql.insert), sqlite=_claim_statement(sqlite.insert))
_STORED = Statement(
    select(
        key_table.c.fingerprint,
        key_table.c.status_code,
        key_table.c.response_body,
        key_table.c.location,
    ).where(key_table.c.user_id == _OWNER, key_table.c.key == _KEY)
)
_RECORD = Statement(
    update(key_table)
    .where(key_table.c.user_id == _OWNER, key_table.c.key == _KEY)
    .values(
        status_code=bindparam("status_code"),
        response_body=bindparam("response_body"),
        location=bindparam("location"),
    )
)
_PURGE = Statement(delete(key_table).where(key_table.c.created_at < _EXPIRED_BEFORE))
# Every statement of this module, for the test that runs each one on both engines.
STATEMENTS = (_CLAIM, _STORED, _RECORD, _PURGE)


async def purge_expired(runner: StatementRunner, ttl: timedelta) -> int:
    """Delete every key older than `ttl`; returns how many went."""
    purged = await runner.execute(_PURGE, {"expired_before": utc_now() - ttl})
    if purged:
        logger.info("purged %d expired idempotency keys", purged)
    return purged


async def purge_periodically(
    runner: StatementRunner, ttl: timedelta, interval: float, stopping: asyncio.Event
) -> None:
    """Purge expired keys now (at startup) and then every `interval` seconds until `stopping`.

    A failed pass (database down) is logged and retried at the next interval; claiming a key
    treats an expired one as free anyway, so purging only reclaims space. Shutdown waits for
    a pass in flight rather than cancelling it mid-statement.
    """
    while not stopping.is_set():
        try:
            await purge_expired(runner, ttl)
        except Exception as exc:
            reason = "the database schema is not migrated" if schema_mismatch(exc) else None
            logger.warning(
                "purging expired idempotency keys failed: %s", reason or type(exc).__name__
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
