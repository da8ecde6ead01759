"""The example frontend (examples/web) end to end, in a real headless Chromium.

`examples/web/start.mjs`, what `make example` runs, starts the API (on the test's database),
Better Auth and the page on three origins of their own; the browser signs up, creates, pages
through, toggles, edits (and meets a conflict when the task changed meanwhile), deletes and
signs out, as a person would, and a second user never sees the first one's tasks. A page on an
origin not in CORS_ORIGINS is refused by the browser, token or not.

On failure each open page's screenshot is saved to test-results/web-example/ (git-ignored).
The README's "Connect a Better Auth frontend" is checked to quote the example's files.
"""

import base64
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect, sync_playwright

from node_projects import EXAMPLE_DIR, ROOT, installed, node
from processes import wait_until
from support import FAILED_CALL, free_ports

pytestmark = pytest.mark.web

SCREENSHOTS = ROOT / "test-results" / "web-example"
STARTED = "The example is up"
TIMEOUT_MS = 15_000
PASSWORD = "correct-horse-battery"
FILE_NAME_UNSAFE = re.compile(r"[^\w.-]")


@dataclass
class Example:
    api_url: str
    auth_url: str
    page_url: str
    foreign_page_url: str  # the same page, served from an origin not in CORS_ORIGINS


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path, ready: str) -> Iterator[None]:
    """`command` until the block ends, once its output (in `log`) holds `ready`."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=EXAMPLE_DIR, env={**os.environ, **env}, stdout=output, stderr=output
        )
    try:
        wait_until(
            lambda: ready in log.read_text(errors="replace") or process.poll() is not None,
            f"{command} to print {ready!r}",
        )
        assert process.poll() is None, log.read_text(errors="replace")
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    """The example as `make example` runs it, on SQLite (its default), shared by this module's
    tests: each signs up users of its own. The API's engines are proven alike by the rest of
    the suite; starting the three processes is most of a test's time here."""
    installed(EXAMPLE_DIR)
    workdir = tmp_path_factory.mktemp("web-example")
    api, auth, page, foreign = (f"http://localhost:{port}" for port in free_ports(4))
    env = {
        "API_URL": api,
        "AUTH_URL": auth,
        "PAGE_URL": page,
        "PYTHON": sys.executable,
        "DATABASE_URL": f"sqlite:///{workdir / 'tasks.db'}",
        "AUTH_DATABASE": str(workdir / "auth.db"),
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(32),
    }
    with (
        running([node(), "start.mjs"], env, workdir / "example.log", STARTED),
        running(
            [node(), "page-server.mjs"],
            {**env, "PAGE_URL": foreign},
            workdir / "foreign-page.log",
            f"Page: {foreign}",
        ),
    ):
        yield Example(api, auth, page, foreign)


@pytest.fixture
def browser(
    chromium: str, example: Example, request: pytest.FixtureRequest
) -> Iterator[BrowserContext]:
    """A fresh browser profile that reaches nothing but this machine; on a failed test, each of
    its pages is saved as a screenshot."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost"],
        )
        context = launched.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            if request.node.stash.get(FAILED_CALL, False):
                save_screenshots(context, request.node.name)
            launched.close()


def save_screenshots(context: BrowserContext, test_name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for number, page in enumerate(context.pages, start=1):
        path = SCREENSHOTS / f"{FILE_NAME_UNSAFE.sub('_', test_name)}-{number}.png"
        page.screenshot(path=path, full_page=True)
        print(f"screenshot of {page.url}: {path}")


def task(page: Page, title: str) -> Locator:
    """The list item of the task titled exactly `title`."""
    exact = re.compile(rf"^\s*{re.escape(title)}\s*$")
    return page.locator("#tasks li").filter(has=page.locator(".title", has_text=exact))


def sign_up(page: Page, name: str) -> str:
    email = f"{name.lower()}-{secrets.token_hex(4)}@example.com"
    form = page.locator("#sign-up")
    form.get_by_placeholder("Name").fill(name)
    form.get_by_placeholder("Email").fill(email)
    form.get_by_placeholder("Password (8+ characters)").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#who")).to_have_text(email)
    return email


def sign_in(page: Page, email: str) -> None:
    form = page.locator("#sign-in")
    form.get_by_placeholder("Email").fill(email)
    form.get_by_placeholder("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_have_text(email)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#sign-up")).to_be_visible()
    expect(page.locator("#signed-in")).to_be_hidden()


def add_task(page: Page, title: str) -> None:
    page.get_by_label("New task").fill(title)
    page.get_by_role("button", name="Add").click()
    expect(task(page, title)).to_be_visible()


def edit_title(page: Page, title: str, new_title: str) -> Locator:
    """Open the task's editor, type `new_title` and save; the editor, for what it then says."""
    task(page, title).get_by_role("button", name="Edit").click()
    editor = task(page, title).locator("form.editor")
    editor.get_by_label("Title").fill(new_title)
    return editor


DONE = re.compile(r"\bdone\b")
# Oldest first; the page lists newest first, five at a time.
TITLES = ["Buy milk", "Call mum", "Pay rent", "Water plants", "Book dentist", "Fix bike"]


