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
from tests.example_app.app_process import running_example_app, seed
from tests.example_app.conftest import DEMO_THRESHOLD, RunningApp
from tests.support.ct_server import running_ct_server
from tests.support.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
JOB_DEADLINE_MS = 150_000
STEP_DEADLINE_MS = 15_000
PHONE_WIDTH = 420

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


def assert_no_horizontal_scroll(page: Page) -> None:
    """Nothing on the page is wider than the viewport."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width} px wide in a {width} px viewport"


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

    # The last rating reaches the threshold: the bar shows it full before the job has run.
    expect(page.locator("#feedback-progress")).to_have_text(f"{DEMO_THRESHOLD}/{DEMO_THRESHOLD}")
    expect(page.locator("#feedback-note")).to_contain_text("Threshold reached")
    assert page.locator("#feedback-bar").evaluate("bar => bar.style.width") == "100%"

    # The threshold starts a job on the CT server; the page polls and shows it finishing.
    finished = page.locator('li.job[data-status="SUCCESS"]')
    expect(finished).to_be_visible(timeout=JOB_DEADLINE_MS)
    expect(page.locator("#feedback-progress")).to_have_text(f"0/{DEMO_THRESHOLD}")
    expect(page.locator("#feedback-note")).to_have_text("")
    expect(finished).to_contain_text("→ v2 · not evaluated")
    expect(page.locator("#versions tr[data-version='2'] td.score")).to_have_text("not evaluated")
    activate = page.locator("button.activate[data-version='2']")
    expect(activate).to_be_visible(timeout=STEP_DEADLINE_MS)
    activate.click()
    expect(page.locator("#versions tr.active td").first).to_have_text(
        "v2", timeout=STEP_DEADLINE_MS
    )

    after = summarize(page, login_ticket, version=2)
    assert after != before, "the new prompt version did not change the output"
    assert after.startswith("- Since this morning I cannot log in"), after  # the liked style
    assert all(line.startswith("- ") for line in after.splitlines()), after  # nothing else

    # Rollback: v1, archived when v2 became active, is made active again from the page.
    expect(page.locator("button.activate")).to_have_count(0)
    rollback = page.locator("button.rollback[data-version='1']")
    expect(rollback).to_have_text("Roll back to v1")
    rollback.click()
    expect(page.locator("#versions tr.active td").first).to_have_text(
        "v1", timeout=STEP_DEADLINE_MS
    )
    expect(page.locator("button.rollback[data-version='2']")).to_be_visible()
    assert summarize(page, login_ticket, version=1) == before
    assert refused == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "example_app_loop.png"), full_page=True)


@pytest.fixture
def measuring_app(tmp_path: Path) -> Iterator[RunningApp]:
    """The demo's set-up: the CT server's jobs measure prompts with the stand-in LLM that the
    example app serves at ``/stand-in/v1`` (the app's port is chosen first)."""
    app_port = free_port()
    env = {
        "KAIZEN_LLM_API_BASE": f"http://127.0.0.1:{app_port}/stand-in/v1",
        "KAIZEN_DEFAULT_TEACHER_MODEL": "stand-in",
        "KAIZEN_LLM_NUM_RETRIES": "0",
    }
    with running_ct_server(f"sqlite+aiosqlite:///{tmp_path / 'kaizen.db'}", tmp_path, env) as ct:
        seeded = seed(ct, "summarize_ticket", 8)
        with running_example_app(ct, "summarize_ticket", tmp_path, port=app_port) as url:
            yield RunningApp(url, seeded, ct)


def test_an_evaluated_job_shows_both_scores_and_the_before_after(
    measuring_app: RunningApp, page: Page
) -> None:
    page.goto(measuring_app.url)
    expect(page.locator("#feedback-progress")).to_have_text("0/8")
    tickets = [s.ticket for s in SAMPLE_TICKETS] + [
        f"Hello, order {n} arrived damaged and the box was open. Please send another. Bye, C{n}"
        for n in range(30)
    ]
    ups = downs = 0
    for ticket in tickets:  # like bullet points (5), dislike 3 summaries of other styles
        summary = summarize(page, ticket, version=1)
        rating = "up" if summary.startswith("- ") else "down"
        if (rating == "up" and ups == 5) or (rating == "down" and downs == 3):
            continue
        ups, downs = ups + (rating == "up"), downs + (rating == "down")
        page.click(f"#rate-{rating}")
        expect(page.locator("#rating-status")).to_contain_text("Thanks", timeout=STEP_DEADLINE_MS)
        if ups + downs == 8:
            break
    assert (ups, downs) == (5, 3)

    finished = page.locator('li.job[data-status="SUCCESS"]')
    expect(finished).to_be_visible(timeout=JOB_DEADLINE_MS)
    expect(finished).to_have_attribute("data-result", "improved")
    expect(finished).to_contain_text("→ v2 · better than the active prompt")
    details = finished.locator("details.evaluation")
    details.locator("summary").click()
    # 5 liked: 3 train, 2 held out; the 3 disliked are held out too.
    expect(details.locator("tr.example")).to_have_count(5)
    assert details.locator("summary").inner_text().startswith("Before / after on 5 held-out")
    rows = details.locator("tr.example")
    disliked = [rows.nth(i) for i in range(5) if "avoid" in rows.nth(i).inner_text()]
    assert len(disliked) == 3
    for row in disliked:  # v1 reproduced each disliked summary; v2 writes bullet points
        cells = row.locator("td")
        assert cells.nth(3).inner_text() == "0.00"
        assert cells.nth(4).inner_text().startswith("- ")

    # v2's own score against v1's, both measured on the same held-out tickets.
    v2 = page.locator("#versions tr[data-version='2'] td.score").inner_text()
    v1 = page.locator("#versions tr[data-version='1'] td.score").inner_text()
    assert v1.endswith("(as baseline)"), v1
    v2_score, v1_score = float(v2.split()[0]), float(v1.split()[0])
    assert v2 == f"{v2_score:.2f} (vs {v1_score:.2f})"
    assert v2_score > v1_score
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "example_app_evaluated.png"), full_page=True)

    # The widest content (the open before/after table) fits a phone's screen.
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 900})
    assert_no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "example_app_evaluated_420px.png"), full_page=True)


