"""Endpoints for the platform, not for users: liveness, readiness and Prometheus metrics.

They need no token, reveal no secret, and are exempt from rate limits.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from backend.errors import error_response, json_response
from backend.health import passed

router = APIRouter(tags=["operations"])

_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"description": "A check failed; `detail.checks` names it."}
}


@router.get("/healthz", operation_id="healthz", summary="Liveness: the process is up and serving")
async def healthz() -> Response:
    """Always 200 while the process can answer; it checks no dependency."""
    return json_response({"status": "ok"})


@router.get(
    "/readyz", operation_id="readyz", responses=_NOT_READY, summary="Readiness: dependencies answer"
)
async def readyz(request: Request) -> Response:
    """200 when every readiness check passes (the database, and JWKS keys where configured)."""
    checks = await request.app.state.readiness.run()
    failed = sorted(name for name, outcome in checks.items() if not passed(outcome))
    if failed:
        return error_response(503, f"Not ready: {', '.join(failed)}", failed=failed, checks=checks)
    return json_response({"status": "ready", "checks": checks})


metrics_router = APIRouter()


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus exposition of this process, or of all workers in multiprocess mode."""
    # Multiprocess mode reads every worker's files: keep that off the event loop.
    body, content_type = await run_in_threadpool(request.app.state.metrics.render)
    return Response(body, media_type=content_type)
