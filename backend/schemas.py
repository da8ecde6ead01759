"""Request and response shapes: what the API accepts, what it returns, and the error bodies."""

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from backend.models import (
    DESCRIPTION_MAX_LENGTH,
    RECURRENCE_MAX_LENGTH,
    TAG_MAX_LENGTH,
    TITLE_MAX_LENGTH,
)
from backend.recurrence import RecurrenceError, canonical_rule

# Fields the server owns: a client that echoes a task back may send them, and they are ignored.
READ_ONLY_FIELDS = frozenset({"id", "user_id", "created_at", "updated_at", "version"})


# PostgreSQL cannot store NUL in text; saying so in the schema lets clients (and fuzzers) know.
NO_NUL = r"^[^\x00]*$"
# Whitespace exactly as `str.strip()` sees it, spelled out because JSON Schema's `\s` (ECMA)
# differs from Python's (U+001C-U+001F, U+0085, U+FEFF): the schema and the check must agree.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# No NUL, and at least one character that is not whitespace.
NOT_BLANK = rf"^[^\x00]*[^{WHITESPACE}\x00][^\x00]*$"


# A whole number in a path or query: ASCII digits, no sign, no leading zero (`0` itself aside),
# no spaces or underscores; what `is_canonical_whole_number` checks, for the OpenAPI document.
CANONICAL_WHOLE_NUMBER = r"^(0|[1-9][0-9]*)$"


def is_canonical_whole_number(text: str) -> bool:
    """`text` is a whole number as `CANONICAL_WHOLE_NUMBER` spells it (string methods, no
    regex: the lean handlers check every id and page bound with it)."""
    return text.isascii() and text.isdigit() and (text[0] != "0" or text == "0")


def _canonical_whole_number(value: object) -> object:
    """A negative number goes on to its bound, whose message says what is allowed (`-0` aside,
    which is not canonical)."""
    if isinstance(value, str) and not is_canonical_whole_number(value):
        magnitude = value.removeprefix("-")
        if magnitude != value and magnitude != "0" and is_canonical_whole_number(magnitude):
            return value
        raise PydanticCustomError(
            "canonical_whole_number",
            "Input should be a valid integer in plain ASCII digits, with no sign, spaces, "
            "underscores, decimal point or leading zeros",
        )
    return value


class CanonicalDigits:
    """`Annotated` metadata for an integer path or query parameter: refuses the text pydantic's
    lax int would read as another number (`2_22`, `+222`, `222.0`, ` 222`, `0222`, fullwidth or
    Arabic-Indic digits), and documents the digits in the OpenAPI schema.

    Put bounds before it (`Annotated[int, Interval(...), CANONICAL_DIGITS]`): after it, pydantic
    2.14 writes them into the schema as `ge`/`le` instead of `minimum`/`maximum`.
    """

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(
            _canonical_whole_number, handler(source)
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": CANONICAL_WHOLE_NUMBER}


CANONICAL_DIGITS = CanonicalDigits()


def _strip_title(value: str) -> str:
    """Trim surrounding whitespace; limits apply to the text as sent, as the schema says."""
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


Title = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TITLE_MAX_LENGTH, pattern=NOT_BLANK),
    AfterValidator(_strip_title),
    Field(
        description="1-200 characters, not all whitespace, no NUL; surrounding whitespace "
        "is trimmed.",
        examples=["Buy milk"],
    ),
]
Description = Annotated[
    str | None,
    StringConstraints(max_length=DESCRIPTION_MAX_LENGTH, pattern=NO_NUL),
    Field(
        description="Up to 1000 characters (no NUL), or null.",
        examples=["Two litres, semi-skimmed"],
    ),
]


class Priority(StrEnum):
    """How much a task matters, in increasing order; stored as its rank (`PRIORITY_RANKS`)."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# The order of the names is the order of the priorities: the rank is what the database keeps.
PRIORITY_RANKS = {priority.value: rank for rank, priority in enumerate(Priority)}

# RFC 3339's `date-time` (section 5.6), with ASCII digits and a required offset. Pydantic's own
# datetime also reads Unix timestamps, dates alone and offset-less times: those are refused here.
RFC3339_DATE_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339 = re.compile(RFC3339_DATE_TIME)


def _rfc3339_text(value: object) -> object:
    """Only RFC 3339 text with an offset goes on to pydantic's datetime parsing."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "rfc3339_date_time",
            "Input should be an RFC 3339 date-time with an offset, such as "
            "2026-12-01T09:00:00+01:00 or 2026-12-01T08:00:00Z",
        )
    return value


