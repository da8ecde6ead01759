"""Request and response shapes: what the API accepts, what it returns, and the error bodies."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from backend.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH

# Fields the server owns: a client that echoes a task back may send them, and they are ignored.
READ_ONLY_FIELDS = frozenset({"id", "user_id", "created_at", "updated_at"})


def _reject_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_LENGTH),
    AfterValidator(_reject_nul),
    Field(
        description="1-200 characters after trimming surrounding whitespace.",
        examples=["Buy milk"],
    ),
]
Description = Annotated[
    str | None,
    StringConstraints(max_length=DESCRIPTION_MAX_LENGTH),
    AfterValidator(lambda value: value if value is None else _reject_nul(value)),
    Field(description="Up to 1000 characters, or null.", examples=["Two litres, semi-skimmed"]),
]


class TaskWrite(BaseModel):
    """Fields a client sets on create and on full replacement."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = None
    completed: StrictBool = Field(default=False, description="Defaults to false when omitted.")

    @model_validator(mode="before")
    @classmethod
    def _ignore_read_only_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if key not in READ_ONLY_FIELDS}
        return data


class TaskCreate(TaskWrite):
    """Body of `POST /api/{user_id}/tasks`."""


class TaskReplace(TaskWrite):
    """Body of `PUT /api/{user_id}/tasks/{id}`: omitted fields reset to their defaults."""


class TaskResponse(BaseModel):
    """A task as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(examples=[42])
    user_id: str = Field(examples=["user_2x1"])
    title: str = Field(examples=["Buy milk"])
    description: str | None = Field(examples=["Two litres, semi-skimmed"])
    completed: bool = Field(examples=[False])
    created_at: datetime = Field(description="When the task was created (UTC, ISO 8601).")
    updated_at: datetime = Field(description="When the task last changed (UTC, ISO 8601).")


class ErrorDetail(BaseModel):
    """What went wrong, plus context such as the `task_id` that was not found."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(examples=["Task not found"])


class ErrorResponse(BaseModel):
    """Body of every error except 422 validation errors."""

    detail: ErrorDetail
