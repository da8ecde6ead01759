"""Task queries, every one of them confined to a single owner.

`OwnedTasks` is the only code that reads or writes the task table. It is built for one user id:
every statement it runs is confined by `_owned` to `user_id = :owner_id` (inserts set `user_id`
from that same parameter), and `_params` binds `owner_id` to its user on every call, so a
handler cannot forget the filter.

Each operation is one SQL statement (`... RETURNING`), with no read-before-write; a write with
a version precondition checks it in the same statement (`... AND (version = :v0 OR ...)`).
Every statement shape is built once, as a `Statement` with a `bindparam()` for every value, one
per choice that changes the SQL (sort order and each filter present or not; the fields a write
sets, toggle or not, conditional or not). Writes, and lists filtered by no more than completion
and search, are built at import; the planning filters (priority, due dates) multiply the shapes
past what is worth building up front, so each of their combinations is built on first use and
kept. `STATEMENTS` lists every shape built at import and one of each planning filter, alone and
together. A request only picks a shape and passes values. They run on a `StatementRunner`
(`sql_runner.py`).
"""

import functools
import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Delete,
    Integer,
    Select,
    String,
    Update,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)

from backend.models import Task, TaskCount, UTCDateTime, utc_now
from backend.schemas import PRIORITY_RANKS, TaskSort
from backend.sql_runner import Statement, StatementRunner

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
    # The priority's name, from the rank the column keeps: no per-row work in Python, and
    # written into the SQL rather than bound, so no statement sends eight more parameters.
    case(
        *(
            (literal_column(str(rank)), literal_column(f"'{name}'", String))
            for name, rank in PRIORITY_RANKS.items()
        ),
        value=task_table.c.priority,
    ).label("priority"),
    task_table.c.due_at,
    task_table.c.created_at,
    task_table.c.updated_at,
    task_table.c.version,
)
# Fields a write may set: a statement exists for each set of them, and for nothing else.
_WRITABLE_FIELDS = frozenset({"title", "description", "completed", "priority", "due_at"})
# How many priorities a `priority=` filter can name: all of them.
_PRIORITY_SLOTS = len(PRIORITY_RANKS)
_NO_RANK = -1

# Parameters outside VALUES and SET are named unlike any column: in an INSERT or UPDATE,
# SQLAlchemy reserves a column's name for that column's value.
_OWNER = bindparam("owner_id")
_TASK_ID = bindparam("task_id")
_SEARCH = bindparam("search")
_LIMIT = bindparam("limit", type_=Integer)
_OFFSET = bindparam("offset", type_=Integer)
_VERSIONS = bindparam("versions", type_=String)
_NOW = bindparam("now", type_=UTCDateTime())
_DUE_BEFORE = bindparam("due_before", type_=UTCDateTime())
_DUE_AFTER = bindparam("due_after", type_=UTCDateTime())
# A fixed number of slots, so that the shape does not depend on how many priorities are named.
_PRIORITIES = tuple(
    bindparam(f"priorities_{slot}", type_=Integer) for slot in range(_PRIORITY_SLOTS)
)
# What `icontains(..., autoescape=True)` does to a literal, done to the bound search value.
_LIKE_ESCAPE = "/"


@dataclass(frozen=True, slots=True)
class PlanningFilters:
    """The list filters on priority and due date; the defaults filter nothing.

    `priorities` are names (any of them matches); `due_before` is exclusive, `due_after`
    inclusive; `overdue` is a due date before now on an open task.
    """

    priorities: frozenset[str] = frozenset()
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None
    has_due: bool | None = None

    @property
    def shape(self) -> tuple[bool, bool, bool, bool | None, bool | None]:
        """What changes the SQL: which filters are present, and the booleans' values."""
        return (
            bool(self.priorities),
            self.due_before is not None,
            self.due_after is not None,
            self.overdue,
            self.has_due,
        )

    def values(self) -> dict[str, Any]:
        """The bound values of the filters present."""
        values: dict[str, Any] = {}
        if self.priorities:
            ranks = sorted(PRIORITY_RANKS[name] for name in self.priorities)
            # Unused slots hold a rank no task has: a repeated real one would match nothing
            # more, but PostgreSQL would count it again when estimating the rows matched.
            ranks += [_NO_RANK] * (_PRIORITY_SLOTS - len(ranks))
            values.update((bind.key, rank) for bind, rank in zip(_PRIORITIES, ranks, strict=True))
        if self.due_before is not None:
            values["due_before"] = self.due_before
        if self.due_after is not None:
            values["due_after"] = self.due_after
        if self.overdue is not None:
            values["now"] = utc_now()
        return values


