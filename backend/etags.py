"""Entity tags for tasks, and the `If-Match` / `If-None-Match` preconditions built on them.

A task's ETag is strong and opaque to clients: `"<id>.<version>"`, where the version is bumped
by every write. Parsing is strict and bounded: a header is `*` or a list of at most
`MAX_ENTITY_TAGS` entity tags (RFC 9110 8.8.3, visible ASCII inside the quotes), else 400, so
no header value can cost more than a bounded parse or reach the database as anything but a
few small integers.
"""

import re
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException

MAX_VERSION = 2**31 - 1
# More than any client needs (one tag, or a cache's few variants), few enough to parse in
# microseconds whatever is sent.
MAX_ENTITY_TAGS = 64
_TAG = r'(?:W/)?"[!#-~]*"'
_OWS = r"[ \t]*"
# The grammar of both headers, for the check and for the OpenAPI document: `*`, or 0 to
# MAX_ENTITY_TAGS entity tags separated by commas.
ENTITY_TAG_LIST = (
    rf"^{_OWS}(?:\*|(?:{_TAG}(?:{_OWS},{_OWS}{_TAG}){{0,{MAX_ENTITY_TAGS - 1}}})?){_OWS}$"
)
_ENTITY_TAG_LIST = re.compile(ENTITY_TAG_LIST)
_TAGS = re.compile(r'(W/)?"([!#-~]*)"')
_TASK_VERSION = re.compile(r"(\d{1,10})\.(\d{1,10})")


def task_etag(task: Mapping[str, Any]) -> str:
    return f'"{task["id"]}.{task["version"]}"'


def _tags(header: str, name: str) -> list[tuple[str, str]] | None:
    """The (weak marker, opaque tag) pairs of a list header; None for `*`; 400 when the value
    is not the grammar or names more than MAX_ENTITY_TAGS tags."""
    if _ENTITY_TAG_LIST.fullmatch(header) is None:
        if header.count(",") >= MAX_ENTITY_TAGS:
            error = f"{name} may list at most {MAX_ENTITY_TAGS} entity tags"
        else:
            error = f'{name} must be * or a comma-separated list of entity tags such as "42.3"'
        raise HTTPException(
            400, detail={"error": error, "header": name, "max_entity_tags": MAX_ENTITY_TAGS}
        )
    if header.strip(" \t") == "*":
        return None
    return _TAGS.findall(header)


def if_match_versions(header: str | None, task_id: int) -> frozenset[int] | None:
    """The versions of task `task_id` that `If-Match` accepts; None when any version will do.

    None for no header and for `*` (the write itself requires the task to exist). Weak tags
    and other tasks' tags match nothing (RFC 9110 strong comparison).
    """
    if header is None:
        return None
    tags = _tags(header, "If-Match")
    if tags is None:
        return None
    versions = set()
    for weak, opaque in tags:
        match = None if weak else _TASK_VERSION.fullmatch(opaque)
        if match and int(match[1]) == task_id and 1 <= int(match[2]) <= MAX_VERSION:
            versions.add(int(match[2]))
    return frozenset(versions)


def none_match(header: str | None) -> frozenset[str] | None:
    """The ETags `If-None-Match` names, weak ones as their strong form (RFC 9110 weak
    comparison), checked before any work is done; None for no header; `*` for `*`."""
    if header is None:
        return None
    tags = _tags(header, "If-None-Match")
    return frozenset({"*"}) if tags is None else frozenset(f'"{opaque}"' for _, opaque in tags)