@pytest.fixture
def queue_only_app(tmp_path: Path) -> Iterator[RunningApp]:
    """The example app on a CT server that queues jobs and never runs them (they stay
    PENDING)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'kaizen.db'}"
    with running_ct_server(url, tmp_path, {"KAIZEN_JOB_RUNNER": "none"}) as ct:
        seeded = seed(ct, "summarize_ticket", DEMO_THRESHOLD)
        with running_example_app(ct, "summarize_ticket", tmp_path) as app_url:
            yield RunningApp(app_url, seeded, ct)


def test_on_a_phone_the_rating_stays_shown_and_a_pending_job_explains_itself(
    queue_only_app: RunningApp, page: Page
) -> None:
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 900})
    page.goto(queue_only_app.url)
    expect(page.locator("#feedback-progress")).to_have_text(f"0/{DEMO_THRESHOLD}")
    assert_no_horizontal_scroll(page)
    for index, sample in enumerate(SAMPLE_TICKETS[:DEMO_THRESHOLD]):
        summarize(page, sample.ticket, version=1)
        assert_no_horizontal_scroll(page)
        rating = "up" if index % 2 == 0 else "down"
        page.click(f"#rate-{rating}")
        word = "Good" if rating == "up" else "Bad"
        expect(page.locator("#rating-status")).to_contain_text(f"You rated this summary {word}")
        chosen = page.locator(f"#rate-{rating}")
        expect(chosen).to_have_attribute("aria-pressed", "true")
        expect(chosen).to_have_class(f"chosen-{rating}")
        assert chosen.evaluate("b => getComputedStyle(b).opacity") == "1"
        other_id = "rate-down" if rating == "up" else "rate-up"
        other = page.locator(f"#{other_id}")
        expect(other).to_have_attribute("aria-pressed", "false")
        assert float(other.evaluate("b => getComputedStyle(b).opacity")) < 1

    pending = page.locator('li.job[data-status="PENDING"]')
    expect(pending).to_be_visible(timeout=STEP_DEADLINE_MS)
    expect(pending).to_contain_text("queued: the CT server starts it in a few seconds")
    expect(page.locator("#feedback-progress")).to_have_text(f"{DEMO_THRESHOLD}/{DEMO_THRESHOLD}")
    expect(page.locator("#feedback-note")).to_have_text(
        "Threshold reached: optimization job PENDING."
    )
    assert_no_horizontal_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "example_app_420px.png"), full_page=True)