def _in_utc(value: datetime) -> datetime:
    """The same instant in UTC, as it is stored and returned; one that UTC cannot express
    (year 1 at a positive offset, year 9999 at a negative one) is refused here, not stored."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "date_time_range", "Input should be an instant between years 1 and 9999 in UTC"
        ) from None


Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_in_utc),
    Field(json_schema_extra={"pattern": RFC3339_DATE_TIME}),
]
INSTANT = TypeAdapter(Instant)
DueAt = Annotated[
    Instant | None,
    Field(
        description="When the task is due: an RFC 3339 date-time with an offset (any offset; "
        "returned in UTC), or null for none.",
        examples=["2026-12-01T09:00:00+01:00"],
    ),
]
MAX_TAGS = 20
# Unicode's control characters (category Cc): C0, DEL and C1.
CONTROL = r"\x00-\x1f\x7f-\x9f"
# No control character, and at least one character that is not whitespace.
TAG_PATTERN = rf"^[^{CONTROL}]*[^{CONTROL}{WHITESPACE}][^{CONTROL}]*$"


_CONTROL = re.compile(rf"[{CONTROL}]")


def _printable_tag(value: object) -> object:
    """Say in words what `TAG_PATTERN` refuses, rather than quote the pattern."""
    if isinstance(value, str) and (_CONTROL.search(value) or (value and not value.strip())):
        raise PydanticCustomError(
            "tag_text", "A tag must not be all whitespace, nor hold control characters"
        )
    return value


def _strip_tag(value: str) -> str:
    """Trimmed; the pattern has already refused a tag that is all whitespace."""
    return value.strip()


def tag_key(name: str) -> str:
    """What makes two tags one: `Home`, `home` and `HOME` share a key."""
    return name.casefold()


def _distinct_tags(tags: list[str]) -> list[str]:
    """Each tag once, by key, in the spelling first sent."""
    distinct: dict[str, str] = {}
    for tag in tags:
        distinct.setdefault(tag_key(tag), tag)
    return list(distinct.values())


TagName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TAG_MAX_LENGTH, pattern=TAG_PATTERN),
    BeforeValidator(_printable_tag),
    AfterValidator(_strip_tag),
    Field(
        description=f"1-{TAG_MAX_LENGTH} characters, not all whitespace, no control characters; "
        "trimmed. Matched case-insensitively.",
        examples=["errands"],
    ),
]
TAG_NAME = TypeAdapter(TagName)
Tags = Annotated[
    list[TagName],
    Field(
        max_length=MAX_TAGS,
        description=f"At most {MAX_TAGS} tags. `Home` and `home` are one tag (the spelling the "
        "user first created is kept); duplicates collapse; returned sorted case-insensitively.",
        examples=[["errands", "Home"]],
    ),
    AfterValidator(_distinct_tags),
]


def _canonical_rule(rule: str) -> str:
    try:
        return canonical_rule(rule)
    except RecurrenceError as error:
        raise PydanticCustomError(
            "recurrence", "Invalid recurrence: {reason}", {"reason": str(error)}
        ) from None


Recurrence = Annotated[
    Annotated[
        str,
        StringConstraints(max_length=RECURRENCE_MAX_LENGTH, pattern=NO_NUL),
        AfterValidator(_canonical_rule),
    ]
    | None,
    Field(
        description="An RFC 5545 RRULE value without the `RRULE:` prefix, using only FREQ "
        "(DAILY, WEEKLY, MONTHLY, YEARLY), INTERVAL (1-1000), BYDAY, BYMONTHDAY, COUNT "
        "(1-10000, the occurrences left including the current due date) and UNTIL "
        "(20261231T235959Z or 20261231); evaluated in UTC; needs `due_at`. Completing the task "
        "moves `due_at` to the next occurrence instead, until none is left. Or null for none.",
        examples=["FREQ=WEEKLY;BYDAY=MO"],
    ),
]
RECURRENCE_NEEDS_DUE_AT = "A recurrence needs a due date: send `due_at` with it"
PriorityField = Annotated[
    Priority, Field(description="`none` < `low` < `medium` < `high`.", examples=["high"])
]


class _ClientFields(BaseModel):
    """Unknown fields are refused; the server's own fields, echoed back, are ignored."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _ignore_read_only_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if key not in READ_ONLY_FIELDS}
        return data


