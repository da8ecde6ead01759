"""Smoke test of the benchmark harness: what it seeds and hands to wrk works against the API.

No load and no timing: the seeded users' tokens are accepted, their task ids are their own, the
runner's table keeps medians and within-run ratios apart, and a baseline is the API's `backend/`
of another revision, in a worktree that is gone afterwards.
"""

import asyncio
import re
import subprocess
from pathlib import Path

import pytest

from bench.run import (
    REFERENCE_PATHS,
    ROOT,
    baseline_checkout,
    crowd_lines,
    format_row,
    run_order,
    summarise,
)
from bench.seed import PAGE_USERS, TASKS_PER_USER, USERS, seed

from support import SECRET, ApiUser

ENTRY = re.compile(
    r'\{path="([^"]+)", list="([^"]+)", filtered="[^"]+", auth="([^"]+)", tasks=\{([0-9,]*)\}\}'
)
FILTERED = re.compile(r'filtered="([^"]+)", auth="([^"]+)"')


@pytest.mark.parametrize("engine_name", ["postgresql"])
async def test_seeded_tokens_and_task_ids_work_against_the_api(
    alice: ApiUser, postgres_dsn: str, tmp_path: Path
) -> None:
    seeded = await asyncio.to_thread(seed, postgres_dsn, SECRET, tmp_path)

    entries = ENTRY.findall(seeded.users_file.read_text())
    assert len(entries) == seeded.users == USERS
    assert len({auth for _, _, auth, _ in entries}) == USERS
    for path, list_path, auth, ids in (entries[0], entries[-1]):
        headers = {"Authorization": auth}
        listed = await alice.client.get(list_path, headers=headers)
        assert listed.status_code == 200
        task_ids = [int(task_id) for task_id in ids.split(",")]
        assert sorted(task["id"] for task in listed.json()) == task_ids
        assert len(task_ids) == TASKS_PER_USER
        one = await alice.client.get(f"{path}/{task_ids[0]}", headers=headers)
        assert one.status_code == 200

    # The filtered scenario's list: high and medium priority, soonest due first, undated last.
    filtered_path, auth = FILTERED.findall(seeded.users_file.read_text())[0]
    filtered = await alice.client.get(filtered_path, headers={"Authorization": auth})
    assert filtered.status_code == 200
    tasks = filtered.json()
    assert {task["priority"] for task in tasks} == {"high", "medium"}
    dues = [task["due_at"] for task in tasks]
    assert None in dues
    dated = dues[: dues.index(None)]
    assert dated
    assert dated == sorted(dated)
    assert set(dues[len(dated) :]) == {None}

    # A token of one seeded user does not open another's tasks.
    other_path = entries[1][0]
    forbidden = await alice.client.get(other_path, headers={"Authorization": entries[0][2]})
    assert forbidden.status_code == 403

    for count, data_file in seeded.page_files.items():
        ((_, list_path, auth, _),) = ENTRY.findall(data_file.read_text())
        assert count in PAGE_USERS.values()
        if count <= 100:
            listed = await alice.client.get(list_path, headers={"Authorization": auth})
            assert listed.status_code == 200
            assert len(listed.json()) == count


def test_the_table_takes_ratios_within_each_run() -> None:
    runs = {
        "api": [
            {"rps": 100.0, "p50_ms": 2.0, "p99_ms": 8.0, "errors": 0},
            {"rps": 300.0, "p50_ms": 1.0, "p99_ms": 4.0, "errors": 1},
            {"rps": 50.0, "p50_ms": 3.0, "p99_ms": 9.0, "errors": 0},
        ],
        "reference": [
            {"rps": 200.0, "p50_ms": 1.0, "p99_ms": 4.0, "errors": 0},
            {"rps": 600.0, "p50_ms": 0.5, "p99_ms": 2.0, "errors": 0},
            {"rps": 100.0, "p50_ms": 1.5, "p99_ms": 3.0, "errors": 2},
        ],
    }
    row = summarise(1, "list", runs)
    assert row["api"]["rps"] == 100.0
    assert row["reference"]["rps"] == 200.0
    assert row["rps_ratio"] == 0.5  # every run was 0.5, whatever the machine did meanwhile
    assert row["p99_ratio"] == 2.0
    assert (row["api"]["errors"], row["reference"]["errors"]) == (1, 2)


def _run(rps: float, p99_ms: float, errors: int = 0) -> dict[str, float]:
    return {"rps": rps, "p50_ms": p99_ms / 4, "p99_ms": p99_ms, "errors": errors}


