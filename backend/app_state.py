"""`app.state` with plain attributes, so that the request path reads them at attribute speed.

Starlette's `State` keeps its attributes in a dict behind `__getattr__`, which Python calls
only after its own lookup has failed. The request path reads five of them per request (the
token verifier, the rate limiter, the settings, the user provisioner, the runner), and those
reads cost about as much as the rate limiter itself (callgrind: 25,000 instructions of 363,000
per stubbed `get`, docs/performance.md). `AppState` keeps every attribute in both places: the
instance's own dict, which Python finds first, and `State`'s dict, so it still behaves as a
`State` in every other way.
"""

from typing import Any

from starlette.datastructures import State


class AppState(State):
    def __init__(self, state: dict[str, Any] | None = None) -> None:
        super().__init__({})
        for key, value in (state or {}).items():
            setattr(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        super().__setattr__(key, value)
        object.__setattr__(self, key, value)

    def __delattr__(self, key: str) -> None:
        super().__delattr__(key)
        object.__delattr__(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __delitem__(self, key: str) -> None:
        delattr(self, key)
