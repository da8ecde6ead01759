"""Lean handling inside FastAPI's router: a route class that tries the endpoint's lean handler
first and otherwise runs FastAPI's own handler.

FastAPI's dependency solver and validation cost more per request than the query itself
(docs/performance.md). A lean handler, declared beside its endpoint with `@lean(...)`, decodes
only the well-formed case with certainty: the caller's own path, canonical numbers, known query
parameters each at most once, a JSON body the endpoint's own model accepts. For anything else it
returns None and FastAPI decides, so every error answer and the OpenAPI contract keep one
source. Starlette has already matched the path, filled the path parameters and set the route
(telemetry reads it); a body read once is kept and replayed, so FastAPI reads the same bytes;
an exception raised on either way meets the same exception handlers.
`LEAN_HANDLERS_ENABLED=false` sends every request through FastAPI's own handler.
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Scope

from backend import standard_json
from backend.dependencies.tasks import is_json_content_type
from backend.schemas import is_canonical_whole_number
from backend.tokens import AuthenticatedUser

LeanHandler = Callable[[Request], Awaitable[Response | None]]
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])
_Model = TypeVar("_Model", bound=BaseModel)

# Where `read_body` keeps a body it has read, in the request's scope.
_BODY_KEY = "backend.request_body"
# Filled at import by `@lean`, read when the routes are built.
_LEAN_HANDLERS: dict[Callable[..., Any], LeanHandler] = {}


def lean(handler: LeanHandler) -> Callable[[_Endpoint], _Endpoint]:
    """Give the endpoint below a lean handler (put it under the router's decorator)."""

    def register(endpoint: _Endpoint) -> _Endpoint:
        _LEAN_HANDLERS[endpoint] = handler
        return endpoint

    return register


class StandardJsonRequest(Request):
    """A request whose body FastAPI reads as standard JSON only (`standard_json`)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = standard_json.loads(await self.body())
        return self._json


async def _for_fastapi(request: Request) -> Request:
    """The request as FastAPI's own handler gets it: its body (kept, if a lean handler read
    it) replayed to a `StandardJsonRequest`. Only requests that FastAPI handles pay for it."""
    body = await read_body(request)
    if body is None:
        return request

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return StandardJsonRequest(request.scope, replay)


class LeanRoute(APIRoute):
    """An `APIRoute` whose handler answers through the endpoint's lean handler when it can;
    FastAPI's own handler reads JSON bodies as standard JSON, as the lean handlers do."""

    # Methods that other lean routes at this same path serve (`share_paths`). A request with one
    # of them is theirs whatever its path: where the path matches, the route serving its method
    # matches fully, so this one need not match the path only to be passed over (Starlette would
    # convert the path parameters and keep a partial match it then drops, about 1.7 µs).
    methods_beside: frozenset[str] = frozenset()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("method") in self.methods_beside:
            return Match.NONE, {}
        # Most routes this request meets are not its own: turn those away on the path alone
        # (with a root path, the full match strips it first).
        if not scope.get("root_path") and self.path_regex.match(scope["path"]) is None:
            return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full_handler = super().get_route_handler()
        lean_handler = _LEAN_HANDLERS.get(self.endpoint)

        async def handle(request: Request) -> Response:
            if lean_handler is not None and request.app.state.settings.lean_handlers_enabled:
                response = await lean_handler(request)
                if response is not None:
                    return response
            return await full_handler(await _for_fastapi(request))

        return handle


def share_paths(routes: Iterable[BaseRoute]) -> None:
    """Tell each lean route among `routes` the methods its siblings at the same path serve."""
    lean_routes = [route for route in routes if isinstance(route, LeanRoute)]
    served: dict[str, set[str]] = defaultdict(set)
    for route in lean_routes:
        served[route.path] |= route.methods
    for route in lean_routes:
        route.methods_beside = frozenset(served[route.path] - route.methods)


def path_owner(request: Request) -> AuthenticatedUser | None:
    """The authenticated caller when the path's `{user_id}` is their own, else None."""
    user = request.scope.get("state", {}).get("user")
    if isinstance(user, AuthenticatedUser) and request.path_params["user_id"] == user.id:
        return user
    return None


def whole_number(text: str, low: int, high: int) -> int | None:
    """`text` as an int in [low, high] when written canonically (`WholeNumber`'s rule)."""
    if len(text) > len(str(high)) or not is_canonical_whole_number(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


async def read_body(request: Request) -> bytes | None:
    """The whole body, kept in the scope for the next reader (`_for_fastapi` replays it to
    FastAPI); None if reading it failed, which FastAPI's own read then meets and answers. A 413
    from the body limit goes straight out.

    Read from `receive` directly: `Request.body()` goes through an async generator, whose
    creation and finalisation asyncio tracks, and cost 17,000 instructions a write (4%).
    """
    body: bytes | None = request.scope.get(_BODY_KEY)
    if body is not None:
        return body
    chunks = []
    try:
        while True:
            message = await request.receive()
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
    except HTTPException:
        raise
    except Exception:
        return None
    body = request.scope[_BODY_KEY] = b"".join(chunks)
    return body


def parsed(raw: bytes, model: type[_Model]) -> _Model | None:
    """`raw` as `model`, decoded and validated as FastAPI does (JSON, then the model)."""
    try:
        return model.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError):
        return None


async def json_body(request: Request, model: type[_Model]) -> _Model | None:
    """The body as `model`; None for anything FastAPI must answer: another content type, no
    body, bad JSON, invalid fields."""
    if not is_json_content_type(request.headers.get("content-type")):
        return None
    raw = await read_body(request)
    return parsed(raw, model) if raw else None