NO_PLANNING_FILTERS = PlanningFilters()
_NO_PLANNING_SHAPE = NO_PLANNING_FILTERS.shape


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

    def on(self, runner: StatementRunner) -> "OwnedTasks":
        """The same owner's tasks on `runner` (a transaction that writes more than tasks)."""
        return OwnedTasks(runner, self._owner_id)

    @property
    def owner_id(self) -> str:
        return self._owner_id

    @staticmethod
    def _owned(statement: _Statement) -> _Statement:
        """`statement` confined to the owner that `_params` binds."""
        return statement.where(task_table.c.user_id == _OWNER)

    def _params(self, **values: Any) -> dict[str, Any]:
        """The values of one statement, always with this store's owner."""
        values["owner_id"] = self._owner_id
        return values

    def _page_plan(
        self,
        *,
        completed: bool | None,
        search: str | None,
        sort: str,
        limit: int,
        offset: int,
        planning: PlanningFilters,
    ) -> tuple[Statement, Statement, dict[str, Any]]:
        """The page statement, its total alone, and the values of both."""
        values: dict[str, Any] = {"limit": limit, "offset": offset}
        if search:
            values["search"] = _like_literal(search)
        shape = planning.shape
        if shape == _NO_PLANNING_SHAPE:
            page, count = _PAGES[sort, completed, bool(search)]
        else:
            page, count = _planned_page_statements(sort, completed, bool(search), shape)
            values.update(planning.values())
        return page, count, self._params(**values)

    def page_query(
        self,
        *,
        completed: bool | None,
        search: str | None,
        sort: str,
        limit: int,
        offset: int,
        planning: PlanningFilters = NO_PLANNING_FILTERS,
    ) -> tuple[Select[Any], Select[Any]]:
        """The statements `page` runs, with this owner's values bound into them (for EXPLAIN)."""
        page, count, params = self._page_plan(
            completed=completed,
            search=search,
            sort=sort,
            limit=limit,
            offset=offset,
            planning=planning,
        )
        return page.construct.params(params), count.construct.params(params)

    async def page(
        self,
        *,
        completed: bool | None,
        search: str | None,
        sort: str,
        limit: int,
        offset: int,
        planning: PlanningFilters = NO_PLANNING_FILTERS,
    ) -> TaskPage:
        """One page and the total in one round trip (two only past the end of the list)."""
        statement, count, params = self._page_plan(
            completed=completed,
            search=search,
            sort=sort,
            limit=limit,
            offset=offset,
            planning=planning,
        )
        rows = await self._runner.all(statement, params)
        if rows:
            total = rows[0]["total"]
        elif offset == 0:
            total = 0
        else:
            row = await self._runner.one_or_none(count, params)
            total = row["total"] if row else 0
        for row in rows:
            del row["total"]
        return TaskPage(rows, total)

    async def get(self, task_id: int) -> TaskRow | None:
        return await self._runner.one_or_none(_GET, self._params(task_id=task_id))

    async def create(
        self,
        *,
        title: str,
        description: str | None,
        completed: bool,
        priority: str,
        due_at: datetime | None,
    ) -> TaskRow:
        now = utc_now()
        params = self._params(
            title=title,
            description=description,
            completed=completed,
            priority=PRIORITY_RANKS[priority],
            due_at=due_at,
            created_at=now,
            updated_at=now,
        )
        return await self._runner.one(_CREATE, params)

    async def update(
        self, task_id: int, versions: Collection[int] | None, **values: Any
    ) -> TaskRow | None:
        """Write `values` if the task exists (and is at one of `versions`, when given).

        None means no row matched: the task is missing, or its version was not accepted.
        """
        return await self._write(task_id, versions, values, toggle=False)

    async def toggle(self, task_id: int, versions: Collection[int] | None) -> TaskRow | None:
        """Flip `completed` inside the UPDATE itself, so concurrent toggles never lose one."""
        return await self._write(task_id, versions, {}, toggle=True)

    async def _write(
        self,
        task_id: int,
        versions: Collection[int] | None,
        values: dict[str, Any],
        *,
        toggle: bool,
    ) -> TaskRow | None:
        unknown = values.keys() - _WRITABLE_FIELDS
        if unknown:
            raise ValueError(f"not a writable task field: {sorted(unknown)}")
        statement = _UPDATES[tuple(sorted(values)), toggle, versions is not None]
        if "priority" in values:
            values["priority"] = PRIORITY_RANKS[values["priority"]]
        params = self._params(task_id=task_id, updated_at=utc_now(), **values)
        if versions is not None:
            params["versions"] = _version_list(versions)
        return await self._runner.one_or_none(statement, params)

    async def delete(self, task_id: int, versions: Collection[int] | None) -> bool:
        params = self._params(task_id=task_id)
        if versions is not None:
            params["versions"] = _version_list(versions)
        return await self._runner.one_or_none(_DELETES[versions is not None], params) is not None


