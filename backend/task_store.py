"""Task queries, every one of them confined to a single owner.

`OwnedTasks` is the only code that reads or writes the task table. It is built for one user id
and adds `user_id = :owner` to every statement itself, so a handler cannot forget the filter.
Each operation is one SQL statement (`... RETURNING`), with no read-before-write; a write with
a version precondition checks it in the same statement (`... AND (version = ... OR ...)`).
The statements run on a `StatementRunner` (`sql_runner.py`): straight on asyncpg on PostgreSQL.
"""

from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Delete,
    Select,
    Update,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)

from backend.models import Task, TaskCount, utc_now
from backend.sql_runner import StatementRunner

TaskRow = Mapping[str, Any]
_Statement = TypeVar("_Statement", Select[Any], Update, Delete)

task_table = Task.__table__
count_table = TaskCount.__table__
_columns = (
    task_table.c.id,
    task_table.c.user_id,
    task_table.c.title,
    task_table.c.description,
    task_table.c.completed,
    task_table.c.created_at,
    task_table.c.updated_at,
    task_table.c.version,
)
# Fields a list may be sorted by; each has an index (user_id, field, id) in models.py.
SORT_FIELDS = ("created_at", "updated_at", "title", "id")


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of a filtered, sorted list, and how many tasks match the filters in all."""

    tasks: list[dict[str, Any]]
    total: int


class OwnedTasks:
    """The tasks of one user, and only theirs."""

    __slots__ = ("_owner_id", "_runner")

    def __init__(self, runner: StatementRunner, owner_id: str) -> None:
        self._runner = runner
        self._owner_id = owner_id

    @property
    def runner(self) -> StatementRunner:
        """Where the statements run, for stores that must commit together with the task."""
        return self._runner

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["OwnedTasks"]:
        """The same store with every statement in one transaction, committed at the end."""
        async with self._runner.transaction() as runner:
            yield OwnedTasks(runner, self._owner_id)

    @property
    def owner_id(self) -> str:
        return self._owner_id

    def _owned(self, statement: _Statement) -> _Statement:
        return statement.where(task_table.c.user_id == self._owner_id)

    def _filtered(
        self, statement: Select[Any], completed: bool | None, search: str | None
    ) -> Select[Any]:
        statement = self._owned(statement)
        if completed is not None:
            statement = statement.where(task_table.c.completed == completed)
        if search:
            statement = statement.where(
                task_table.c.title.icontains(search, autoescape=True)
                | task_table.c.description.icontains(search, autoescape=True)
            )
        return statement

    def _count(self, completed: bool | None, search: str | None) -> Select[Any]:
        """How many tasks match: read from the trigger-kept `task_count` row, or counted when
        searching (a substring search reads every task of the user anyway)."""
        if search:
            return self._filtered(select(func.count()).select_from(task_table), completed, search)
        if completed is None:
            column = count_table.c.total
        elif completed:
            column = count_table.c.completed
        else:
            column = count_table.c.total - count_table.c.completed
        return select(column).where(count_table.c.user_id == self._owner_id)

    def page_query(
        self, *, completed: bool | None, search: str | None, sort: str, limit: int, offset: int
    ) -> tuple[Select[Any], Select[Any]]:
        """The page statement, with the total as an uncorrelated scalar subquery, and that
        total alone (for a page past the end, which has no row to carry it).

        Each sort order reads the page off its own index (user_id, field, id), forwards or
        backwards, with no sort step; the total is evaluated once per statement.
        """
        field = sort.removeprefix("-")
        if field not in SORT_FIELDS:
            raise ValueError(f"unknown sort field {field!r}")
        order: list[ColumnElement[Any]] = [task_table.c[field]]
        if field != "id":
            order.append(task_table.c.id)
        if sort.startswith("-"):
            order = [column.desc() for column in order]
        count = self._count(completed, search)
        total = func.coalesce(count.scalar_subquery(), 0).label("total")
        statement = (
            self._filtered(select(*_columns, total), completed, search)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
        return statement, count

    async def page(
        self, *, completed: bool | None, search: str | None, sort: str, limit: int, offset: int
    ) -> TaskPage:
        """One page and the total in one round trip (two only past the end of the list)."""
        statement, count = self.page_query(
            completed=completed, search=search, sort=sort, limit=limit, offset=offset
        )
        rows = await self._runner.all(statement)
        if rows:
            total = rows[0]["total"]
        elif offset == 0:
            total = 0
        else:
            row = await self._runner.one_or_none(count)
            total = (next(iter(row.values())) if row else None) or 0
        tasks = [{column.name: row[column.name] for column in _columns} for row in rows]
        return TaskPage(tasks, total)

    async def get(self, task_id: int) -> TaskRow | None:
        statement = self._owned(select(*_columns)).where(task_table.c.id == task_id)
        return await self._runner.one_or_none(statement)

    async def create(self, *, title: str, description: str | None, completed: bool) -> TaskRow:
        now = utc_now()
        statement = (
            insert(task_table)
            .values(
                user_id=self._owner_id,
                title=title,
                description=description,
                completed=completed,
                created_at=now,
                updated_at=now,
                version=1,
            )
            .returning(*_columns)
        )
        return await self._runner.one(statement)

    async def update(
        self, task_id: int, versions: Collection[int] | None, **values: Any
    ) -> TaskRow | None:
        """Write `values` if the task exists (and is at one of `versions`, when given).

        None means no row matched: the task is missing, or its version was not accepted.
        """
        statement = (
            self._owned(update(task_table))
            .where(task_table.c.id == task_id)
            .values(**values, updated_at=utc_now(), version=task_table.c.version + 1)
            .returning(*_columns)
        )
        if versions is not None:
            statement = statement.where(_version_in(versions))
        return await self._runner.one_or_none(statement)

    async def toggle(self, task_id: int, versions: Collection[int] | None) -> TaskRow | None:
        """Flip `completed` inside the UPDATE itself, so concurrent toggles never lose one."""
        return await self.update(task_id, versions, completed=~task_table.c.completed)

    async def delete(self, task_id: int, versions: Collection[int] | None) -> bool:
        statement = (
            self._owned(delete(task_table))
            .where(task_table.c.id == task_id)
            .returning(task_table.c.id)
        )
        if versions is not None:
            statement = statement.where(_version_in(versions))
        return await self._runner.one_or_none(statement) is not None


def _version_in(versions: Collection[int]) -> ColumnElement[bool]:
    """`version` is one of `versions`: one bound parameter each, so the statement keeps a fixed
    shape per count (an expanding `IN` cannot be compiled once for asyncpg)."""
    if not versions:
        return false()
    return or_(*(task_table.c.version == version for version in sorted(versions)))
