"""The migrated schema is exactly the models' schema, with the indexes the queries need."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import Connection, inspect

from backend.models import SQLModel


def schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def task_indexes(connection: Connection) -> dict[str, list[str]]:
    return {
        index["name"]: index["column_names"] for index in inspect(connection).get_indexes("task")
    }


async def test_migrations_create_exactly_the_models(app: FastAPI) -> None:
    async with app.state.engine.connect() as connection:
        differences = await connection.run_sync(schema_differences)

    assert differences == []


async def test_task_indexes_serve_the_queries(app: FastAPI) -> None:
    async with app.state.engine.connect() as connection:
        indexes = await connection.run_sync(task_indexes)

    # One per sort order of the list, each ending in the id tie-breaker.
    assert indexes["ix_task_user_id_created_at_id"] == ["user_id", "created_at", "id"]
    assert indexes["ix_task_user_id_updated_at_id"] == ["user_id", "updated_at", "id"]
    assert indexes["ix_task_user_id_title_id"] == ["user_id", "title", "id"]
    assert indexes["ix_task_user_id_id"] == ["user_id", "id"]
