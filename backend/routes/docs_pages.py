"""`/openapi.json`, `/docs` (Swagger UI) and `/redoc`, with their scripts, styles and icon
served by the API, on routes added after the task routes (Starlette tries routes in order).

FastAPI's own pages load these from a CDN: offline, or behind a network that blocks it, they
were blank. The assets come from the pinned `fastapi-offline` wheel (Swagger UI 5, ReDoc 2),
and each page carries a policy that lets it load nothing from another origin.
"""

import os
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

OPENAPI_PATH = "/openapi.json"
SWAGGER_UI_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"
ASSETS_DIRECTORY = str(files("fastapi_offline") / "static")

# Swagger UI runs an inline script and sets inline styles; ReDoc adds style elements and runs
# its search in a worker made from a blob. Everything else is this origin's, or an inline SVG.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {"Content-Security-Policy": DOCS_CSP}


class _Assets(StaticFiles):
    """The pages' assets: revalidated by ETag rather than refetched whole on every load."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


def add_docs_pages(app: FastAPI, openapi_url: str) -> None:
    """Serve the OpenAPI document at `openapi_url`, Swagger UI and ReDoc for it, and their
    assets, from `app` itself."""
    app.openapi_url = openapi_url

    @app.get(openapi_url, include_in_schema=False)
    async def openapi_document(request: Request) -> JSONResponse:
        schema = app.openapi()
        root = request.scope.get("root_path", "").rstrip("/")
        if root and app.root_path_in_servers:
            servers = schema.get("servers", [])
            if root not in {server.get("url") for server in servers}:
                schema = {**schema, "servers": [{"url": root}, *servers]}
        return JSONResponse(schema)

    app.mount(ASSETS_PATH, _Assets(directory=ASSETS_DIRECTORY), name="docs-assets")

    @app.get(SWAGGER_UI_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        page.headers.update(_HEADERS)
        return page

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
        page.headers.update(_HEADERS)
        return page
