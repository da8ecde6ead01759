"""Smoke test of the benchmark harness: what it seeds and hands to wrk works against the API.

No load and no timing: the seeded users' tokens are accepted, their task ids are their own, and
the runner's table keeps medians and within-run ratios apart.
"""

import asyncio
import re
from pathlib import Path

import pytest

from bench.run import summarise
from bench.seed import PAGE_USERS, TASKS_PER_USER, USERS, seed

from support import SECRET, ApiUser

ENTRY = re.compile(r'\{path="([^"]+)", list="([^"]+)", auth="([^"]+)", tasks=\{([0-9,]*)\}\}')


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
