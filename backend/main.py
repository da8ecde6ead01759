"""The FastAPI application: middleware, routes, error handlers and the resources' lifetime.

`backend.main:app` is the ASGI app. Importing it reads settings but opens nothing: the engine,
the token verifier and the development secret come to life in the lifespan, at startup.
"""

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend.config import Settings
from backend.db import create_engine
from backend.errors import install_error_handlers
from backend.jwks import JwksKeySource
from backend.middleware.auth import BearerAuthMiddleware
from backend.middleware.body_limit import BodySizeLimitMiddleware
from backend.routes import tasks
from backend.tokens import KeySource, SecretKeySource, TokenVerifier
from backend.user_store import UserProvisioner

logger = logging.getLogger("backend")

# Request headers a browser frontend sends, and response headers it may read.
CORS_ALLOW_HEADERS = ["Authorization", "Content-Type"]
CORS_EXPOSE_HEADERS = ["Location"]


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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        verifier = build_token_verifier(settings)
        app.state.token_verifier = verifier
        app.state.user_provisioner = UserProvisioner(engine)
        logger.info(
            "serving: environment=%s database=%s token verification: %s",
            settings.environment,
            engine.url.render_as_string(hide_password=True),
            "; ".join(verifier.modes),
        )
        try:
            await verifier.start()
            yield
        finally:
            await app.state.token_verifier.aclose()
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