class TaskWrite(_ClientFields):
    """Fields a client sets on create and on full replacement."""

    title: Title
    description: Description = None
    completed: StrictBool = Field(default=False, description="Defaults to false when omitted.")
    priority: PriorityField = Priority.NONE
    due_at: DueAt = None
    recurrence: Recurrence = None
    tags: Tags = []

    @model_validator(mode="after")
    def _recurrence_needs_due_at(self) -> "TaskWrite":
        if self.recurrence is not None and self.due_at is None:
            raise PydanticCustomError("recurrence_needs_due_at", RECURRENCE_NEEDS_DUE_AT)
        return self


class TaskCreate(TaskWrite):
    """Body of `POST /api/{user_id}/tasks`."""


class TaskReplace(TaskWrite):
    """Body of `PUT /api/{user_id}/tasks/{id}`: omitted fields reset to their defaults."""


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class TaskPatch(_ClientFields):
    """Body of `PATCH /api/{user_id}/tasks/{id}`: only the fields present change.

    `description: null`, `due_at: null` and `recurrence: null` clear them (clearing `due_at`
    clears `recurrence` too); `title`, `completed`, `priority` and `tags` may be omitted but not
    null (the `None` defaults only mark "absent" and are not part of the schema).
    """

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Buy oat milk", "description": None}]}
    )

    title: Title = Field(default=None, json_schema_extra=_drop_default)
    description: Description = Field(default=None, json_schema_extra=_drop_default)
    completed: StrictBool = Field(default=None, json_schema_extra=_drop_default)
    priority: PriorityField = Field(default=None, json_schema_extra=_drop_default)
    due_at: DueAt = Field(default=None, json_schema_extra=_drop_default)
    recurrence: Recurrence = Field(default=None, json_schema_extra=_drop_default)
    tags: Tags = Field(default=None, json_schema_extra=_drop_default)

    @model_validator(mode="after")
    def _recurrence_needs_due_at(self) -> "TaskPatch":
        """Only against a `due_at` sent alongside; the stored one is checked on write."""
        sent = self.model_fields_set
        if "due_at" in sent and self.due_at is None and self.recurrence is not None:
            raise PydanticCustomError("recurrence_needs_due_at", RECURRENCE_NEEDS_DUE_AT)
        return self


class TaskCompletion(_ClientFields):
    """Optional body of `PATCH .../complete`: set `completed` instead of toggling it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"completed": True}]})

    completed: StrictBool


class TaskSort(StrEnum):
    """A list's order: a field, descending with a leading `-`; ties are broken by id."""

    CREATED_AT_DESC = "-created_at"
    CREATED_AT = "created_at"
    UPDATED_AT_DESC = "-updated_at"
    UPDATED_AT = "updated_at"
    TITLE = "title"
    TITLE_DESC = "-title"
    ID = "id"
    ID_DESC = "-id"
    PRIORITY = "priority"
    PRIORITY_DESC = "-priority"
    # Tasks without a due date come last in both directions.
    DUE_AT = "due_at"
    DUE_AT_DESC = "-due_at"


class TaskResponse(BaseModel):
    """A task as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(examples=[42])
    user_id: str = Field(examples=["user_2x1"])
    title: str = Field(examples=["Buy milk"])
    description: str | None = Field(examples=["Two litres, semi-skimmed"])
    completed: bool = Field(examples=[False])
    priority: Priority = Field(examples=["high"])
    due_at: datetime | None = Field(
        examples=["2026-12-01T08:00:00+00:00"], description="When the task is due (UTC), or null."
    )
    recurrence: str | None = Field(
        examples=["FREQ=WEEKLY;BYDAY=MO"],
        description="The RRULE value that reschedules the task when it is completed, or null.",
    )
    tags: list[str] = Field(
        examples=[["errands", "Home"]], description="The task's tags, sorted case-insensitively."
    )
    created_at: datetime = Field(description="When the task was created (UTC, ISO 8601).")
    updated_at: datetime = Field(description="When the task last changed (UTC, ISO 8601).")
    version: int = Field(
        ge=1, examples=[1], description="Bumped by every write; the `ETag` is built on it."
    )


class TagRename(_ClientFields):
    """Body of `PATCH /api/{user_id}/tags/{name}`: the tag's new name."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "shopping"}]})

    name: TagName


class TagCount(BaseModel):
    """One of the caller's tags and how many of their tasks carry it."""

    name: str = Field(examples=["errands"])
    count: int = Field(ge=1, examples=[3])


class ErrorDetail(BaseModel):
    """What went wrong, plus context such as the `task_id` that was not found."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(examples=["Task not found"])


class ErrorResponse(BaseModel):
    """Body of every error except 422 validation errors."""

    detail: ErrorDetail
