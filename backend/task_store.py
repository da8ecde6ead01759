"""Task and tag queries, every one of them confined to a single owner.

`OwnedTasks` is the only code that reads or writes the task, tag and task_tag tables. It is
built for one user id: every statement it runs is confined by `_owned` (tasks), `_owned_tags`
or `_owned_links` to `user_id = :owner_id` (inserts set `user_id` from that same parameter, or
from the owner's task), and `_params` binds `owner_id` to its user on every call, so a handler
cannot forget the filter.

Each operation is one SQL statement (`... RETURNING`), with no read-before-write; a write with
a version precondition checks it in the same statement (`... AND (version = :v0 OR ...)`). A
task's tags come with it, from a subquery of that statement. A write that changes tags runs the
task's statement and the tags' in one transaction, as do the tag endpoints.
Every statement shape is built once, as a `Statement` with a `bindparam()` for every value, one
per choice that changes the SQL (sort order and each filter present or not; the fields a write
sets, toggle or not, conditional or not, guarded or not). Plain writes, and lists filtered by no
more than completion and search, are built at import; the planning filters (priority, due
dates, tags) and the write guards multiply the shapes past what is worth building up front, so
each of their combinations is built on first use and kept. `STATEMENTS` lists every shape built
at import, one of each planning filter, alone and together, and of each guard. A request only
picks a shape and passes values. They run on a `StatementRunner` (`sql_runner.py`).
"""

import functools
import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Delete,
    Dialect,
    Insert,
    Integer,
    Select,
    String,
    TypeDecorator,
    Update,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from backend.models import Tag, Task, TaskCount, TaskTag, UTCDateTime, utc_now
from backend.schemas import MAX_TAGS, PRIORITY_RANKS, TaskSort, tag_key
from backend.sql_runner import Statement, StatementRunner

TaskRow = Mapping[str, Any]
_Statement = TypeVar("_Statement", Select[Any], Update, Delete)

task_table = Task.__table__
count_table = TaskCount.__table__
tag_table = Tag.__table__
task_tag_table = TaskTag.__table__
# Between the names a task's tags are aggregated into: a control character, which no tag holds.
TAG_SEPARATOR = "\x1f"


def _tag_order(name: str) -> tuple[str, str]:
    """Case-insensitive, then by spelling: the same order on every engine and collation."""
    return tag_key(name), name


