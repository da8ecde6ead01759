"""Priority and due dates: what a frontend plans with, written, filtered and sorted."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support import ApiUser


def _titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()]


def _instant(moment: datetime) -> str:
    return moment.isoformat()


async def test_a_task_without_them_has_no_priority_and_no_due_date(alice: ApiUser) -> None:
    task = await alice.create(title="Plain", description="as before", completed=True)

    assert task["priority"] == "none"
    assert task["due_at"] is None
    assert task["completed"] is True


async def test_a_due_date_in_any_offset_is_returned_as_the_same_instant_in_utc(
    alice: ApiUser,
) -> None:
    task = await alice.create(title="Call", priority="high", due_at="2026-12-01T09:30:00+01:00")

    assert task["priority"] == "high"
    assert task["due_at"] == "2026-12-01T08:30:00+00:00"
    fetched = await alice.request("GET", f"/{task['id']}")
    assert fetched.json()["due_at"] == "2026-12-01T08:30:00+00:00"
    zulu = await alice.create(title="Zulu", due_at="2026-12-01T08:30:00.250Z")
    assert zulu["due_at"] == "2026-12-01T08:30:00.250000+00:00"


async def test_put_resets_omitted_fields_and_patch_changes_only_those_sent(
    alice: ApiUser,
) -> None:
    task = await alice.create(title="Plan", priority="medium", due_at="2026-12-01T09:00:00Z")
    url = f"/{task['id']}"

    patched = (await alice.request("PATCH", url, json={"priority": "low"})).json()
    assert (patched["priority"], patched["due_at"]) == ("low", "2026-12-01T09:00:00+00:00")
    patched = (await alice.request("PATCH", url, json={"title": "Renamed"})).json()
    assert (patched["priority"], patched["due_at"]) == ("low", "2026-12-01T09:00:00+00:00")
    moved = (await alice.request("PATCH", url, json={"due_at": "2026-12-02T00:00:00-05:00"})).json()
    assert moved["due_at"] == "2026-12-02T05:00:00+00:00"
    cleared = (await alice.request("PATCH", url, json={"due_at": None})).json()
    assert (cleared["priority"], cleared["due_at"]) == ("low", None)

    await alice.request("PATCH", url, json={"due_at": "2026-12-03T00:00:00Z"})
    replaced = (await alice.request("PUT", url, json={"title": "Only a title"})).json()
    assert (replaced["priority"], replaced["due_at"]) == ("none", None)
    assert replaced["version"] == task["version"] + 6


async def test_priority_filter_matches_any_of_the_priorities_named(alice: ApiUser) -> None:
    for priority in ("none", "low", "medium", "high", "high"):
        await alice.create(title=priority, priority=priority)

    high = await alice.request("GET", params={"priority": "high", "sort": "id"})
    assert _titles(high) == ["high", "high"]
    assert high.headers["x-total-count"] == "2"
    either = await alice.request("GET", params=[("priority", "low"), ("priority", "medium")])
    assert sorted(_titles(either)) == ["low", "medium"]


async def test_due_filters_bound_the_due_date_before_exclusive_after_inclusive(
    alice: ApiUser,
) -> None:
    await alice.create(title="nine", due_at="2026-12-01T09:00:00Z")
    await alice.create(title="ten", due_at="2026-12-01T10:00:00Z")
    await alice.create(title="eleven", due_at="2026-12-01T11:00:00Z")
    await alice.create(title="undated")

    params = {"sort": "due_at", "due_after": "2026-12-01T10:00:00Z"}
    assert _titles(await alice.request("GET", params=params)) == ["ten", "eleven"]
    params = {"sort": "due_at", "due_before": "2026-12-01T11:00:00+01:00"}
    assert _titles(await alice.request("GET", params=params)) == ["nine"]
    params = {
        "sort": "due_at",
        "due_after": "2026-12-01T09:00:00Z",
        "due_before": "2026-12-01T11:00:00Z",
    }
    assert _titles(await alice.request("GET", params=params)) == ["nine", "ten"]
    dated = await alice.request("GET", params={"has_due": "true", "sort": "due_at"})
    assert _titles(dated) == ["nine", "ten", "eleven"]
    undated = await alice.request("GET", params={"has_due": "false"})
    assert _titles(undated) == ["undated"]
    assert undated.headers["x-total-count"] == "1"


async def test_overdue_is_an_open_task_due_before_now_and_not_overdue_is_the_rest(
    alice: ApiUser,
) -> None:
    now = datetime.now(UTC)
    await alice.create(title="late", due_at=_instant(now - timedelta(hours=1)))
    await alice.create(title="late but done", completed=True, due_at=_instant(now - timedelta(1)))
    await alice.create(title="upcoming", due_at=_instant(now + timedelta(hours=1)))
    await alice.create(title="undated")

    overdue = await alice.request("GET", params={"overdue": "true"})
    assert _titles(overdue) == ["late"]
    assert overdue.headers["x-total-count"] == "1"
    rest = await alice.request("GET", params={"overdue": "false", "sort": "id"})
    assert _titles(rest) == ["late but done", "upcoming", "undated"]
    open_rest = await alice.request("GET", params={"overdue": "false", "completed": "false"})
    assert sorted(_titles(open_rest)) == ["undated", "upcoming"]


async def test_due_date_sorts_put_undated_tasks_last_both_ways_and_break_ties_by_id(
    alice: ApiUser,
) -> None:
    first_undated = await alice.create(title="undated 1")
    await alice.create(title="early", due_at="2026-12-01T09:00:00Z")
    await alice.create(title="late", due_at="2026-12-05T09:00:00Z")
    await alice.create(title="late too", due_at="2026-12-05T10:00:00+01:00")
    await alice.create(title="undated 2")

    ascending = await alice.request("GET", params={"sort": "due_at"})
    assert _titles(ascending) == ["early", "late", "late too", "undated 1", "undated 2"]
    descending = await alice.request("GET", params={"sort": "-due_at"})
    assert _titles(descending) == ["late too", "late", "early", "undated 2", "undated 1"]
    paged = await alice.request("GET", params={"sort": "due_at", "limit": 2, "offset": 2})
    assert _titles(paged) == ["late too", "undated 1"]
    assert first_undated["due_at"] is None


async def test_priority_sorts_follow_none_low_medium_high(alice: ApiUser) -> None:
    for priority in ("medium", "none", "high", "low", "high"):
        await alice.create(title=priority, priority=priority)

    ascending = _titles(await alice.request("GET", params={"sort": "priority"}))
    assert ascending == ["none", "low", "medium", "high", "high"]
    descending = await alice.request("GET", params={"sort": "-priority"})
    assert _titles(descending) == ["high", "high", "medium", "low", "none"]
    ids = [task["id"] for task in descending.json()[:2]]
    assert ids == sorted(ids, reverse=True)


async def test_planning_filters_combine_with_completion_search_and_pages(alice: ApiUser) -> None:
    for number in range(5):
        await alice.create(
            title=f"errand {number}",
            priority="high",
            completed=number == 4,
            due_at=f"2026-12-0{number + 1}T09:00:00Z",
        )
    await alice.create(title="errand low", priority="low", due_at="2026-12-01T09:00:00Z")

    params = [
        ("priority", "high"),
        ("completed", "false"),
        ("sort", "-due_at"),
        ("limit", "2"),
        ("offset", "2"),
        ("due_after", "2026-12-01T00:00:00Z"),
    ]
    page = await alice.request("GET", params=params)
    assert _titles(page) == ["errand 1", "errand 0"]
    assert page.headers["x-total-count"] == "4"
    link = page.headers["link"]
    assert "priority=high" in link
    assert "due_after=2026-12-01T00%3A00%3A00Z" in link
    searched = await alice.request("GET", params={"search": "errand", "priority": "low"})
    assert _titles(searched) == ["errand low"]
    assert searched.headers["x-total-count"] == "1"
    past_the_end = await alice.request("GET", params={"priority": "high", "offset": "50"})
    assert _titles(past_the_end) == []
    assert past_the_end.headers["x-total-count"] == "5"


async def test_planning_filters_see_only_the_callers_tasks(alice: ApiUser, bob: ApiUser) -> None:
    await bob.create(title="bob's", priority="high", due_at="2020-01-01T00:00:00Z")
    await alice.create(title="alice's")

    for params in ({"priority": "high"}, {"overdue": "true"}, {"has_due": "true"}):
        response = await alice.request("GET", params=params)
        assert _titles(response) == []
        assert response.headers["x-total-count"] == "0"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"priority": "urgent"}, "priority"),
        ({"priority": "HIGH"}, "priority"),
        ({"due_before": "2026-12-01T09:00:00"}, "due_before"),
        ({"due_before": "2026-12-01"}, "due_before"),
        ({"due_after": "1764579600"}, "due_after"),
        ({"due_after": "2026-13-01T09:00:00Z"}, "due_after"),
        ({"due_after": "0001-01-01T00:00:00+01:00"}, "due_after"),
        ({"overdue": "maybe"}, "overdue"),
        ({"has_due": "sometimes"}, "has_due"),
        ({"sort": "due"}, "sort"),
    ],
)
async def test_bad_planning_filters_are_422_naming_the_parameter(
    alice: ApiUser, params: dict[str, str], field: str
) -> None:
    response = await alice.request("GET", params=params)

    assert response.status_code == 422, response.text
    assert any(error["loc"][:2] == ["query", field] for error in response.json()["detail"])
