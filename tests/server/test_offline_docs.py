"""``/docs`` and ``/redoc`` work offline: the real server serves the pages and every file they load.

The HTTP test reads each page and fetches everything it references from the server itself; the
browser test renders both pages in headless Chromium with every request off loopback refused,
and checks that Swagger UI lists the operations and ReDoc shows them, with no CSP violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from kaizen_server.http.offline_docs import ASSET_FILES, ASSETS_PATH
from tests.support.ct_server import CTServerProcess
from tests.support.doctests import assert_examples_pass

CHROMIUM = Path("/usr/bin/chromium")
RENDER_DEADLINE_MS = 30_000
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class _References(HTMLParser):
    """Every ``src`` and ``href`` of a page, plus the ``spec-url`` of ReDoc's element."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.urls.append(value)


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/"])
def test_docs_pages_and_all_they_load_come_from_the_server(
    ct_server: CTServerProcess, page: str
) -> None:
    with ct_server.client() as client:
        response = client.get(page)
        assert response.status_code == 200, response.text
        html = response.text
        assert not re.search(r"(https?:)?//[a-z0-9]", html, re.IGNORECASE), html
        policy = response.headers["content-security-policy"]
        script_src = next(part for part in policy.split(";") if "script-src" in part)
        assert "'self'" in script_src
        assert "unsafe-inline" not in script_src
        # Each inline script is allowed by its hash (Swagger UI has one, ReDoc none).
        inline_scripts = re.findall(r"<script>", html)
        assert script_src.count("'sha256-") == len(inline_scripts)
        references = _references(html)
        assets = [url for url in references if url.startswith(ASSETS_PATH)]
        assert len(assets) >= 2, references
        for url in references:
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc) == ("", ""), url
            fetched = client.get(url)
            assert fetched.status_code == 200, (url, fetched.status_code)
            assert fetched.content, url
            suffix = Path(parts.path).suffix
            if suffix in CONTENT_TYPES:
                assert CONTENT_TYPES[suffix] in fetched.headers["content-type"], url


def test_every_shipped_asset_is_served(ct_server: CTServerProcess) -> None:
    with ct_server.client() as client:
        for name in ASSET_FILES:
            response = client.get(f"{ASSETS_PATH}/{name}")
            assert response.status_code == 200, name
            assert len(response.content) > 1000, name
        assert client.get(f"{ASSETS_PATH}/../app.py").status_code == 404
        assert client.get(f"{ASSETS_PATH}/no-such-file.js").status_code == 404


@pytest.fixture
def browser_page(ct_server: CTServerProcess) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A Chromium page whose requests off the server are refused; yields (page, refused
    requests, console errors)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian Chromium is not installed at /usr/bin/chromium (scripts/browser.sh)")
    own_origin = urlsplit(ct_server.base_url).netloc
    refused: list[str] = []
    errors: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == own_origin:
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_loopback)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page, refused, errors
        finally:
            browser.close()


@pytest.mark.browser
def test_swagger_ui_and_redoc_render_with_the_network_limited_to_the_server(
    ct_server: CTServerProcess, browser_page: tuple[Page, list[str], list[str]]
) -> None:
    page, refused, errors = browser_page
    page.goto(f"{ct_server.base_url}/docs")
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible(timeout=RENDER_DEADLINE_MS)
    paths = operations.all_inner_texts()
    assert any(text.replace("\u200b", "") == "/api/v1/tasks" for text in paths), paths
    assert page.locator(".opblock").count() >= 10

    page.goto(f"{ct_server.base_url}/redoc")
    expect(page.locator("[data-section-id^='operation/']").first).to_be_attached(
        timeout=RENDER_DEADLINE_MS
    )
    expect(page.get_by_text("Kaizen CT server").first).to_be_visible()

    assert refused == []
    # ReDoc's sidebar credit tries a logo from its CDN; the page's own policy blocks it before
    # any request is made (the image then hides itself). Nothing else may fail.
    unexpected = [e for e in errors if not ("cdn.redoc.ly" in e and "Content Security" in e)]
    assert unexpected == []


def test_docstring_examples_of_the_docs_module() -> None:
    assert_examples_pass("kaizen_server.http.offline_docs")