def test_before_and_after_are_each_compared_with_the_reference_of_their_run() -> None:
    runs = {
        "api": [_run(90.0, 4.0), _run(270.0, 6.0), _run(45.0, 3.0)],
        "reference": [_run(100.0, 2.0), _run(300.0, 3.0), _run(50.0, 1.5)],
        "baseline": [_run(60.0, 8.0, 3), _run(180.0, 12.0), _run(30.0, 6.0)],
    }
    row = summarise(2, "get", runs)
    assert (row["rps_ratio"], row["baseline_rps_ratio"]) == (0.9, 0.6)
    assert (row["p99_ratio"], row["baseline_p99_ratio"]) == (2.0, 4.0)
    assert row["rps_ratio_change"] == pytest.approx(0.5)
    assert row["p99_ratio_change"] == pytest.approx(-0.5)
    assert format_row(row) == (
        "| 2 | get | 60 | 90 | 100 | 8.0 | 4.0 | 2.0 | 3/0/0 | 0.60 | **0.90** | +50.0% | "
        "4.00 | 2.00 | -50.0% |"
    )


def test_before_is_compared_with_its_own_reference_when_it_has_one() -> None:
    runs = {
        "api": [_run(90.0, 4.0), _run(270.0, 6.0), _run(45.0, 3.0)],
        "reference": [_run(100.0, 2.0), _run(300.0, 3.0), _run(50.0, 1.5)],
        "baseline": [_run(60.0, 8.0), _run(180.0, 12.0), _run(30.0, 6.0)],
        "baseline-reference": [_run(120.0, 2.0), _run(360.0, 3.0), _run(60.0, 1.5)],
    }
    row = summarise(1, "list", runs)
    assert (row["rps_ratio"], row["baseline_rps_ratio"]) == (0.9, 0.5)
    assert row["rps_ratio_change"] == pytest.approx(0.8)
    assert format_row(row) == (
        "| 1 | list | 60 | 90 | 120 / 100 | 8.0 | 4.0 | 2.0 / 2.0 | 0/0/0+0 | 0.50 | **0.90** | "
        "+80.0% | 4.00 | 2.00 | -50.0% |"
    )


def test_each_app_takes_each_place_in_turn() -> None:
    apps = ["api", "reference", "baseline"]
    orders = [run_order(apps, repeat) for repeat in range(3)]
    for place in range(3):
        assert sorted(order[place] for order in orders) == sorted(apps)
    assert [run_order(["api", "reference"], repeat) for repeat in range(2)] == [
        ["api", "reference"],
        ["reference", "api"],
    ]


def _worktrees() -> str:
    command = ["git", "-C", str(ROOT), "worktree", "list", "--porcelain"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_a_baseline_is_backend_at_its_revision_in_a_throwaway_worktree(tmp_path: Path) -> None:
    with baseline_checkout("HEAD", tmp_path) as baseline:
        assert str(baseline.source) in _worktrees()
        assert baseline.source.parent == tmp_path
        shown = ["git", "-C", str(ROOT), "show", f"{baseline.commit}:backend/main.py"]
        committed = subprocess.run(shown, check=True, capture_output=True, text=True).stdout
        assert (baseline.source / "backend" / "main.py").read_text() == committed
        assert not (baseline.source / "bench").exists()
    assert not baseline.source.exists()
    assert str(baseline.source) not in _worktrees()


def test_a_baseline_reference_holds_the_reference_app_of_its_revision(tmp_path: Path) -> None:
    with baseline_checkout("HEAD", tmp_path, REFERENCE_PATHS) as reference:
        shown = ["git", "-C", str(ROOT), "show", f"{reference.commit}:bench/reference_app.py"]
        committed = subprocess.run(shown, check=True, capture_output=True, text=True).stdout
        assert (reference.source / "bench" / "reference_app.py").read_text() == committed
        assert (reference.source / "backend" / "pagination.py").exists()
    assert not reference.source.exists()


def test_the_crowd_scenario_is_reported_against_the_same_mix_at_1000_users() -> None:
    rows = [
        {
            "workers": 1,
            "scenario": "mixed",
            "api": _run(1000.0, 5.0),
            "reference": _run(2000.0, 2.0),
        },
        {
            "workers": 1,
            "scenario": "many_users",
            "api": _run(850.0, 6.0),
            "reference": _run(1900.0, 2.0),
        },
    ]
    assert crowd_lines(rows) == [
        "",
        "- 1 worker(s): with 20,000 users the API serves **85%** of its 1,000-user `mixed` "
        "figure (the reference 95%).",
    ]
    assert crowd_lines(rows[:1]) == []
