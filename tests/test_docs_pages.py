"""`/docs` and `/redoc` work with no network beyond the API: their assets are the API's own.

The browser tests load the pages in a real headless Chromium (conftest's `chromium`) from a
real server process, with every other origin unreachable. The page is opened by a host name,
as users reach the API, not 127.0.0.1 (Swagger UI treats local addresses apart).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from httpx import AsyncClient
from playwright.sync_api import ConsoleMessage, Page, Request, Route, expect, sync_playwright

from processes import running_server
from support import SECRET, token_for

HOST = "docs.test"
# The task endpoints and the tag endpoints.
API_OPERATIONS = 10
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# Every `src="..."`/`href="..."` of a page, and every url(...) of a style sheet.
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']|url\(\s*["']?([^"')]*)""")


def foreign_references(text: str) -> list[str]:
    """The references in `text` that leave the page's own origin (data: URIs stay on it)."""
    references = [src or url for src, url in REFERENCE.findall(text)]
    return [ref for ref in references if re.match(r"(?i)([a-z][a-z0-9+.-]*:)?//", ref)]


async def test_docs_pages_reference_only_the_api_itself(client: AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)

        assert page.status_code == 200
        assert foreign_references(page.text) == [], path
        assets = re.findall(r"""(?:src|href)="(/docs/assets/[^"]+)\"""", page.text)
        assert len(assets) >= 2, path
        for asset in assets:
            response = await client.get(asset)
            assert response.status_code == 200, asset
            if asset.endswith(".css"):
                assert foreign_references(response.text) == [], asset


async def test_assets_are_revalidated_rather_than_downloaded_again(client: AsyncClient) -> None:
    first = await client.get("/docs/assets/swagger-ui-bundle.js")
    again = await client.get(
        "/docs/assets/swagger-ui-bundle.js", headers={"If-None-Match": first.headers["etag"]}
    )

    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/javascript")
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304


@pytest.fixture
def server_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A real server on the test's database; the browser reaches it as http://docs.test:port."""
    env = {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": SECRET}
    with running_server(env, tmp_path) as server:
        yield server.base_url.replace("127.0.0.1", HOST)


@dataclass
class OfflinePage:
    """A Chromium page that reaches only the API: what it fetched from elsewhere is refused and
    listed, and so is what its own Content-Security-Policy stopped before any network."""

    page: Page
    url: str
    fetched_elsewhere: list[str] = field(default_factory=list)
    refused_by_policy: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def offline_page(chromium: str, server_url: str) -> Iterator[OfflinePage]:

    def only_the_api(route: Route) -> None:
        url = route.request.url
        if url == server_url or url.startswith(f"{server_url}/"):
            route.continue_()
        else:
            opened.fetched_elsewhere.append(url)
            route.abort("internetdisconnected")

    def failed(request: Request) -> None:
        if request.failure == "csp":
            opened.refused_by_policy.append(request.url)

    def logged(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.console_errors.append(message.text)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[f"--host-resolver-rules=MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND"],
        )
        try:
            opened = OfflinePage(browser.new_page(), server_url)
            opened.page.route("**/*", only_the_api)
            opened.page.on("requestfailed", failed)
            opened.page.on("console", logged)
            yield opened
        finally:
            browser.close()


def test_swagger_ui_renders_every_operation_offline(offline_page: OfflinePage) -> None:
    page = offline_page.page

    page.goto(f"{offline_page.url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()

    assert sum(path.startswith("/api/") for path in paths) == API_OPERATIONS
    assert {"/healthz", "/readyz"} <= set(paths)
    assert page.locator("button.authorize").is_visible()
    assert offline_page.fetched_elsewhere == []
    assert offline_page.refused_by_policy == []
    assert offline_page.console_errors == []


def test_a_task_is_created_from_swagger_ui_with_a_pasted_token(
    offline_page: OfflinePage,
) -> None:
    page = offline_page.page
    page.goto(f"{offline_page.url}/docs")

    page.locator("button.authorize").click()
    page.locator(".modal-ux input").fill(token_for("docs-user"))
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    operation = page.locator("#operations-tasks-create_task")
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    operation.locator("input[placeholder='user_id']").fill("docs-user")
    body = operation.locator("textarea.body-param__text")
    # Swagger UI fills in the example body once "Try it out" renders: replace it only then.
    expect(body).not_to_have_value("")
    body.fill('{"title": "Written in the browser"}')
    expect(body).to_have_value('{"title": "Written in the browser"}')
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status")
    expect(status).to_have_text("201", timeout=30_000)
    created = httpx.get(
        f"{offline_page.url.replace(HOST, '127.0.0.1')}/api/docs-user/tasks",
        headers={"Authorization": f"Bearer {token_for('docs-user')}"},
    )

    assert [task["title"] for task in created.json()] == ["Written in the browser"]
    assert offline_page.fetched_elsewhere == []


def test_redoc_renders_offline(offline_page: OfflinePage) -> None:
    page = offline_page.page

    page.goto(f"{offline_page.url}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
    operations = page.locator("[data-section-id^='operation/']").count()

    assert operations >= API_OPERATIONS
    assert offline_page.fetched_elsewhere == []
    # ReDoc's bundle shows its vendor's logo from the vendor's CDN, whatever its options; the
    # page's policy stops that request in the browser and ReDoc hides the broken image.
    assert offline_page.refused_by_policy == [REDOCLY_LOGO]
    assert [error for error in offline_page.console_errors if REDOCLY_LOGO not in error] == []