class TagNames(TypeDecorator[list[str]]):
    """A task's tag names, aggregated by the database into one string; read as a sorted list."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str | None:
        raise TypeError("tag names are read, never bound")

    def process_result_value(self, value: str | None, dialect: Dialect) -> list[str]:
        return sorted(value.split(TAG_SEPARATOR), key=_tag_order) if value else []


class _TaskTagNames(ColumnElement[list[str]]):
    """The names of the task row's tags, from a subquery correlated to `task` (each engine
    spells its string aggregate its own way), so a page with its tags is one statement.

    Rendered from the tables' names, with every column qualified: SQLAlchemy writes a SQLite
    `RETURNING` clause's columns unqualified, which would make the subquery's `id` ambiguous.
    """

    type = TagNames()
    inherit_cache = True


def _task_tag_names_sql(compiler: SQLCompiler, aggregate: str) -> str:
    quote = compiler.preparer.quote
    task, tag, link = (quote(table.name) for table in (task_table, tag_table, task_tag_table))
    # Only the tables' own names and constants go into this SQL, never a value.
    return (
        f"(SELECT {aggregate}({tag}.name, '{TAG_SEPARATOR}') FROM {link} JOIN {tag} "  # noqa: S608
        f"ON {tag}.user_id = {link}.user_id AND {tag}.{quote('key')} = {link}.{quote('key')} "
        f"WHERE {link}.task_id = {task}.id)"
    )


@compiles(_TaskTagNames)
def _group_concat(element: _TaskTagNames, compiler: SQLCompiler, **kw: Any) -> str:
    return _task_tag_names_sql(compiler, "group_concat")


@compiles(_TaskTagNames, "postgresql")
def _string_agg(element: _TaskTagNames, compiler: SQLCompiler, **kw: Any) -> str:
    return _task_tag_names_sql(compiler, "string_agg")


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
    task_table.c.recurrence,
    _TaskTagNames().label("tags"),
    task_table.c.created_at,
    task_table.c.updated_at,
    task_table.c.version,
)
# Fields a write may set: a statement exists for each set of them, and for nothing else.
_WRITABLE_FIELDS = frozenset(
    {"title", "description", "completed", "priority", "due_at", "recurrence"}
)
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
# A task's tags, by key, in fixed slots (unused ones NULL) so that one shape serves any number.
_TAG_KEYS = tuple(bindparam(f"tag_key_{slot}", type_=String) for slot in range(MAX_TAGS))
_TAG_NAMES = tuple(bindparam(f"tag_name_{slot}", type_=String) for slot in range(MAX_TAGS))
# The `tag=` filters' keys, one slot per tag named (each count its own shape).
_TAG_FILTERS = tuple(bindparam(f"tag_filter_{slot}", type_=String) for slot in range(MAX_TAGS))
_TAG_KEY = bindparam("tag_key", type_=String)
_NEW_NAME = bindparam("new_name", type_=String)
_NEW_KEY = bindparam("new_key", type_=String)
_UPDATED_AT = bindparam("updated_at", type_=UTCDateTime())
# What `icontains(..., autoescape=True)` does to a literal, done to the bound search value.
_LIKE_ESCAPE = "/"


@dataclass(frozen=True, slots=True)
class PlanningFilters:
    """The list filters on priority, due date and tags; the defaults filter nothing.

    `priorities` are names (any of them matches); `due_before` is exclusive, `due_after`
    inclusive; `overdue` is a due date before now on an open task; `tags` are tag names (a task
    must carry all of them, matched case-insensitively).
    """

    priorities: frozenset[str] = frozenset()
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None
    has_due: bool | None = None
    tags: frozenset[str] = frozenset()

    @property
    def shape(self) -> "PlanningShape":
        """What changes the SQL: which filters are present, the booleans' values, and how many
        distinct tags are named."""
        return (
            bool(self.priorities),
            self.due_before is not None,
            self.due_after is not None,
            self.overdue,
            self.has_due,
            len(self.tag_keys),
        )

    @property
    def tag_keys(self) -> list[str]:
        """The distinct tags named (`Home` and `home` are one), in a stable order."""
        return sorted({tag_key(name) for name in self.tags})

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
        values.update(
            (bind.key, key) for bind, key in zip(_TAG_FILTERS, self.tag_keys, strict=False)
        )
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
        recurrence: str | None,
        tags: Sequence[str],
    ) -> TaskRow:
        """One statement, or, with tags, the insert and the tags in one transaction."""
        now = utc_now()
        params = self._params(
            title=title,
            description=description,
            completed=completed,
            priority=PRIORITY_RANKS[priority],
            due_at=due_at,
            recurrence=recurrence,
            created_at=now,
            updated_at=now,
        )
        if not tags:
            return await self._runner.one(_CREATE, params)
        async with self._runner.transaction() as transaction:
            row = await transaction.one(_CREATE, params)
            row["tags"] = await self.on(transaction)._retag(row["id"], tags, replacing=False)
        return row

    async def update(
        self,
        task_id: int,
        versions: Collection[int] | None,
        values: dict[str, Any],
        *,
        tags: Sequence[str] | None = None,
        guarded: bool = True,
    ) -> TaskRow | None:
        """Write `values`, and make `tags` the task's tags unless None, if the task exists (and
        is at one of `versions`, when given).

        None means no row matched: the task is missing, or its version was not accepted, or,
        when `guarded`, the write needs the stored task to be planned (`_guards`): the caller
        reads it, plans, and writes again unguarded at the version it read.
        """
        return await self._write(task_id, versions, values, tags, toggle=False, guarded=guarded)

    async def toggle(self, task_id: int, versions: Collection[int] | None) -> TaskRow | None:
        """Flip `completed` inside the UPDATE itself, so concurrent toggles never lose one; an
        open recurring task matches no row (it is rescheduled instead, as `update` says)."""
        return await self._write(task_id, versions, {}, None, toggle=True, guarded=True)

    async def _write(
        self,
        task_id: int,
        versions: Collection[int] | None,
        values: dict[str, Any],
        tags: Sequence[str] | None,
        *,
        toggle: bool,
        guarded: bool,
    ) -> TaskRow | None:
        unknown = values.keys() - _WRITABLE_FIELDS
        if unknown:
            raise ValueError(f"not a writable task field: {sorted(unknown)}")
        params = self._params(task_id=task_id, updated_at=utc_now(), **values)
        if "priority" in values:
            params["priority"] = PRIORITY_RANKS[values["priority"]]
        if versions is not None:
            params["versions"] = _version_list(versions)
        guard, needs_due = _guards(values, toggle) if guarded else (None, False)
        shape = (tuple(sorted(values)), toggle, versions is not None, guard, needs_due)
        if tags is None:
            return await self._runner.one_or_none(_update_statement(*shape), params)
        if not tags:
            # Most tasks carry no tags: then clearing them is the update alone.
            row = await self._runner.one_or_none(_update_statement(*shape, untagged=True), params)
            if row is not None:
                return row
        async with self._runner.transaction() as transaction:
            row = await transaction.one_or_none(_update_statement(*shape), params)
            if row is not None:
                row["tags"] = await self.on(transaction)._retag(task_id, tags, replacing=True)
        return row

    async def _retag(self, task_id: int, tags: Sequence[str], *, replacing: bool) -> list[str]:
        """Give the task exactly `tags` (creating the user's new ones), on this store's runner,
        a transaction; the task's tag names as stored. Tags left on no task are deleted."""
        keys = [tag_key(name) for name in tags]
        params = self._params(task_id=task_id, **_slots(_TAG_KEYS, keys))
        if replacing and await self._runner.execute(_UNLINK, params):
            await self._runner.execute(_DROP_UNUSED, self._params())
        if tags:
            names = _slots(_TAG_NAMES, tags)
            await self._runner.execute(_UPSERT_TAGS, {**params, **names})
            await self._runner.execute(_LINK, params)
        row = await self._runner.one(_TAGS_OF, params)
        return list(row["tags"])

    async def delete(self, task_id: int, versions: Collection[int] | None) -> bool:
        params = self._params(task_id=task_id)
        if versions is not None:
            params["versions"] = _version_list(versions)
        return await self._runner.one_or_none(_DELETES[versions is not None], params) is not None

    async def tag_counts(self) -> list[dict[str, Any]]:
        """The user's tags that some task carries, with how many, sorted case-insensitively."""
        rows = await self._runner.all(_TAG_COUNTS, self._params())
        return sorted(rows, key=lambda row: _tag_order(row["name"]))

    async def rename_tag(self, name: str, new_name: str) -> dict[str, Any] | None:
        """Rename the tag `name` on every task, merging it into the tag `new_name` already
        names, if any (spelled `new_name` from now on); None if no task carries `name`."""
        key, new_key = tag_key(name), tag_key(new_name)
        async with self._runner.transaction() as runner:
            found = await runner.one_or_none(_FIND_TAG, self._params(tag_key=key))
            if found is None:
                return None
            params = self._params(tag_key=key, new_name=new_name, new_key=new_key)
            if new_key != key and await runner.one_or_none(_TAG_BY_KEY, params) is not None:
                await runner.execute(_MERGE, params)
                await runner.execute(_DELETE_TAG, params)
                params["tag_key"] = new_key
            await runner.execute(_RENAME, params)
            renamed = self._params(tag_key=new_key, updated_at=utc_now())
            await runner.execute(_TOUCH_TAGGED, renamed)
            counted = await runner.one(_TAG_COUNT, renamed)
        return {"name": new_name, "count": counted["count"]}

    async def delete_tag(self, name: str) -> bool:
        """Take the tag off every task and forget it; False if no task carries it."""
        async with self._runner.transaction() as runner:
            found = await runner.one_or_none(_FIND_TAG, self._params(tag_key=tag_key(name)))
            if found is None:
                return False
            params = self._params(tag_key=found["key"], updated_at=utc_now())
            await runner.execute(_TOUCH_TAGGED, params)
            await runner.execute(_DELETE_TAG, params)
        return True


def _slots(binds: Sequence[Any], values: Sequence[Any]) -> dict[str, Any]:
    """`values` in the fixed slots `binds`, the unused ones NULL."""
    padded = [*values, *[None] * (len(binds) - len(values))]
    return {bind.key: value for bind, value in zip(binds, padded, strict=True)}


_Guard = Literal["stored", "sent"] | None


def _guards(values: Mapping[str, Any], toggle: bool) -> tuple[_Guard, bool]:
    """What a write must not do in one statement, because the stored task decides it.

    A write that completes a task (a toggle, `completed: true`) must not complete an open
    recurring one, which is rescheduled instead: the recurrence that decides is the one `sent`,
    or else the one `stored`. A recurrence set without a due date in the same write needs the
    stored task to have one.
    """
    guard: _Guard = None
    if toggle or values.get("completed") is True:
        if "recurrence" not in values:
            guard = "stored"
        elif values["recurrence"] is not None:
            guard = "sent"
    needs_due = values.get("recurrence") is not None and "due_at" not in values
    return guard, needs_due


def _like_literal(search: str) -> str:
    """`search` matched literally by `LIKE ... ESCAPE '/'`: its wildcards and the escape
    character itself escaped, exactly as `autoescape=True` escapes a literal."""
    escape = _LIKE_ESCAPE
    return (
        search.replace(escape, escape + escape)
        .replace("%", escape + "%")
        .replace("_", escape + "_")
    )


PlanningShape = tuple[bool, bool, bool, bool | None, bool | None, int]


def _filtered(
    statement: Select[Any],
    completed: bool | None,
    searching: bool,
    planning: PlanningShape = _NO_PLANNING_SHAPE,
) -> Select[Any]:
    statement = OwnedTasks._owned(statement)
    by_priority, before, after, overdue, has_due, tags = planning
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
    for slot in range(tags):
        statement = statement.where(task_table.c.id.in_(_tagged(_TAG_FILTERS[slot])))
    if completed is not None:
        statement = statement.where(task_table.c.completed == completed)
    if searching:
        statement = statement.where(
            task_table.c.title.icontains(_SEARCH, escape=_LIKE_ESCAPE)
            | task_table.c.description.icontains(_SEARCH, escape=_LIKE_ESCAPE)
        )
    return statement


def _tagged(key: BindParameter[str]) -> Select[Any]:
    """The ids of the owner's tasks that carry the tag `key`, read off the links' index (an
    alias of their own, so that a statement on the links does not correlate them away)."""
    links = task_tag_table.alias(f"tagged_{key.key}")
    return select(links.c.task_id).where(links.c.user_id == _OWNER, links.c.key == key)


def _count_statement(
    completed: bool | None, searching: bool, planning: PlanningShape = _NO_PLANNING_SHAPE
) -> Select[Any]:
    """How many tasks match, as `total`: read from the trigger-kept `task_count` row, or
    counted when searching (a substring search reads every task of the user anyway) or
    filtering by priority, due date or tag (counted off their indexes; tags alone, off the
    links alone, each of which is one of the owner's tasks)."""
    tags = planning[-1]
    if tags and not searching and completed is None and planning[:-1] == _NO_PLANNING_SHAPE[:-1]:
        links = _owned_links(select(func.count().label("total")).select_from(task_tag_table))
        return links.where(
            task_tag_table.c.key == _TAG_FILTERS[0],
            *(task_tag_table.c.task_id.in_(_tagged(_TAG_FILTERS[slot])) for slot in range(1, tags)),
        )
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


@functools.cache
def _update_statement(
    fields: tuple[str, ...],
    toggle: bool,
    conditional: bool,
    guard: _Guard = None,
    needs_due: bool = False,
    untagged: bool = False,
) -> Statement:
    """Set `fields` (and flip `completed`, for a toggle) on the task, if its version is in the
    bound `versions` list (whatever its version, unless `conditional`), and if it passes the
    guards (`_guards`; `untagged`: it carries no tag). Built on first use and kept."""
    values: dict[str, Any] = {field: _bind(field) for field in fields}
    if toggle:
        values["completed"] = ~task_table.c.completed
    statement = (
        OwnedTasks._owned(update(task_table))
        .where(task_table.c.id == _TASK_ID)
        .values(**values, updated_at=_UPDATED_AT, version=task_table.c.version + 1)
        .returning(*_columns)
    )
    if conditional:
        statement = statement.where(_version_accepted())
    if guard == "stored":
        statement = statement.where(or_(task_table.c.completed, task_table.c.recurrence.is_(None)))
    elif guard == "sent":
        statement = statement.where(task_table.c.completed.is_(True))
    if needs_due:
        statement = statement.where(task_table.c.due_at.is_not(None))
    if untagged:
        statement = statement.where(~exists().where(task_tag_table.c.task_id == task_table.c.id))
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
        recurrence=bindparam("recurrence"),
        created_at=bindparam("created_at", type_=UTCDateTime()),
        updated_at=_UPDATED_AT,
        version=1,
    )
    .returning(*_columns)
)
_TAGS_OF = Statement(
    OwnedTasks._owned(select(_TaskTagNames().label("tags")).select_from(task_table)).where(
        task_table.c.id == _TASK_ID
    )
)