def _like_literal(search: str) -> str:
    """`search` matched literally by `LIKE ... ESCAPE '/'`: its wildcards and the escape
    character itself escaped, exactly as `autoescape=True` escapes a literal."""
    escape = _LIKE_ESCAPE
    return (
        search.replace(escape, escape + escape)
        .replace("%", escape + "%")
        .replace("_", escape + "_")
    )


PlanningShape = tuple[bool, bool, bool, bool | None, bool | None]


def _filtered(
    statement: Select[Any],
    completed: bool | None,
    searching: bool,
    planning: PlanningShape = _NO_PLANNING_SHAPE,
) -> Select[Any]:
    statement = OwnedTasks._owned(statement)
    by_priority, before, after, overdue, has_due = planning
    due_at = task_table.c.due_at
    if by_priority:
        statement = statement.where(task_table.c.priority.in_(_PRIORITIES))
    if before:
        statement = statement.where(due_at < _DUE_BEFORE)
    if after:
        statement = statement.where(due_at >= _DUE_AFTER)
    if overdue is True:
        statement = statement.where(due_at < _NOW, task_table.c.completed.is_(False))
    elif overdue is False:
        statement = statement.where(or_(due_at.is_(None), due_at >= _NOW, task_table.c.completed))
    if has_due is not None:
        statement = statement.where(due_at.is_not(None) if has_due else due_at.is_(None))
    if completed is not None:
        statement = statement.where(task_table.c.completed == completed)
    if searching:
        statement = statement.where(
            task_table.c.title.icontains(_SEARCH, escape=_LIKE_ESCAPE)
            | task_table.c.description.icontains(_SEARCH, escape=_LIKE_ESCAPE)
        )
    return statement


def _count_statement(
    completed: bool | None, searching: bool, planning: PlanningShape = _NO_PLANNING_SHAPE
) -> Select[Any]:
    """How many tasks match, as `total`: read from the trigger-kept `task_count` row, or
    counted when searching (a substring search reads every task of the user anyway) or
    filtering by priority or due date (counted off their indexes)."""
    if searching or planning != _NO_PLANNING_SHAPE:
        counted = select(func.count().label("total")).select_from(task_table)
        return _filtered(counted, completed, searching, planning)
    if completed is None:
        column = count_table.c.total
    elif completed:
        column = count_table.c.completed
    else:
        column = count_table.c.total - count_table.c.completed
    return select(column.label("total")).where(count_table.c.user_id == _OWNER)


def _page_statements(
    sort: str,
    completed: bool | None,
    searching: bool,
    planning: PlanningShape = _NO_PLANNING_SHAPE,
) -> tuple[Statement, Statement]:
    """The page statement, with the total as an uncorrelated scalar subquery, and that
    total alone (for a page past the end, which has no row to carry it).

    Each sort order reads the page off its own index (user_id, field, id), forwards or
    backwards, with no sort step (but `-due_at`, whose tasks without a due date come last as
    they do ascending: a backward read would give them first); the total is evaluated once per
    statement.
    """
    field = sort.removeprefix("-")
    order: list[ColumnElement[Any]] = [task_table.c[field]]
    if field != "id":
        order.append(task_table.c.id)
    if sort.startswith("-"):
        order = [column.desc() for column in order]
    if field == "due_at":
        order[0] = order[0].nulls_last()
    count = _count_statement(completed, searching, planning)
    total = func.coalesce(count.scalar_subquery(), 0).label("total")
    statement = (
        _filtered(select(*_columns, total), completed, searching, planning)
        .order_by(*order)
        .limit(_LIMIT)
        .offset(_OFFSET)
    )
    return Statement(statement), Statement(count)


