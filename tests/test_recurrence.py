"""Recurring tasks: completing one moves its due date to the rule's next occurrence."""

from typing import Any

import pytest

from support import ApiUser


async def _complete(user: ApiUser, task: dict[str, Any], how: str) -> dict[str, Any]:
    """Complete the task by toggle, `{"completed": true}`, PATCH or PUT."""
    url = f"/{task['id']}"
    if how == "toggle":
        response = await user.request("PATCH", f"{url}/complete")
    elif how == "set":
        response = await user.request("PATCH", f"{url}/complete", json={"completed": True})
    elif how == "patch":
        response = await user.request("PATCH", url, json={"completed": True})
    else:
        echoed = {key: task[key] for key in ("title", "due_at", "recurrence", "tags", "priority")}
        response = await user.request("PUT", url, json={**echoed, "completed": True})
    assert response.status_code == 200, response.text
    completed: dict[str, Any] = response.json()
    return completed


@pytest.mark.parametrize("how", ["toggle", "set", "patch", "put"])
async def test_completing_a_daily_task_moves_it_across_the_month_end(
    alice: ApiUser, how: str
) -> None:
    task = await alice.create(
        title="Water", due_at="2026-11-30T09:00:00+01:00", recurrence="freq=daily"
    )
    assert task["recurrence"] == "FREQ=DAILY"

    done = await _complete(alice, task, how)

    assert done["completed"] is False
    assert done["due_at"] == "2026-12-01T08:00:00+00:00"
    assert done["recurrence"] == "FREQ=DAILY"
    assert done["version"] == task["version"] + 1
    fetched = (await alice.request("GET", f"/{task['id']}")).json()
    assert fetched == done


async def test_the_last_day_of_the_month_follows_each_months_length(alice: ApiUser) -> None:
    task = await alice.create(
        title="Rent", due_at="2027-01-31T10:00:00Z", recurrence="FREQ=MONTHLY;BYMONTHDAY=-1"
    )

    february = await _complete(alice, task, "toggle")
    march = await _complete(alice, february, "toggle")

    assert february["due_at"] == "2027-02-28T10:00:00+00:00"
    assert march["due_at"] == "2027-03-31T10:00:00+00:00"


async def test_byday_moves_to_the_next_listed_weekday_across_the_week(alice: ApiUser) -> None:
    # 2026-12-03 is a Thursday.
    task = await alice.create(
        title="Gym", due_at="2026-12-03T18:00:00Z", recurrence="FREQ=WEEKLY;BYDAY=MO,TH"
    )

    monday = await _complete(alice, task, "put")
    thursday = await _complete(alice, monday, "patch")

    assert monday["due_at"] == "2026-12-07T18:00:00+00:00"
    assert thursday["due_at"] == "2026-12-10T18:00:00+00:00"
    assert thursday["completed"] is False


async def test_count_includes_the_first_occurrence_and_then_the_task_completes(
    alice: ApiUser,
) -> None:
    task = await alice.create(
        title="Pills", due_at="2026-12-01T08:00:00Z", recurrence="FREQ=DAILY;COUNT=3"
    )

    second = await _complete(alice, task, "toggle")
    third = await _complete(alice, second, "set")
    done = await _complete(alice, third, "toggle")

    assert [second["due_at"], third["due_at"]] == [
        "2026-12-02T08:00:00+00:00",
        "2026-12-03T08:00:00+00:00",
    ]
    assert [second["recurrence"], third["recurrence"]] == [
        "FREQ=DAILY;COUNT=2",
        "FREQ=DAILY;COUNT=1",
    ]
    assert done["completed"] is True
    assert done["due_at"] == "2026-12-03T08:00:00+00:00"
    reopened = await _complete(alice, done, "toggle")
    assert (reopened["completed"], reopened["due_at"]) == (False, done["due_at"])


async def test_past_until_the_task_completes_for_real(alice: ApiUser) -> None:
    task = await alice.create(
        title="Advent",
        due_at="2026-12-23T07:00:00Z",
        recurrence="FREQ=DAILY;UNTIL=20261224T070000Z",
    )

    last = await _complete(alice, task, "toggle")
    done = await _complete(alice, last, "patch")

    assert (last["completed"], last["due_at"]) == (False, "2026-12-24T07:00:00+00:00")
    assert (done["completed"], done["due_at"]) == (True, "2026-12-24T07:00:00+00:00")


async def test_a_rule_that_never_matches_again_completes_the_task(alice: ApiUser) -> None:
    # Every twelfth month from February is always February, which has no 30th.
    task = await alice.create(
        title="Never",
        due_at="2027-02-28T09:00:00Z",
        recurrence="FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=30",
    )

    done = await _complete(alice, task, "toggle")

    assert done["completed"] is True