def _owned_tags(statement: _Statement) -> _Statement:
    """`statement` confined to the tags of the owner that `_params` binds."""
    return statement.where(tag_table.c.user_id == _OWNER)


def _owned_links(statement: _Statement) -> _Statement:
    """`statement` confined to the links of the owner's tasks to their tags."""
    return statement.where(task_tag_table.c.user_id == _OWNER)


def _for_each_engine(build: Any) -> Statement:
    """A statement SQLAlchemy writes per dialect (`ON CONFLICT`), built for each engine."""
    return Statement(build(postgresql.insert), sqlite=build(sqlite.insert))


def _upsert_tags(dialect_insert: Any) -> Insert:
    """Create the owner's tags named in the `tag_name_*` slots, keyed by `_TAG_KEYS`, that they
    do not have; a tag row no task links to any more takes the new spelling."""
    sent = union_all(
        *(
            select(_TAG_NAMES[slot].label("name"), _TAG_KEYS[slot].label("key"))
            for slot in range(MAX_TAGS)
        )
    ).subquery("sent")
    new_tags = select(bindparam("owner_id", type_=String), sent.c.key, sent.c.name).where(
        sent.c.key.is_not(None)
    )
    statement = dialect_insert(tag_table).from_select(["user_id", "key", "name"], new_tags)
    # Written out: SQLAlchemy would not correlate an EXISTS here to the conflicting row, and
    # would add `tag` to its FROM. Only the tables' own names go into it.
    link, tag = task_tag_table.name, tag_table.name
    unused = text(
        f"NOT EXISTS (SELECT 1 FROM {link} WHERE {link}.user_id = {tag}.user_id "  # noqa: S608
        f'AND {link}."key" = {tag}."key")'
    )
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[tag_table.c.user_id, tag_table.c.key],
        set_={"name": statement.excluded.name},
        where=unused,
    )


