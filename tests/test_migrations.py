"""The migrated schema is exactly the models' schema, with the indexes the queries need."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.migrate import alembic_config
from backend.models import SQLModel, utc_now

from support import ApiUser


def schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def task_indexes(connection: Connection) -> dict[str, list[str]]:
    return {
        index["name"]: index["column_names"] for index in inspect(connection).get_indexes("task")
    }


async def test_migrations_create_exactly_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(schema_differences)

    assert differences == []


async def test_task_indexes_serve_the_queries(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        indexes = await connection.run_sync(task_indexes)

    # One per sort order of the list, each ending in the id tie-breaker.
    assert indexes["ix_task_user_id_created_at_id"] == ["user_id", "created_at", "id"]
    assert indexes["ix_task_user_id_updated_at_id"] == ["user_id", "updated_at", "id"]
    assert indexes["ix_task_user_id_title_id"] == ["user_id", "title", "id"]
    assert indexes["ix_task_user_id_id"] == ["user_id", "id"]


def _alembic(connection: Connection, command_name: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, command_name)(config, revision)


async def test_task_counts_are_backfilled_and_every_revision_downgrades(
    engine: AsyncEngine, alice: ApiUser
) -> None:
    await alice.create(title="before", completed=True)
    await alice.create(title="before too")
    async with engine.begin() as connection:
        await connection.run_sync(_alembic, "downgrade", "0002")
        await connection.execute(
            text(
                "INSERT INTO task (user_id, title, completed, created_at, updated_at, version) "
                "VALUES (:owner, 'added without triggers', true, :now, :now, 1)"
            ),
            {"owner": alice.id, "now": utc_now()},
        )
        await connection.run_sync(_alembic, "upgrade", "head")
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []

    response = await alice.request("GET", params={"completed": "true"})
    assert response.headers["x-total-count"] == "2"

    async with engine.begin() as connection:
        await connection.run_sync(_alembic, "downgrade", "base")
        await connection.run_sync(_alembic, "upgrade", "head")
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []
