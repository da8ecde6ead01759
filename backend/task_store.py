"""Task queries, every one of them confined to a single owner.

`OwnedTasks` is the only code that reads or writes the task table. It is built for one user id
and adds `user_id = :owner` to every statement itself, so a handler cannot forget the filter.
Each operation is one SQL statement (`... RETURNING`), with no read-before-write.
"""

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Delete, Select, Update, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.models import Task, utc_now

TaskRow = Mapping[str, Any]
_Statement = TypeVar("_Statement", Select[Any], Update, Delete)

task_table = Task.__table__
_columns = (
    task_table.c.id,
    task_table.c.user_id,
    task_table.c.title,
    task_table.c.description,
    task_table.c.completed,
    task_table.c.created_at,
    task_table.c.updated_at,
)


class OwnedTasks:
    """The tasks of one user, and only theirs."""

    __slots__ = ("_connection", "_owner_id")

    def __init__(self, connection: AsyncConnection, owner_id: str) -> None:
        self._connection = connection
        self._owner_id = owner_id

    def _owned(self, statement: _Statement) -> _Statement:
        return statement.where(task_table.c.user_id == self._owner_id)

    async def list(self, *, completed: bool | None, search: str | None) -> Sequence[TaskRow]:
        statement = self._owned(select(*_columns))
        if completed is not None:
            statement = statement.where(task_table.c.completed == completed)
        if search:
            statement = statement.where(
                task_table.c.title.icontains(search, autoescape=True)
                | task_table.c.description.icontains(search, autoescape=True)
            )
        statement = statement.order_by(task_table.c.created_at.desc(), task_table.c.id.desc())
        result = await self._connection.execute(statement)
        return result.mappings().all()

    async def get(self, task_id: int) -> TaskRow | None:
        statement = self._owned(select(*_columns)).where(task_table.c.id == task_id)
        result = await self._connection.execute(statement)
        return result.mappings().one_or_none()

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
            )
            .returning(*_columns)
        )
        result = await self._connection.execute(statement)
        return result.mappings().one()

    async def replace(
        self, task_id: int, *, title: str, description: str | None, completed: bool
    ) -> TaskRow | None:
        return await self._update(
            task_id, title=title, description=description, completed=completed
        )

    async def toggle(self, task_id: int) -> TaskRow | None:
        """Flip `completed` inside the UPDATE itself, so concurrent toggles never lose one."""
        return await self._update(task_id, completed=~task_table.c.completed)

    async def delete(self, task_id: int) -> bool:
        statement = (
            self._owned(delete(task_table))
            .where(task_table.c.id == task_id)
            .returning(task_table.c.id)
        )
        result = await self._connection.execute(statement)
        return result.first() is not None

    async def _update(self, task_id: int, **values: Any) -> TaskRow | None:
        statement = (
            self._owned(update(task_table))
            .where(task_table.c.id == task_id)
            .values(**values, updated_at=utc_now())
            .returning(*_columns)
        )
        result = await self._connection.execute(statement)
        return result.mappings().one_or_none()
