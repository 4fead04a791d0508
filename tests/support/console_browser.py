"""Headless Chromium on the console: a browser context that may reach only the CT server,
signing in, and the list of the console's pages on a seeded server.

Used by tests/server/test_console_browser.py and ``python -m bench.console_screenshots``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from playwright.sync_api import BrowserContext, Page, Response, Route, sync_playwright

from tests.support.console_seed import SeededConsole

__all__ = ["CHROMIUM", "ConsoleBrowser", "console_browser", "console_pages", "sign_in"]

CHROMIUM = Path("/usr/bin/chromium")

_URL = re.compile(rb"""(?:https?://|["'(=]//)([A-Za-z0-9.\-\[\]:]+)""")
"""An absolute or protocol-relative reference to a host (as a page or a style would load it)."""


@dataclass
class ConsoleBrowser:
    """A browser context limited to the server, and what it saw."""

    context: BrowserContext
    page: Page
    base_url: str
    refused: list[str] = field(default_factory=list)
    """Requests to any other host (aborted)."""
    errors: list[str] = field(default_factory=list)
    """Console errors and uncaught page errors."""
    foreign_references: list[str] = field(default_factory=list)
    """``host (url)`` of every other host named in a body the server sent."""
    responses_read: int = 0

    def read(self, response: Response) -> None:
        """Look for other hosts in the body of ``response`` (redirects have none)."""
        if 300 <= response.status < 400:
            return
        own = urlsplit(self.base_url).netloc
        self.responses_read += 1
        for match in _URL.finditer(response.body()):
            host = match.group(1).decode()
            if host != own and not host.startswith("www.w3.org"):
                self.foreign_references.append(f"{host} ({response.url})")


@contextlib.contextmanager
def console_browser(base_url: str, *, width: int = 1280) -> Iterator[ConsoleBrowser]:
    """A Chromium page whose requests off ``base_url``'s host are refused and recorded."""
    own = urlsplit(base_url).netloc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(viewport={"width": width, "height": 900})
            watched = ConsoleBrowser(context, context.new_page(), base_url)

            def only_the_server(route: Route) -> None:
                url = route.request.url
                if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == own:
                    route.continue_()
                else:
                    watched.refused.append(url)
                    route.abort()

            context.route("**/*", only_the_server)
            page = watched.page
            page.on(
                "console", lambda m: watched.errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
            page.on("response", watched.read)
            yield watched
        finally:
            browser.close()


def sign_in(browser: ConsoleBrowser, api_key: str, path: str = "/console") -> None:
    """Sign in through the form (from ``path``: the console redirects there afterwards)."""
    page = browser.page
    page.goto(f"{browser.base_url}{path}")
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path}")


def console_pages(seed: SeededConsole) -> dict[str, str]:
    """Every page of the console on the seeded server: name -> path."""
    improved = seed.improved_task["name"]
    return {
        "tasks": "/console",
        "task": f"/console/tasks/{quote(improved)}",
        "diff": f"/console/tasks/{quote(improved)}/diff?old=1&new=2",
        "feedback": f"/console/feedback?task={quote(improved)}",
        "traces": "/console/traces",
        "trace": f"/console/traces/{seed.trace['id']}",
        "jobs": "/console/jobs",
        "job-improved": f"/console/jobs/{seed.improved_job['id']}",
        "job-failed": f"/console/jobs/{seed.failed_job['id']}",
        "job-preview": f"/console/jobs/{seed.preview_job['id']}",
        "keys": "/console/keys",
    }
