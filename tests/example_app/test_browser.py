"""The whole loop in a real browser: summarize, rate to the threshold, optimize, activate, see it.

Headless Debian Chromium (``/usr/bin/chromium``, installed by ``scripts/browser.sh``) driven by
Playwright against the real example app and the real CT server. A screenshot of the final page
is saved under ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from example_app.samples import SAMPLE_TICKETS
from tests.example_app.conftest import DEMO_THRESHOLD, RunningApp

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
JOB_DEADLINE_MS = 150_000
STEP_DEADLINE_MS = 15_000

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(
        "Debian Chromium is not installed at /usr/bin/chromium (scripts/browser.sh installs it)",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            yield context.new_page()
        finally:
            browser.close()


def summarize(page: Page, ticket: str, version: int) -> str:
    """Submit ``ticket`` and wait until the result of prompt version ``version`` shows."""
    page.fill("#ticket", ticket)
    with page.expect_response("**/api/summarize") as response:
        page.click("#summarize")
    assert response.value.status == 200
    expect(page.locator("#summarize")).to_be_enabled()  # re-enabled once the result is shown
    expect(page.locator("#prompt-version")).to_have_text(f"v{version}", timeout=STEP_DEADLINE_MS)
    summary = page.locator("#summary").inner_text()
    assert summary.strip(), "the page shows an empty summary"
    return summary


def test_rating_to_threshold_optimizes_and_serves_the_new_version(
    example_app: RunningApp, page: Page
) -> None:
    refused: list[str] = []  # what the page's Content-Security-Policy blocked, if anything
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto(example_app.url)
    task_name = example_app.seeded.task.name
    expect(page.locator("#task-name")).to_have_text(task_name)
    expect(page.locator("#llm-label")).to_contain_text("Stand-in LLM")
    expect(page.locator("#feedback-progress")).to_have_text(f"0/{DEMO_THRESHOLD}")

    # With the untuned first prompt the stand-in's style varies by ticket; the user likes the
    # bullet-point summaries and dislikes the verbatim one.
    ratings = [("API outage", "up"), ("Login loop", "down"), ("Export feature", "up")]
    assert len(ratings) == DEMO_THRESHOLD
    login_ticket = next(s.ticket for s in SAMPLE_TICKETS if s.title == "Login loop")
    before = ""
    for title, rating in ratings:
        page.get_by_role("button", name=title).click()
        summary = summarize(page, page.input_value("#ticket"), version=1)
        assert summary.startswith("- ") == (rating == "up"), summary
        if title == "Login loop":
            before = summary
        page.fill("#comment", f"{rating}: {title}")
        page.click(f"#rate-{rating}")
        expect(page.locator("#rating-status")).to_contain_text("Thanks", timeout=STEP_DEADLINE_MS)
        expect(page.locator(f"#rate-{rating}")).to_be_disabled()

    # The threshold starts a job on the CT server; the page polls and shows it finishing.
    finished = page.locator('li.job[data-status="SUCCESS"]')
    expect(finished).to_be_visible(timeout=JOB_DEADLINE_MS)
    expect(finished).to_contain_text("new version v2")
    activate = page.locator("button.activate[data-version='2']")
    expect(activate).to_be_visible(timeout=STEP_DEADLINE_MS)
    activate.click()
    expect(page.locator("#versions tr.active td").first).to_have_text(
        "v2", timeout=STEP_DEADLINE_MS
    )

    after = summarize(page, login_ticket, version=2)
    assert after != before, "the new prompt version did not change the output"
    assert after.startswith("- Since this morning I cannot log in"), after  # the liked style
    assert after.endswith("(following 2 rated examples)"), after
    assert refused == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "example_app_loop.png"), full_page=True)
