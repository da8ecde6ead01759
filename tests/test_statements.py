"""Every statement the app runs compiles once and runs on both engines with the same rows; what
the asyncpg path cannot run is refused when the statement is built, never on a request."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, literal, select

from backend import health, idempotency, schema_revision, task_store, user_store
from backend.models import UTCDateTime, utc_now
from backend.schemas import MAX_TAGS
from backend.sql_runner import Statement, UnsupportedStatement

from support import ApiUser

STATEMENTS: list[Statement] = [
    *task_store.STATEMENTS,
    *idempotency.STATEMENTS,
    *user_store.STATEMENTS,
    *health.STATEMENTS,
    *schema_revision.STATEMENTS,
]


def _values(alice: ApiUser, task_id: int) -> dict[str, Any]:
    """A value for every parameter any statement takes, naming alice's task."""
    now = utc_now()
    return {
        "owner_id": alice.id,
        "task_id": task_id,
        "title": "Written by the statement test",
        "description": None,
        "completed": True,
        "priority": 2,
        "due_at": now + timedelta(days=1),
        "recurrence": "FREQ=DAILY",
        **{f"tag_key_{slot}": f"tag {slot}" for slot in range(MAX_TAGS)},
        **{f"tag_name_{slot}": f"Tag {slot}" for slot in range(MAX_TAGS)},
        **{f"tag_filter_{slot}": f"tag {slot}" for slot in range(MAX_TAGS)},
        "tag_key": "tag 1",
        "new_name": "Renamed",
        "new_key": "renamed",
        "now": now,
        "due_before": now + timedelta(days=2),
        "due_after": now - timedelta(days=2),
        **{f"priorities_{slot}": rank for slot, rank in enumerate((2, 3, 3, 3))},
        "created_at": now,
        "updated_at": now,
        "versions": ",1,2,",
        "search": "statement",
        "limit": 5,
        "offset": 0,
        "idempotency_key": "statement-test",
        "fingerprint": "f" * 64,
        "expired_before": now - timedelta(days=1),
        "status_code": 201,
        "response_body": "{}",
        "location": "/api/alice-id/tasks/1",
        "id": alice.id,
        "email": "alice@example.com",
        "name": "Alice",
        "claimed_email": "nobody@example.com",
        "claimant_id": alice.id,
    }


def test_every_statement_shape_is_built_at_import() -> None:
    # 72 pages and their 72 totals; 18 of each with planning filters (9 sets of them, with and
    # without search); 128 plain writes, 2 toggles, 12 guarded writes, 2 deletes, get and
    # create; 13 statements on tags.
    assert len(task_store.STATEMENTS) == 339
    assert len({id(statement) for statement in STATEMENTS}) == len(STATEMENTS)


async def test_every_statement_runs_on_this_engine(app: FastAPI, alice: ApiUser) -> None:
    created = await alice.create(title="statement target")
    values = _values(alice, created["id"])
    runner = app.state.runner

    for statement in STATEMENTS:
        async with runner.transaction() as transaction:
            rows = await transaction.all(statement, values)
        for row in rows:
            assert tuple(row) == statement.keys, statement

    listed = await alice.request("GET")
    assert listed.status_code == 200


def test_a_missing_value_is_an_error_never_null() -> None:
    statement = task_store.STATEMENTS[0]
    with pytest.raises(KeyError, match="task_id"):
        statement.arguments({"owner_id": "alice-id"})


_metadata = MetaData()
_table = Table(
    "example",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("label", String, default=lambda: "computed in Python"),
)


@pytest.mark.parametrize(
    ("construct", "reason"),
    [
        (select(_table).where(_table.c.id.in_(bindparam("ids", expanding=True))), "expanding"),
        (insert(_table).values(id=bindparam("id")), "default computed in Python"),
        (select(_table).where(_table.c.id == literal(utc_now(), UTCDateTime())), "conversion"),
        (select(_table.c.id + 1), "label it"),
    ],
)
def test_what_the_asyncpg_path_cannot_run_fails_when_built(construct: Any, reason: str) -> None:
    with pytest.raises(UnsupportedStatement, match=reason):
        Statement(construct)


def test_parameters_keep_their_names_whatever_sqlalchemy_renders() -> None:
    statement = Statement(
        select(_table).where(_table.c.label == bindparam("a label"), _table.c.id > 7)
    )

    assert "$1" in statement.sql
    assert "$2" in statement.sql
    assert statement.arguments({"a label": "x"}) == ["x", 7]
