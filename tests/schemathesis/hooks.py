"""Schemathesis hooks: make the fuzzer use `Idempotency-Key` the way the draft says clients do.

A key names one logical request: reusing it for a different body is a client error (422), and
reusing it for the same body replays the first response, even if that task has since been
deleted. Hypothesis draws short keys that repeat across unrelated requests, which would report
that correct behaviour as failures, so every well-formed key is replaced with a fresh UUID.
Malformed keys (the negative cases, answered 400) are sent as generated. Replays are covered by
tests/test_idempotency.py.
"""

import re
import uuid
from typing import Any

import schemathesis

from backend.dependencies.tasks import IDEMPOTENCY_KEY_PATTERN

_WELL_FORMED = re.compile(IDEMPOTENCY_KEY_PATTERN)


@schemathesis.hook
def before_call(_context: Any, case: Any, _kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _WELL_FORMED.fullmatch(key):
        headers["Idempotency-Key"] = str(uuid.uuid4())