async def test_an_if_match_retry_of_a_reschedule_is_refused(alice: ApiUser) -> None:
    task = await alice.create(title="Once", due_at="2026-12-01T08:00:00Z", recurrence="FREQ=DAILY")
    url = f"/{task['id']}/complete"
    etag = {"If-Match": f'"{task["id"]}.{task["version"]}"'}

    first = await alice.request("PATCH", url, headers=etag)
    retried = await alice.request("PATCH", url, headers=etag)

    assert first.status_code == 200
    assert first.json()["due_at"] == "2026-12-02T08:00:00+00:00"
    assert retried.status_code == 412
    assert (await alice.request("GET", f"/{task['id']}")).json()["due_at"] == first.json()["due_at"]


async def test_uncompleting_and_other_writes_leave_the_due_date_alone(alice: ApiUser) -> None:
    task = await alice.create(title="Plain", due_at="2026-12-01T08:00:00Z")
    url = f"/{task['id']}"
    # A completed task given a recurrence stays completed; toggling it reopens it.
    await alice.request("PATCH", f"{url}/complete")
    recurring = (await alice.request("PATCH", url, json={"recurrence": "FREQ=WEEKLY"})).json()
    assert (recurring["completed"], recurring["recurrence"]) == (True, "FREQ=WEEKLY")
    reopened = await _complete(alice, recurring, "toggle")
    assert (reopened["completed"], reopened["due_at"]) == (False, task["due_at"])
    renamed = (await alice.request("PATCH", url, json={"title": "Renamed"})).json()
    assert renamed["due_at"] == task["due_at"]


async def test_clearing_the_due_date_clears_the_recurrence(alice: ApiUser) -> None:
    task = await alice.create(title="t", due_at="2026-12-01T08:00:00Z", recurrence="FREQ=DAILY")

    cleared = (await alice.request("PATCH", f"/{task['id']}", json={"due_at": None})).json()
    moved = await alice.request("PATCH", f"/{task['id']}", json={"due_at": "2026-12-05T08:00:00Z"})

    assert (cleared["due_at"], cleared["recurrence"]) == (None, None)
    assert moved.json()["recurrence"] is None


async def test_a_recurrence_needs_a_due_date(alice: ApiUser) -> None:
    created = await alice.request("POST", json={"title": "t", "recurrence": "FREQ=DAILY"})
    assert created.status_code == 422
    assert "due date" in created.json()["detail"][0]["msg"]

    task = await alice.create(title="undated")
    url = f"/{task['id']}"
    patched = await alice.request("PATCH", url, json={"recurrence": "FREQ=DAILY"})
    assert patched.status_code == 422, patched.text
    assert patched.json()["detail"][0]["loc"] == ["body", "recurrence"]
    both = await alice.request("PATCH", url, json={"recurrence": "FREQ=DAILY", "due_at": None})
    assert both.status_code == 422
    put = await alice.request("PUT", url, json={"title": "t", "recurrence": "FREQ=DAILY"})
    assert put.status_code == 422
    missing = await alice.request("PATCH", "/999999", json={"recurrence": "FREQ=DAILY"})
    assert missing.status_code == 404
    unchanged = (await alice.request("GET", url)).json()
    assert (unchanged["recurrence"], unchanged["version"]) == (None, task["version"])


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ("FREQ=HOURLY", "FREQ=HOURLY"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS"),
        ("FREQ=DAILY;BYHOUR=9", "BYHOUR"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=1001", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL"),
        ("FREQ=DAILY;COUNT=0", "COUNT"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20261231T000000Z", "COUNT and UNTIL"),
        ("FREQ=DAILY;UNTIL=2026-12-31", "UNTIL"),
        ("FREQ=DAILY;UNTIL=20261399", "month"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
        ("FREQ=DAILY;BYDAY=XX", "BYDAY"),
        ("FREQ=WEEKLY;BYDAY=2MO", "BYDAY"),
        ("FREQ=MONTHLY;BYDAY=54MO", "BYDAY"),
        ("RRULE:FREQ=DAILY", "RRULE:FREQ"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ"),
        ("INTERVAL=2", "FREQ"),
        ("FREQ=DAILY;;", "empty"),
        ("", "empty"),
        ("FREQ=" + "DAILY" * 60, "at most 255"),
    ],
)
async def test_bad_rules_are_422_naming_the_part(alice: ApiUser, rule: str, named: str) -> None:
    response = await alice.request(
        "POST", json={"title": "t", "due_at": "2026-12-01T08:00:00Z", "recurrence": rule}
    )

    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "recurrence"]
    assert named in error["msg"]
