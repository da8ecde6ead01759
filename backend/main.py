"""The FastAPI application: middleware, routes, error handlers and the resources' lifetime.

`backend.main:app` is the ASGI app. Importing it reads settings but opens nothing: the pool,
the token verifier, the rate limiter and the development secret come to life in the lifespan.
"""

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import BinaryIO

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from backend.access_log import AccessLog
from backend.app_state import AppState
from backend.config import Settings
from backend.db import open_runner
from backend.errors import install_error_handlers
from backend.health import Readiness, database_check
from backend.idempotency import purge_periodically
from backend.jwks import JwksKeySource
from backend.metrics import Metrics
from backend.middleware.edge import Edge
from backend.rate_limit import build_rate_limiter
from backend.routes import operations, tags, tasks
from backend.routes.docs_pages import OPENAPI_PATH, add_docs_pages
from backend.routes.openapi_docs import serve_tidy_openapi
from backend.schema_revision import SchemaRevision, code_revisions
from backend.tokens import KeySource, SecretKeySource, TokenVerifier
from backend.user_store import UserProvisioner

logger = logging.getLogger("backend")


def build_token_verifier(
    settings: Settings, *, clock: Callable[[], float] = time.monotonic
) -> TokenVerifier:
    """HS256 with the secret and/or JWKS, whichever the settings turn on.

    `clock` times the JWKS key cache; tests pass one they can move forward.
    """
    sources: list[KeySource] = []
    secret = settings.jwt_secret()
    if secret is not None:
        sources.append(
            SecretKeySource(
                secret,
                settings.jwt_algorithms,
                settings.jwt_leeway_seconds,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        )
    if settings.jwks_url is not None:
        sources.append(
            JwksKeySource(
                settings.jwks_url,
                issuer=settings.jwks_issuer,
                audience=settings.jwks_audience,
                leeway=settings.jwt_leeway_seconds,
                cache_ttl=settings.jwks_cache_ttl_seconds,
                refetch_interval=settings.jwks_refetch_interval_seconds,
                fetch_timeout=settings.jwks_fetch_timeout_seconds,
                clock=clock,
            )
        )
    return TokenVerifier(sources, settings.jwt_max_token_bytes)


def create_app(
    settings: Settings | None = None, access_log_sink: BinaryIO | None = None
) -> FastAPI:
    """The app; its access log goes to `access_log_sink`, stderr unless given."""
    settings = settings or Settings()
    metrics = Metrics() if settings.metrics_enabled else None
    access_log = _access_log(settings, access_log_sink, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = await open_runner(settings)
        app.state.runner = runner
        verifier = build_token_verifier(settings)
        app.state.token_verifier = verifier
        app.state.user_provisioner = UserProvisioner(runner)
        app.state.rate_limiter = build_rate_limiter(settings)
        schema = SchemaRevision(runner, code_revisions())
        app.state.readiness.register("database", database_check(runner, schema))
        for source in verifier.sources:
            if isinstance(source, JwksKeySource):
                app.state.readiness.register("jwks", source.ensure_keys_loaded)
        if metrics is not None:
            metrics.start_pool_sampling(runner.connections)
        logger.info(
            "serving: environment=%s event loop=%s database=%s token verification: %s; "
            "rate limits=%s",
            settings.environment,
            _event_loop_name(),
            make_url(settings.database_url).render_as_string(hide_password=True),
            "; ".join(verifier.modes),
            _rate_limit_mode(settings),
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.readiness_timeout_seconds):
                await schema.read_at_startup()
        stopping = asyncio.Event()
        purger = asyncio.create_task(
            purge_periodically(
                runner,
                timedelta(seconds=settings.idempotency_key_ttl_seconds),
                settings.idempotency_purge_interval_seconds,
                stopping,
            )
        )
        try:
            await verifier.start()
            # What is alive once started (modules, the app, table metadata) lives as long as
            # the process: frozen out of the cycle collector, so each full collection scans
            # only what requests allocate instead of pausing every request in flight (p99).
            gc.freeze()
            if access_log is not None:
                access_log.start()
            yield
        finally:
            stopping.set()
            await purger
            await app.state.token_verifier.aclose()
            if metrics is not None:
                await metrics.stop()
            if access_log is not None:
                access_log.close()
            await app.state.rate_limiter.close()
            await runner.close()

    docs = settings.docs_enabled
    app = FastAPI(
        title="Task API",
        version="0.1.0",
        summary="Per-user tasks behind Better Auth JWTs.",
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc would load their assets from a CDN, and its routes
        # for them and /openapi.json would come first, matched in vain before every task
        # request: docs_pages.py serves all three, after the task routes.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # FastAPI's native OpenTelemetry looks up three global providers (environment reads)
        # on every request; the API reports through Prometheus and its JSON logs instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state = AppState({key: app.state[key] for key in app.state})
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.readiness = Readiness(settings.readiness_timeout_seconds)
    tasks.add_routes(app.router)
    tags.add_routes(app.router)
    app.include_router(operations.router)
    if metrics is not None:
        app.include_router(operations.metrics_router)
    serve_tidy_openapi(app)
    if docs:
        add_docs_pages(app, OPENAPI_PATH)
    install_error_handlers(app)

    app.add_middleware(Edge, settings=settings, metrics=metrics, access_log=access_log)
    return app


def _access_log(
    settings: Settings, sink: BinaryIO | None, metrics: Metrics | None
) -> AccessLog | None:
    """The access log, unless it is off or the log level is above INFO."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    if not settings.access_log or level > logging.INFO:
        return None
    return AccessLog(
        sink, json=settings.json_logs, capacity=settings.access_log_buffer_lines, metrics=metrics
    )


def _event_loop_name() -> str:
    """`uvloop` or `asyncio`: which loop `serve` found on this platform."""
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


def _rate_limit_mode(settings: Settings) -> str:
    if not settings.rate_limit_enabled:
        return "off"
    return "redis" if settings.redis_url is not None else "memory"


app = create_app()
