"""Bad input: a clear 4xx that says what to fix, and nothing stored."""

import json
import re
from typing import Any

import pytest

from support import ApiUser


async def assert_nothing_stored(user: ApiUser) -> None:
    assert (await user.request("GET")).json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   \t\n "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": None}, "title"),
        ({"title": 42}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "ok", "description": "d" * 1001}, "description"),
        ({"title": "ok", "description": "nul\x00byte"}, "description"),
        ({"title": "ok", "completed": "yes"}, "completed"),
        ({"title": "ok", "completed": 1}, "completed"),
        ({"title": "ok", "colour": "red"}, "colour"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "priority": 3}, "priority"),
        ({"title": "ok", "due_at": "2026-12-01T09:00:00"}, "due_at"),
        ({"title": "ok", "due_at": "2026-12-01"}, "due_at"),
        ({"title": "ok", "due_at": "tomorrow"}, "due_at"),
        ({"title": "ok", "due_at": 1764579600}, "due_at"),
        ({"title": "ok", "due_at": "2026-02-30T09:00:00Z"}, "due_at"),
        ({"title": "ok", "due_at": "0001-01-01T00:00:00+01:00"}, "due_at"),
    ],
)
async def test_invalid_bodies_are_422_naming_the_field(
    alice: ApiUser, body: dict[str, Any], field: str
) -> None:
    created = await alice.request("POST", json=body)
    task = await alice.create(title="existing")
    replaced = await alice.request("PUT", f"/{task['id']}", json=body)

    for response in (created, replaced):
        assert response.status_code == 422, response.text
        errors = response.json()["detail"]
        assert any(error["loc"][:2] == ["body", field] for error in errors), errors
    assert (await alice.request("GET")).json() == [task]


async def test_lengths_count_characters_not_bytes(alice: ApiUser) -> None:
    task = await alice.create(title="é" * 200, description="ü" * 1000)

    assert task["title"] == "é" * 200
    assert len(task["description"]) == 1000


async def test_read_only_fields_echoed_back_are_ignored(alice: ApiUser) -> None:
    task = await alice.create(title="Echo")
    echoed = {**task, "title": "Echoed", "created_at": "2000-01-01T00:00:00Z"}

    response = await alice.request("PUT", f"/{task['id']}", json=echoed)

    assert response.status_code == 200
    assert response.json()["title"] == "Echoed"
    assert response.json()["created_at"] == task["created_at"]
    assert response.json()["id"] == task["id"]


