"""Entity tags for tasks, and the `If-Match` / `If-None-Match` preconditions built on them.

A task's ETag is strong and opaque to clients: `"<id>.<version>"`, where the version is bumped
by every write. Parsing is strict and bounded, so no header value can reach the database as
anything but a small integer.
"""

import re
from collections.abc import Mapping
from typing import Any

MAX_VERSION = 2**31 - 1
_STRONG_TAG = re.compile(r'"(\d{1,10})\.(\d{1,10})"')


def task_etag(task: Mapping[str, Any]) -> str:
    return f'"{task["id"]}.{task["version"]}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def if_match_versions(header: str | None, task_id: int) -> frozenset[int] | None:
    """The versions of task `task_id` that `If-Match` accepts; None when any version will do.

    None for no header and for `*` (the write itself requires the task to exist). Weak tags,
    other tasks' tags and anything unparseable match nothing (RFC 9110 strong comparison).
    """
    if header is None:
        return None
    tags = _tags(header)
    if "*" in tags:
        return None
    versions = set()
    for tag in tags:
        match = _STRONG_TAG.fullmatch(tag)
        if match and int(match[1]) == task_id and 1 <= int(match[2]) <= MAX_VERSION:
            versions.add(int(match[2]))
    return frozenset(versions)


def none_match(header: str | None, etag: str) -> bool:
    """True when `If-None-Match` holds `etag` or `*` (weak comparison, RFC 9110 13.1.2)."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)
