"""The FastAPI application: middleware, routes, error handlers and the resources' lifetime.

`backend.main:app` is the ASGI app. Importing it reads settings but opens nothing: the engine,
the token verifier and the development secret come to life in the lifespan, at startup.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend.config import Settings
from backend.db import create_engine
from backend.errors import install_error_handlers
from backend.idempotency import purge_periodically
from backend.middleware.auth import BearerAuthMiddleware
from backend.middleware.body_limit import BodySizeLimitMiddleware
from backend.routes import tasks
from backend.routes.openapi_docs import serve_tidy_openapi
from backend.tokens import SecretKeySource, TokenVerifier
from backend.user_store import UserProvisioner

logger = logging.getLogger("backend")

# Request headers a browser frontend sends, and response headers it may read.
CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
]
CORS_EXPOSE_HEADERS = ["Location", "ETag", "Link", "X-Total-Count", "Idempotent-Replayed"]


def build_token_verifier(settings: Settings) -> TokenVerifier:
    source = SecretKeySource(
        settings.jwt_secret(), settings.jwt_algorithms, settings.jwt_leeway_seconds
    )
    return TokenVerifier([source], settings.jwt_max_token_bytes)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.token_verifier = build_token_verifier(settings)
        app.state.user_provisioner = UserProvisioner(engine)
        logger.info(
            "serving: environment=%s database=%s token verification=%s",
            settings.environment,
            engine.url.render_as_string(hide_password=True),
            ",".join(app.state.token_verifier.modes),
        )
        stopping = asyncio.Event()
        purger = asyncio.create_task(
            purge_periodically(
                engine,
                timedelta(seconds=settings.idempotency_key_ttl_seconds),
                settings.idempotency_purge_interval_seconds,
                stopping,
            )
        )
        try:
            yield
        finally:
            stopping.set()
            await purger
            await engine.dispose()

    app = FastAPI(
        title="Task API",
        version="0.1.0",
        summary="Per-user tasks behind Better Auth JWTs.",
        lifespan=lifespan,
        # curl users often omit Content-Type: read such bodies as JSON rather than refuse them.
        strict_content_type=False,
    )
    app.state.settings = settings
    app.include_router(tasks.router)
    serve_tidy_openapi(app)
    install_error_handlers(app)

    # Added innermost first: CORS wraps everything, so even a 401 carries CORS headers.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(BearerAuthMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        max_age=600,
    )
    return app


app = create_app()