@pytest.mark.parametrize("body", [b"{not json", b'{"title": "x",}', b"\xff\xfe"])
async def test_unparseable_json_is_400(alice: ApiUser, body: bytes) -> None:
    response = await alice.request(
        "POST", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "Request body is not valid JSON"
    await assert_nothing_stored(alice)


@pytest.mark.parametrize("body", [b"[]", b'"title"', b"null", b"42"])
async def test_json_that_is_not_an_object_is_422(alice: ApiUser, body: bytes) -> None:
    response = await alice.request(
        "POST", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    await assert_nothing_stored(alice)


async def test_body_without_content_type_is_read_as_json(alice: ApiUser) -> None:
    response = await alice.request("POST", content=b'{"title": "curl style"}')

    assert response.status_code == 201


async def test_body_of_another_media_type_is_415(alice: ApiUser) -> None:
    response = await alice.request(
        "POST", content=b'{"title": "x"}', headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 415
    assert response.json()["detail"]["error"] == (
        "Send the body as JSON with Content-Type: application/json"
    )
    await assert_nothing_stored(alice)


async def test_body_over_one_mebibyte_is_413(alice: ApiUser) -> None:
    body = b'{"title": "big", "description": "' + b"x" * (1024 * 1024) + b'"}'

    declared = await alice.request(
        "POST", content=body, headers={"Content-Type": "application/json"}
    )

    async def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    streamed = await alice.request(
        "POST", content=chunks(), headers={"Content-Type": "application/json"}
    )

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["detail"] == {
            "error": "Request body is too large",
            "max_bytes": 1024 * 1024,
        }
    await assert_nothing_stored(alice)


@pytest.mark.parametrize(
    "task_id", ["0", "-1", "2147483648", "99999999999999999999999999", "abc", "1.5", "1e3"]
)
async def test_out_of_range_or_non_numeric_task_ids_are_422(alice: ApiUser, task_id: str) -> None:
    for method, suffix in [
        ("GET", f"/{task_id}"),
        ("PUT", f"/{task_id}"),
        ("DELETE", f"/{task_id}"),
        ("PATCH", f"/{task_id}/complete"),
    ]:
        body = {"title": "x"} if method == "PUT" else None
        response = await alice.request(method, suffix, json=body)
        assert response.status_code == 422, (method, task_id, response.text)
        assert response.json()["detail"][0]["loc"] == ["path", "task_id"]


async def test_largest_valid_task_id_is_a_plain_404(alice: ApiUser) -> None:
    response = await alice.request("GET", "/2147483647")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"search": "a\x00b"}, "search"),
        ({"search": "s" * 201}, "search"),
        ({"completed": "maybe"}, "completed"),
    ],
)
async def test_invalid_list_filters_are_422(
    alice: ApiUser, params: dict[str, str], field: str
) -> None:
    response = await alice.request("GET", params=params)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_unknown_routes_and_methods_use_the_error_shape(alice: ApiUser) -> None:
    not_found = await alice.client.get("/nowhere")
    not_allowed = await alice.request("DELETE")

    assert not_found.status_code == 404
    assert not_found.json() == {"detail": {"error": "Not Found"}}
    assert not_allowed.status_code == 405
    assert not_allowed.json() == {"detail": {"error": "Method Not Allowed"}}
    assert set(not_allowed.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": "\\ud800"}',
        b'{"title": "ok", "description": "\\udfff alone"}',
    ],
)
async def test_unpaired_surrogates_are_422_not_500(alice: ApiUser, body: bytes) -> None:
    response = await alice.request("POST", content=body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "string_unicode"
    await assert_nothing_stored(alice)


async def test_422_echoing_huge_integers_is_still_a_clean_422(alice: ApiUser) -> None:
    task = await alice.create(title="Flip")

    response = await alice.request(
        "PATCH", f"/{task['id']}/complete", content=b"[{}, -130656013369935396864, true]"
    )
    created = await alice.request("POST", content=b'{"title": 123456789012345678901234567890}')

    assert response.status_code == created.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize("blank", ["\x1f", "\x1c\x1d\x1e", "\x85", "\u3000", " \t\u2028 "])
async def test_titles_blank_by_pythons_whitespace_are_422_as_the_schema_says(
    alice: ApiUser, blank: str
) -> None:
    document = (await alice.client.get("/openapi.json")).json()
    pattern = document["components"]["schemas"]["TaskCreate"]["properties"]["title"]["pattern"]

    response = await alice.request("POST", json={"title": blank})

    assert response.status_code == 422
    assert re.fullmatch(pattern, blank) is None


# What pydantic's lax int reads as 1 (or 10), and what no client means by it.
_NON_CANONICAL_NUMBERS = [
    "+1",
    "-0",
    "1_0",
    "1.0",
    " 1",
    "1 ",
    "01",
    "\u0661",
    "\uff11",
    "0x1",
    "1e0",
]


@pytest.mark.parametrize("task_id", _NON_CANONICAL_NUMBERS)
async def test_task_ids_not_in_canonical_digits_are_422_and_touch_nothing(
    alice: ApiUser, task_id: str
) -> None:
    for _ in range(10):
        await alice.create(title="Kept")
    before = (await alice.request("GET")).json()

    for method, suffix in [
        ("GET", f"/{task_id}"),
        ("PUT", f"/{task_id}"),
        ("PATCH", f"/{task_id}"),
        ("DELETE", f"/{task_id}"),
        ("PATCH", f"/{task_id}/complete"),
    ]:
        body = {"title": "Overwritten"} if method in ("PUT", "PATCH") else None
        response = await alice.request(method, suffix, json=body)
        assert response.status_code == 422, (method, task_id, response.text)
        error = response.json()["detail"][0]
        assert error["loc"] == ["path", "task_id"]
        assert error["type"] == "canonical_whole_number"
        assert "ASCII digits" in error["msg"]
    assert (await alice.request("GET")).json() == before


@pytest.mark.parametrize("field", ["limit", "offset"])
@pytest.mark.parametrize("value", _NON_CANONICAL_NUMBERS)
async def test_page_bounds_not_in_canonical_digits_are_422(
    alice: ApiUser, field: str, value: str
) -> None:
    for params in ({field: value}, {field: value, "search": "x"}):
        response = await alice.request("GET", params=params)

        assert response.status_code == 422, (params, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_zero_is_a_canonical_offset(alice: ApiUser) -> None:
    response = await alice.request("GET", params={"offset": "0", "limit": "1"})

    assert response.status_code == 200


async def test_the_openapi_document_gives_the_digits_of_every_integer_parameter(
    alice: ApiUser,
) -> None:
    document = (await alice.client.get("/openapi.json")).json()
    integers = [
        parameter["schema"]
        for operations in document["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["schema"].get("type") == "integer"
    ]

    assert len(integers) >= 7  # task_id of five operations, limit, offset
    for schema in integers:
        assert schema["pattern"] == "^(0|[1-9][0-9]*)$"
        assert {"minimum", "maximum"} <= schema.keys()
        assert re.fullmatch(schema["pattern"], "2_22") is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"title": "x", "completed": NaN}', "NaN is not a JSON value"),
        (b'{"title": NaN}', "NaN is not a JSON value"),
        (b'{"title": "x", "completed": Infinity}', "Infinity is not a JSON value"),
        (b'{"title": "x", "description": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"title": "x", "completed": 1e400}', "the number 1e400 is too large"),
        (b'{"title": "x", "x": [-1E+999]}', "the number -1E+999 is too large"),
    ],
)
async def test_non_standard_json_numbers_are_400_on_every_write(
    alice: ApiUser, body: bytes, reason: str
) -> None:
    task = await alice.create(title="Kept")
    json_type = {"Content-Type": "application/json"}

    for method, suffix in [
        ("POST", ""),
        ("PUT", f"/{task['id']}"),
        ("PATCH", f"/{task['id']}"),
        ("PATCH", f"/{task['id']}/complete"),
    ]:
        response = await alice.request(method, suffix, content=body, headers=json_type)
        assert response.status_code == 400, (method, response.text)
        assert response.json()["detail"] == {
            "error": "Request body is not valid JSON",
            "reason": reason,
        }
    assert (await alice.request("GET")).json() == [task]


async def test_a_422_echoing_input_is_standard_json(alice: ApiUser) -> None:
    """Every 422 body parses with a strict parser (a browser's `JSON.parse`)."""
    responses = [
        await alice.request("POST", content=b'{"title": 1.5e308, "completed": -0.0}'),
        await alice.request("POST", content=b'{"title": ["\\ud800", 1e-400]}'),
        await alice.request("GET", params={"limit": "NaN"}),
        await alice.request("GET", "/Infinity"),
    ]

    for response in responses:
        assert response.status_code == 422
        json.loads(response.content, parse_constant=_refuse)


def _refuse(name: str) -> None:
    raise AssertionError(f"{name} in a response body")
