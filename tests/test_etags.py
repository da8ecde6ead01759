"""ETags and conditional requests: caches revalidate, and stale writers get 412, not a win."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.etags import MAX_ENTITY_TAGS

from processes import running_server
from support import SECRET, ApiUser, token_for

STALE = '"1.999"'


def etag_of(task: dict[str, Any]) -> str:
    return f'"{task["id"]}.{task["version"]}"'


async def test_single_task_responses_carry_a_strong_etag(alice: ApiUser) -> None:
    created = await alice.request("POST", json={"title": "Tagged"})
    task = created.json()
    fetched = await alice.request("GET", f"/{task['id']}")
    replaced = await alice.request("PUT", f"/{task['id']}", json={"title": "Re"})
    patched = await alice.request("PATCH", f"/{task['id']}", json={"title": "Pa"})
    toggled = await alice.request("PATCH", f"/{task['id']}/complete")

    tags = [r.headers["etag"] for r in (created, fetched, replaced, patched, toggled)]
    assert tags[0] == tags[1] == etag_of(task)
    assert not tags[0].startswith("W/")
    assert len(set(tags[1:])) == 4, "every write changes the ETag"
    assert [r.json()["version"] for r in (replaced, patched, toggled)] == [2, 3, 4]


async def test_if_none_match_gives_304_until_the_task_changes(alice: ApiUser) -> None:
    task = await alice.create(title="Cached")
    etag = etag_of(task)

    unchanged = await alice.request("GET", f"/{task['id']}", headers={"If-None-Match": etag})
    listed = await alice.request(
        "GET", f"/{task['id']}", headers={"If-None-Match": f'"x", W/{etag}'}
    )
    await alice.request("PATCH", f"/{task['id']}", json={"title": "Changed"})
    changed = await alice.request("GET", f"/{task['id']}", headers={"If-None-Match": etag})

    assert unchanged.status_code == listed.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert changed.status_code == 200
    assert changed.json()["title"] == "Changed"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", {"title": "Mine"}),
        ("PATCH", "", {"title": "Mine"}),
        ("PATCH", "/complete", None),
        ("PATCH", "/complete", {"completed": True}),
        ("DELETE", "", None),
    ],
)
async def test_writes_with_a_stale_if_match_are_412_with_the_current_etag(
    alice: ApiUser, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    task = await alice.create(title="Original")
    stale = etag_of(task)
    moved = (await alice.request("PATCH", f"/{task['id']}", json={"title": "Moved"})).json()

    response = await alice.request(
        method, f"/{task['id']}{suffix}", json=body, headers={"If-Match": stale}
    )

    assert response.status_code == 412
    assert response.headers["etag"] == etag_of(moved)
    assert response.json()["detail"]["task_id"] == task["id"]
    assert (await alice.request("GET", f"/{task['id']}")).json() == moved


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status"),
    [
        ("PUT", "", {"title": "Mine"}, 200),
        ("PATCH", "", {"title": "Mine"}, 200),
        ("PATCH", "/complete", None, 200),
        ("DELETE", "", None, 204),
    ],
)
async def test_writes_with_the_current_etag_or_star_succeed(
    alice: ApiUser, method: str, suffix: str, body: dict[str, Any] | None, status: int
) -> None:
    for if_match in ("current", "*", 'W/"0.0", "current"'):
        task = await alice.create(title="Original")
        header = if_match.replace('"current"', etag_of(task)).replace("current", etag_of(task))
        response = await alice.request(
            method, f"/{task['id']}{suffix}", json=body, headers={"If-Match": header}
        )
        assert response.status_code == status, (if_match, response.text)


@pytest.mark.parametrize(
    "if_match",
    ['W/"{id}.1"', '"{other}.1"', '"garbage"', '"1.99999999999999999999"', ""],
)
async def test_weak_foreign_or_unknown_tags_never_match(alice: ApiUser, if_match: str) -> None:
    task = await alice.create(title="Strict")
    header = if_match.format(id=task["id"], other=task["id"] + 1)

    response = await alice.request(
        "PUT", f"/{task['id']}", json={"title": "No"}, headers={"If-Match": header}
    )

    assert response.status_code == 412
    assert (await alice.request("GET", f"/{task['id']}")).json()["title"] == "Strict"


async def test_conditional_write_of_a_missing_task_is_404(alice: ApiUser) -> None:
    for method, suffix in [("PUT", "/4242"), ("PATCH", "/4242"), ("DELETE", "/4242")]:
        response = await alice.request(
            method, suffix, json={"title": "x"}, headers={"If-Match": STALE}
        )
        assert response.status_code == 404, method


async def test_other_users_etags_reveal_nothing(alice: ApiUser, bob: ApiUser) -> None:
    bobs = await bob.create(title="Bob's")

    response = await alice.request(
        "PUT", f"/{bobs['id']}", json={"title": "x"}, headers={"If-Match": etag_of(bobs)}
    )

    assert response.status_code == 404
    assert "etag" not in response.headers


async def test_without_if_match_the_last_write_wins(alice: ApiUser) -> None:
    task = await alice.create(title="Open")

    first = await alice.request("PUT", f"/{task['id']}", json={"title": "One"})
    second = await alice.request("PUT", f"/{task['id']}", json={"title": "Two"})

    assert first.status_code == second.status_code == 200
    assert (await alice.request("GET", f"/{task['id']}")).json()["title"] == "Two"


async def test_of_twenty_concurrent_writers_with_one_etag_exactly_one_wins(
    alice: ApiUser,
) -> None:
    task = await alice.create(title="Contested")

    responses = await asyncio.gather(
        *(
            alice.request(
                "PUT",
                f"/{task['id']}",
                json={"title": f"writer {n}"},
                headers={"If-Match": etag_of(task)},
            )
            for n in range(20)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 19
    (winner,) = (r.json() for r in responses if r.status_code == 200)
    assert (await alice.request("GET", f"/{task['id']}")).json() == winner


async def test_one_winner_across_two_server_processes(
    database_url: str, alice: ApiUser, tmp_path: Path
) -> None:
    await alice.create(title="warm up the user row")
    env = {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": SECRET, "LOG_LEVEL": "WARNING"}
    with running_server(env, tmp_path) as one, running_server(env, tmp_path) as two:
        first, second = one.base_url, two.base_url
        async with httpx.AsyncClient(headers=alice.headers, timeout=30) as http:
            created = await http.post(f"{first}{alice.url()}", json={"title": "Contested"})
            task = created.json()
            path = alice.url(f"/{task['id']}")
            responses = await asyncio.gather(
                *(
                    http.patch(
                        f"{(first, second)[n % 2]}{path}",
                        json={"title": f"writer {n}"},
                        headers={"If-Match": created.headers["etag"]},
                    )
                    for n in range(20)
                )
            )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 19
    (winner,) = (r.json() for r in responses if r.status_code == 200)
    assert winner["version"] == task["version"] + 1


_WRITES = [
    ("PUT", "", {"title": "No"}),
    ("PATCH", "", {"title": "No"}),
    ("PATCH", "/complete", None),
    ("DELETE", "", None),
]


@pytest.mark.parametrize(
    "if_match",
    ["{id}.1", '"{id}.1', '"{id}.1" "{id}.2"', '*, "{id}.1"', '"{id}.\u00e91"', "W/", '"a"b"'],
)
async def test_malformed_if_match_is_400_saying_what_is_expected(
    alice: ApiUser, if_match: str
) -> None:
    task = await alice.create(title="Strict")
    header = if_match.format(id=task["id"]).encode()

    for method, suffix, body in _WRITES:
        response = await alice.request(
            method, f"/{task['id']}{suffix}", json=body, headers={"If-Match": header}
        )
        assert response.status_code == 400, (method, if_match, response.text)
        assert response.json()["detail"]["error"] == (
            'If-Match must be * or a comma-separated list of entity tags such as "42.3"'
        )
    assert (await alice.request("GET", f"/{task['id']}")).json() == task


@pytest.mark.parametrize("count", [MAX_ENTITY_TAGS + 1, 1_000, 33_000])
async def test_if_match_lists_past_the_limit_are_400_and_change_nothing(
    alice: ApiUser, count: int
) -> None:
    task = await alice.create(title="Bounded")
    stale = ", ".join(f'"{task["id"]}.{version}"' for version in range(2, count + 2))
    # One header line holds what its limit allows; the rest come as repeated lines.
    lines = _as_lines("If-Match", stale)

    for method, suffix, body in _WRITES:
        response = await alice.client.request(
            method,
            alice.url(f"/{task['id']}{suffix}"),
            json=body,
            headers=[*alice.headers.items(), *lines],
        )
        if count > 1_000:
            assert response.status_code == 431, (method, response.text)
            continue
        assert response.status_code == 400, (method, response.text)
        assert response.json()["detail"] == {
            "error": f"If-Match may list at most {MAX_ENTITY_TAGS} entity tags",
            "header": "If-Match",
            "max_entity_tags": MAX_ENTITY_TAGS,
        }
    assert (await alice.request("GET", f"/{task['id']}")).json() == task


async def test_the_longest_accepted_list_is_answered_by_the_task(alice: ApiUser) -> None:
    task = await alice.create(title="Bounded")
    stale = ", ".join(f'"{task["id"]}.{v}"' for v in range(2, MAX_ENTITY_TAGS + 1))
    current = f"{stale}, {etag_of(task)}"

    refused = await alice.request(
        "PUT", f"/{task['id']}", json={"title": "No"}, headers={"If-Match": stale}
    )
    cached = await alice.request("GET", f"/{task['id']}", headers={"If-None-Match": current})
    written = await alice.request(
        "PUT", f"/{task['id']}", json={"title": "Yes"}, headers={"If-Match": current}
    )

    assert refused.status_code == 412
    assert cached.status_code == 304
    assert written.status_code == 200


async def test_repeated_if_match_and_if_none_match_lines_are_one_list(alice: ApiUser) -> None:
    task = await alice.create(title="Lines")
    tag = etag_of(task)
    other = f'"{task["id"]}.9"'

    cached = await alice.client.get(
        alice.url(f"/{task['id']}"),
        headers=[*alice.headers.items(), ("If-None-Match", other), ("If-None-Match", tag)],
    )
    written = await alice.client.put(
        alice.url(f"/{task['id']}"),
        json={"title": "Second line matched"},
        headers=[*alice.headers.items(), ("If-Match", other), ("If-Match", tag)],
    )
    too_many = await alice.client.put(
        alice.url(f"/{task['id']}"),
        json={"title": "No"},
        headers=[*alice.headers.items(), *[("If-Match", other)] * (MAX_ENTITY_TAGS + 1)],
    )

    assert cached.status_code == 304
    assert written.status_code == 200, written.text
    assert too_many.status_code == 400


async def test_if_none_match_past_the_limit_is_400_before_the_task_is_read(
    alice: ApiUser,
) -> None:
    tags = ", ".join(f'"x{n}"' for n in range(MAX_ENTITY_TAGS + 1))

    response = await alice.request("GET", "/404", headers={"If-None-Match": tags})

    assert response.status_code == 400
    assert response.json()["detail"]["header"] == "If-None-Match"


def _as_lines(name: str, value: str) -> list[tuple[str, str]]:
    """`value` split at commas into lines of at most 8,000 characters each."""
    lines: list[tuple[str, str]] = []
    for tag in value.split(", "):
        if lines and len(lines[-1][1]) + len(tag) < 8_000:
            lines[-1] = (name, f"{lines[-1][1]}, {tag}")
        else:
            lines.append((name, tag))
    return lines


async def test_no_precondition_list_poisons_the_pooled_connection(
    database_url: str, tmp_path: Path
) -> None:
    """With one pooled connection, every hostile list is refused or answered, and another
    user's requests after it are served on that same connection."""
    env = {
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
        "DB_POOL_SIZE": "1",
    }
    with running_server(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            alice = ApiUser(http, "alice-id", token_for("alice-id"))
            bob = ApiUser(http, "bob-id", token_for("bob-id"))
            task = await alice.create(title="Target")
            url = alice.url(f"/{task['id']}")
            tags = [f'"{task["id"]}.{version}"' for version in range(2, 33_002)]
            hostile = [
                ("PUT", [("If-Match", ", ".join(tags[: MAX_ENTITY_TAGS - 1]))], 412),
                ("PUT", _as_lines("If-Match", ", ".join(tags[:1_000])), 400),
                ("DELETE", [("If-Match", ", ".join(tags))], 431),
                ("GET", [("If-None-Match", ", ".join(tags[:MAX_ENTITY_TAGS]))], 200),
                ("GET", _as_lines("If-None-Match", ", ".join(tags[:1_000])), 400),
            ]
            for method, lines, status in hostile:
                response = await http.request(
                    method,
                    url,
                    json={"title": "Hostile"} if method == "PUT" else None,
                    headers=[*alice.headers.items(), *lines],
                )
                assert response.status_code == status, (method, response.text)

                created = await bob.request("POST", json={"title": "After"})
                listed = await bob.request("GET")
                assert created.status_code == 201, created.text
                assert listed.status_code == 200, listed.text
            assert (await alice.request("GET", f"/{task['id']}")).json() == task
    assert "Traceback" not in server.log()