def test_people_manage_their_own_tasks_through_the_page(
    browser: BrowserContext, example: Example
) -> None:
    page = browser.new_page()
    page.goto(example.page_url)
    showing = page.locator("#range")

    alice = sign_up(page, "Alice")
    expect(showing).to_have_text("No tasks yet")
    for title in TITLES:
        add_task(page, title)
    expect(showing).to_have_text("1-5 of 6")
    expect(task(page, "Buy milk")).to_have_count(0)
    page.get_by_role("button", name="Next").click()
    expect(showing).to_have_text("6-6 of 6")
    expect(task(page, "Buy milk")).to_be_visible()
    page.get_by_role("button", name="Previous").click()
    expect(showing).to_have_text("1-5 of 6")

    task(page, "Fix bike").get_by_role("checkbox").check()
    expect(task(page, "Fix bike")).to_have_class(DONE)
    page.reload()
    expect(task(page, "Fix bike").get_by_role("checkbox")).to_be_checked()

    # The editor read the task's ETag; another tab then changes the task, so saving is refused.
    editor = edit_title(page, "Pay rent", "Pay the rent")
    other_tab = browser.new_page()
    other_tab.goto(example.page_url)
    task(other_tab, "Pay rent").get_by_role("checkbox").check()
    expect(task(other_tab, "Pay rent")).to_have_class(DONE)
    other_tab.close()
    editor.get_by_role("button", name="Save").click()
    expect(editor.get_by_role("alert")).to_contain_text("changed since you opened it")
    editor.get_by_role("button", name="Cancel").click()
    expect(task(page, "Pay rent")).to_have_class(DONE)
    edit_title(page, "Pay rent", "Pay the rent").get_by_role("button", name="Save").click()
    expect(task(page, "Pay the rent")).to_be_visible()

    task(page, "Pay the rent").get_by_role("button", name="Delete").click()
    expect(showing).to_have_text("1-5 of 5")
    expect(task(page, "Pay the rent")).to_have_count(0)

    sign_out(page)
    page.reload()
    expect(page.locator("#sign-up")).to_be_visible()

    sign_up(page, "Bob")
    expect(showing).to_have_text("No tasks yet")
    add_task(page, "Bob's own")
    expect(showing).to_have_text("1-1 of 1")
    sign_out(page)

    sign_in(page, alice)
    expect(showing).to_have_text("1-5 of 5")
    expect(task(page, "Bob's own")).to_have_count(0)


# What the page's own code would do with a token: call the API with it, or learn it cannot.
FETCH_TASKS = """async ([url, token]) => {
  try {
    return (await fetch(url, { headers: { Authorization: `Bearer ${token}` } })).status;
  } catch (error) {
    return String(error);
  }
}"""
TOKEN = """async (authUrl) => {
  const response = await fetch(`${authUrl}/api/auth/token`, { credentials: "include" });
  return (await response.json()).token;
}"""


def test_a_page_on_an_origin_not_in_cors_origins_is_refused(
    browser: BrowserContext, example: Example
) -> None:
    page = browser.new_page()
    page.goto(example.page_url)
    sign_up(page, "Carol")
    token = page.evaluate(TOKEN, example.auth_url)
    user_id = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["sub"]
    tasks_url = f"{example.api_url}/api/{user_id}/tasks"

    foreign = browser.new_page()
    foreign.goto(example.foreign_page_url)

    assert page.evaluate(FETCH_TASKS, [tasks_url, token]) == 200
    assert foreign.evaluate(FETCH_TASKS, [tasks_url, token]) == "TypeError: Failed to fetch"


README_SECTION = "## Connect a Better Auth frontend"
FENCED_BLOCK = re.compile(r"^```\w*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
QUOTED_FILE = re.compile(r"^// (examples/web/\S+)$")
SETTING = re.compile(r"^([A-Z_]+)=(\S+)")


def readme_section_blocks() -> list[list[str]]:
    """The lines of each fenced block in the README's section on Better Auth frontends."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(README_SECTION) + len(README_SECTION)
    section = readme[start : readme.index("\n## ", start)]
    return [block.splitlines() for block in FENCED_BLOCK.findall(section)]


def is_quoted_in(lines: list[str], text: str) -> bool:
    """`lines` appear in `text` one after another, each as a whole line (indentation aside)."""
    wanted = [line.strip() for line in lines]
    have = [line.strip() for line in text.splitlines()]
    return any(have[at : at + len(wanted)] == wanted for at in range(len(have)))


def test_the_readme_quotes_the_example_line_for_line() -> None:
    blocks = readme_section_blocks()
    quotes = [(QUOTED_FILE.match(block[0]), block[1:]) for block in blocks]
    quoted_files = [match.group(1) for match, _ in quotes if match]

    assert {"examples/web/auth.mjs", "examples/web/src/api.ts"} <= set(quoted_files)
    for match, lines in quotes:
        if match:
            quoted = (ROOT / match.group(1)).read_text()
            assert is_quoted_in(lines, quoted), f"README no longer quotes {match.group(1)}"


def test_the_readme_gives_the_api_the_settings_the_example_gives_it() -> None:
    start = (EXAMPLE_DIR / "start.mjs").read_text()
    origins = (EXAMPLE_DIR / "origins.mjs").read_text()
    settings = [SETTING.match(line) for block in readme_section_blocks() for line in block]
    named = {match.group(1): match.group(2) for match in settings if match}

    assert set(named) == {"BETTER_AUTH_URL", "CORS_ORIGINS"}
    for name, value in named.items():
        origin = re.search(rf"^\s*{name}: (\w+),$", start, re.MULTILINE)
        assert origin, f"start.mjs does not set {name} for the API"
        default = (
            rf'^export const {origin.group(1)} = process\.env\.\w+ \?\? "{re.escape(value)}";$'
        )
        assert re.search(default, origins, re.MULTILINE), f"README's {name}={value}"