@functools.cache
def _planned_page_statements(
    sort: str, completed: bool | None, searching: bool, planning: PlanningShape
) -> tuple[Statement, Statement]:
    """`_page_statements` for a list with planning filters, built on its first request."""
    return _page_statements(sort, completed, searching, planning)


def _bind(field: str) -> Any:
    """The parameter that sets `field`, typed as its column when the type converts values."""
    return bindparam(field, type_=UTCDateTime()) if field == "due_at" else bindparam(field)


def _update_statement(fields: tuple[str, ...], toggle: bool, conditional: bool) -> Statement:
    """Set `fields` (and flip `completed`, for a toggle) on the task, if its version is in the
    bound `versions` list (whatever its version, unless `conditional`)."""
    values: dict[str, Any] = {field: _bind(field) for field in fields}
    if toggle:
        values["completed"] = ~task_table.c.completed
    statement = (
        OwnedTasks._owned(update(task_table))
        .where(task_table.c.id == _TASK_ID)
        .values(
            **values,
            updated_at=bindparam("updated_at", type_=UTCDateTime()),
            version=task_table.c.version + 1,
        )
        .returning(*_columns)
    )
    if conditional:
        statement = statement.where(_version_accepted())
    return Statement(statement)


def _delete_statement(conditional: bool) -> Statement:
    statement = (
        OwnedTasks._owned(delete(task_table))
        .where(task_table.c.id == _TASK_ID)
        .returning(task_table.c.id)
    )
    if conditional:
        statement = statement.where(_version_accepted())
    return Statement(statement)


def _version_accepted() -> ColumnElement[bool]:
    """The task's version is in `versions`, bound as one comma-separated list (`,3,5,`).

    One parameter whatever the number of `If-Match` tags, so the shape is fixed and the
    statement compiles once; an expanding `IN` would compile per call.
    """
    return _VERSIONS.contains("," + cast(task_table.c.version, String) + ",")


def _version_list(versions: Collection[int]) -> str:
    """`versions` as `_version_accepted` binds them; no version at all matches nothing."""
    return "".join(f",{version}" for version in sorted(versions)) + ","


_GET = Statement(OwnedTasks._owned(select(*_columns)).where(task_table.c.id == _TASK_ID))

_CREATE = Statement(
    insert(task_table)
    .values(
        user_id=_OWNER,
        title=bindparam("title"),
        description=bindparam("description"),
        completed=bindparam("completed"),
        priority=bindparam("priority"),
        due_at=_bind("due_at"),
        created_at=bindparam("created_at", type_=UTCDateTime()),
        updated_at=bindparam("updated_at", type_=UTCDateTime()),
        version=1,
    )
    .returning(*_columns)
)

_PAGES = {
    (sort.value, completed, searching): _page_statements(sort.value, completed, searching)
    for sort in TaskSort
    for completed in (None, True, False)
    for searching in (False, True)
}
_FIELD_SETS = [
    fields
    for size in range(len(_WRITABLE_FIELDS) + 1)
    for fields in itertools.combinations(sorted(_WRITABLE_FIELDS), size)
]
_UPDATES = {
    (fields, toggle, conditional): _update_statement(fields, toggle, conditional)
    for fields in _FIELD_SETS
    for toggle in (False, True)
    if not (toggle and fields)
    for conditional in (False, True)
}
_DELETES = {conditional: _delete_statement(conditional) for conditional in (False, True)}
# Each planning filter alone, and all of them at once (`overdue=false` with the rest).
_PLANNING_SHAPES: tuple[PlanningShape, ...] = (
    (True, False, False, None, None),
    (False, True, False, None, None),
    (False, False, True, None, None),
    (False, False, False, True, None),
    (False, False, False, False, None),
    (False, False, False, None, True),
    (False, False, False, None, False),
    (True, True, True, False, True),
)

# Every statement built at import, and one of each planning filter, with and without search,
# for the test that runs each one on both engines.
STATEMENTS: tuple[Statement, ...] = (
    _GET,
    _CREATE,
    *itertools.chain.from_iterable(_PAGES.values()),
    *itertools.chain.from_iterable(
        _planned_page_statements(TaskSort.DUE_AT.value, None, searching, shape)
        for shape in _PLANNING_SHAPES
        for searching in (False, True)
    ),
    *_UPDATES.values(),
    *_DELETES.values(),
)
