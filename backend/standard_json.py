"""Request bodies read as standard JSON (RFC 8259) only.

Python's `json` reads `NaN`, `Infinity` and `-Infinity`, which no other JSON parser accepts,
and reads a number too large for a double (`1e400`) as infinity: a value the API could only
echo back as non-standard JSON, which a browser's `JSON.parse` refuses. Both are refused here
as invalid JSON (a 400), as orjson on the lean path refuses them.
"""

import json
import math
from typing import Any


class _NonStandardNumber(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonStandardNumber(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonStandardNumber(f"the number {text[:40]} is too large")
    return value


def loads(raw: bytes) -> Any:
    """`raw` as JSON; `json.JSONDecodeError` for non-standard numbers too."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonStandardNumber as exc:
        raise json.JSONDecodeError(str(exc), raw.decode("utf-8", "replace"), 0) from exc


def finite(data: Any) -> Any:
    """`data` with every non-finite float replaced by None, so that it encodes as standard
    JSON (for bodies that echo input the API did not parse itself)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data
