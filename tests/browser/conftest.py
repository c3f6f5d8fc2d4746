"""The application under uvicorn on a free localhost port, and Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (installed by `.ci/run`), whose major version
matches the Chromium of the Playwright release pinned in the test extras. Without that browser the tests skip on a
developer's machine and fail in CI (DOSSIERFLOW_STRICT_TESTS=1), so the proof cannot quietly go missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from fastapi import FastAPI

from tests.web.world import Web, copy_of, password, play_demo_into, web_on
from web import i18n

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
ARTIFACTS = Path(os.environ.get("DOSSIERFLOW_ARTIFACTS") or Path(__file__).resolve().parent / "artifacts")
# A page answered with an error status is logged by Chromium as a console error; those statuses are what some
# steps expect (a refusal, a stale version) and are asserted where they happen. Anything else is a fault.
EXPECTED_CONSOLE = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("DOSSIERFLOW_STRICT_TESTS") == "1":
            pytest.fail(missing)  # CI: the browser tests must run, never quietly skip
        pytest.skip(missing)
    from playwright.sync_api import expect, sync_playwright

    # Twice Playwright's defaults: each action records an event and waits for the read models, on a shared CI machine.
    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def browser_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo season played once; each test serves a copy of its data directory."""
    directory = tmp_path_factory.mktemp("browser-demo") / "data"
    play_demo_into(directory)
    return directory


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn in a thread, on a port the system picked; yields its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()
    config = uvicorn.Config(
        app, loop="asyncio", log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started serving"
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()


@dataclass
class Site:
    """The served application and what the tests need around it: its world, its URL, the browser."""

    web: Web
    url: str
    browser: Browser
    shots: Path
    viewport: ViewportSize = field(default_factory=lambda: DESKTOP)
    _contexts: list[BrowserContext] = field(default_factory=list)
    _faults: list[str] = field(default_factory=list)
    _count: int = 0

    def person(self, username: str | None = None, *, locale: str = "vi-VN", javascript: bool = True) -> Page:
        """A fresh browser (its own cookies) in `locale`, signed in as `username` when one is given; with
        `javascript=False`, one that runs no script at all, as every page must work without it."""
        context = self.browser.new_context(
            base_url=self.url, viewport=self.viewport, locale=locale, java_script_enabled=javascript
        )
        context.set_default_timeout(10_000)
        self._contexts.append(context)
        page = context.new_page()
        self.watch(page)
        if username is not None:
            sign_in(page, username)
        return page

    def watch(self, page: Page) -> None:
        """Collect every script error and unexpected console error (a CSP violation, an htmx failure)."""

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and not EXPECTED_CONSOLE.match(message.text):
                self._faults.append(f"console on {page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self._faults.append(f"script error on {page.url}: {error}"))

    def shot(self, page: Page, step: str) -> Path:
        """A full-page screenshot, numbered in the order of the steps."""
        self._count += 1
        path = self.shots / f"{self._count:02d}-{step}.png"
        # caret="initial": hiding the caret leaves style="" on every text field, which htmx's settling then copies
        # onto the fields it swaps in, and the Content-Security-Policy (rightly) refuses that inline style.
        page.screenshot(path=str(path), full_page=True, caret="initial")
        return path

    def close(self) -> list[str]:
        for context in self._contexts:
            context.close()
        return self._faults


def sign_in(page: Page, username: str) -> None:
    page.goto("/sign-in")
    page.get_by_label(t(page, "Username")).fill(username)
    page.get_by_label(t(page, "Password")).fill(password(username))
    page.get_by_role("button", name=t(page, "Sign in")).click()
    page.wait_for_url(re.compile(r"/work$"))


def t(page: Page, message: str, **values: Any) -> str:
    """`message` as the page shows it: translated into the page's language (its <html lang>), values filled in."""
    locale = page.locator("html").get_attribute("lang") or i18n.DEFAULT_LOCALE
    text = str(i18n.translations(locale).gettext(message))
    return text % values if values else text


def t_pattern(page: Page, message: str) -> re.Pattern[str]:
    """`message` as the page shows it, its values (%(name)s) left open: for text with a number or a time in it."""
    parts = re.split(r"%\(\w+\)s", t(page, message))
    return re.compile(".+?".join(re.escape(part) for part in parts))


def artifacts_for(name: str) -> Path:
    directory = ARTIFACTS / re.sub(r"[^\w.-]+", "-", name).strip("-")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


@pytest.fixture
def site(
    browser: Browser, browser_demo: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Site]:
    """A fresh copy of the demo season, served; every page is watched for faults, which fail the test."""
    with web_on(copy_of(browser_demo, tmp_path / "data")) as world, serving(world.app) as url:
        served = Site(world, url, browser, artifacts_for(request.node.name))
        try:
            yield served
        finally:
            faults = served.close()
        assert not faults, "\n".join(faults)


# Fields a person fills in; buttons and hidden fields carry no label of their own.
_UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
    .filter(field => !['hidden', 'submit', 'button', 'reset', 'image'].includes(field.type))
    .filter(field => !Array.from(field.labels || []).some(label => label.textContent.trim()))
    .map(field => field.outerHTML.slice(0, 160))"""


def look(site: Site, page: Page, step: str) -> None:
    """A step's page: every field labelled, no sideways scrolling on a phone, and a screenshot for a human eye."""
    page.wait_for_load_state()
    site.shot(page, step)  # first, so a page that fails below can be looked at
    assert page.evaluate(_UNLABELLED) == [], f"{step}: fields without a label"
    if site.viewport["width"] < 600:
        wide = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert wide[0] <= wide[1], f"{step}: the page is {wide[0]} px wide on a {wide[1]} px screen"


def tab_to(page: Page, selector: str, presses: int = 120) -> None:
    """Press Tab until the focus is on an element `selector` matches, as a keyboard user would."""
    target = page.locator(selector)
    for _ in range(presses):
        if target.evaluate_all("found => found.includes(document.activeElement)"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")