def _link(dialect_insert: Any) -> Insert:
    """Link the task to the owner's tags of the keys in `_TAG_KEYS` it does not carry yet."""
    tags = OwnedTasks._owned(
        select(task_table.c.id, task_table.c.user_id, tag_table.c.key).select_from(
            task_table.join(tag_table, tag_table.c.user_id == task_table.c.user_id)
        )
    ).where(task_table.c.id == _TASK_ID, tag_table.c.key.in_(_TAG_KEYS))
    statement = dialect_insert(task_tag_table).from_select(["task_id", "user_id", "key"], tags)
    return statement.on_conflict_do_nothing()  # type: ignore[no-any-return]


def _merge(dialect_insert: Any) -> Insert:
    """Give the tag `new_key` every task that carries the tag `tag_key`."""
    tasks = _owned_links(
        select(task_tag_table.c.task_id, task_tag_table.c.user_id, _NEW_KEY).where(
            task_tag_table.c.key == _TAG_KEY
        )
    )
    statement = dialect_insert(task_tag_table).from_select(["task_id", "user_id", "key"], tasks)
    return statement.on_conflict_do_nothing()  # type: ignore[no-any-return]


_UPSERT_TAGS = _for_each_engine(_upsert_tags)
_LINK = _for_each_engine(_link)
# The task's links to tags whose keys are not in `_TAG_KEYS`.
_UNLINK = Statement(
    _owned_links(delete(task_tag_table)).where(
        task_tag_table.c.task_id == _TASK_ID,
        task_tag_table.c.key.not_in(
            _owned_tags(select(tag_table.c.key)).where(tag_table.c.key.in_(_TAG_KEYS))
        ),
    )
)
_linked = exists().where(
    task_tag_table.c.user_id == tag_table.c.user_id, task_tag_table.c.key == tag_table.c.key
)
_DROP_UNUSED = Statement(_owned_tags(delete(tag_table)).where(~_linked))
_FIND_TAG = Statement(
    _owned_tags(select(tag_table.c.key, tag_table.c.name)).where(
        tag_table.c.key == _TAG_KEY, _linked
    )
)
_TAG_BY_KEY = Statement(_owned_tags(select(tag_table.c.key)).where(tag_table.c.key == _NEW_KEY))
# Renaming a tag's key renames its links' too (`ON UPDATE CASCADE`).
_RENAME = Statement(
    _owned_tags(update(tag_table))
    .where(tag_table.c.key == _TAG_KEY)
    .values(name=_NEW_NAME, key=_NEW_KEY)
)
_MERGE = _for_each_engine(_merge)
_DELETE_TAG = Statement(_owned_tags(delete(tag_table)).where(tag_table.c.key == _TAG_KEY))
# A new version for every task carrying the tag: its `tags`, and so its ETag, change.
_TOUCH_TAGGED = Statement(
    OwnedTasks._owned(update(task_table))
    .where(task_table.c.id.in_(_tagged(_TAG_KEY)))
    .values(version=task_table.c.version + 1, updated_at=_UPDATED_AT)
)
_TAG_COUNT = Statement(
    _owned_links(select(func.count().label("count")).select_from(task_tag_table)).where(
        task_tag_table.c.key == _TAG_KEY
    )
)
_TAG_COUNTS = Statement(
    _owned_tags(
        select(tag_table.c.name, func.count(task_tag_table.c.task_id).label("count"))
        .select_from(
            tag_table.join(
                task_tag_table,
                (task_tag_table.c.user_id == tag_table.c.user_id)
                & (task_tag_table.c.key == tag_table.c.key),
            )
        )
        .group_by(tag_table.c.key, tag_table.c.name)
    )
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
# Every plain write, and the toggle (always guarded); the other guarded shapes are built on
# first use.
_UPDATES = [
    *(
        _update_statement(fields, False, conditional)
        for fields in _FIELD_SETS
        for conditional in (False, True)
    ),
    *(_update_statement((), True, conditional, "stored") for conditional in (False, True)),
]
_DELETES = {conditional: _delete_statement(conditional) for conditional in (False, True)}
# Each planning filter alone, and all of them at once (`overdue=false` with the rest).
_PLANNING_SHAPES: tuple[PlanningShape, ...] = (
    (True, False, False, None, None, 0),
    (False, True, False, None, None, 0),
    (False, False, True, None, None, 0),
    (False, False, False, True, None, 0),
    (False, False, False, False, None, 0),
    (False, False, False, None, True, 0),
    (False, False, False, None, False, 0),
    (False, False, False, None, None, 1),
    (True, True, True, False, True, 2),
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
    *_UPDATES,
    *(
        _update_statement(fields, False, conditional, guard, needs_due, untagged)
        for fields, guard, needs_due in (
            (("completed",), "stored", False),
            (("completed", "recurrence"), "sent", False),
            (("recurrence",), None, True),
        )
        for conditional in (False, True)
        for untagged in (False, True)
    ),
    *_DELETES.values(),
    _TAGS_OF,
    _UPSERT_TAGS,
    _LINK,
    _UNLINK,
    _DROP_UNUSED,
    _FIND_TAG,
    _TAG_BY_KEY,
    _RENAME,
    _MERGE,
    _DELETE_TAG,
    _TOUCH_TAGGED,
    _TAG_COUNT,
    _TAG_COUNTS,
)
