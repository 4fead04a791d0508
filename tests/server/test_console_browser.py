"""The console in headless Chromium on a seeded CT server: sign in, walk every page, decide.

The server holds tasks, versions, feedback with HTML in its comment, a trace, and three real
jobs (improved, failed, PR preview; tests/support/console_seed.py). The browser may reach
only the server; every body it received is searched for another host.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.optimization.job_helpers import create_task, git, post_feedback
from tests.support.console_browser import (
    CHROMIUM,
    ConsoleBrowser,
    console_browser,
    console_pages,
    sign_in,
)
from tests.support.console_seed import HOSTILE_COMMENT, SeededConsole, seeded_console

if not CHROMIUM.exists():
    pytest.skip(
        "Debian Chromium is not installed at /usr/bin/chromium (scripts/browser.sh installs it)",
        allow_module_level=True,
    )

from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededConsole]:
    with seeded_console(tmp_path_factory.mktemp("console")) as seeded:
        yield seeded


@pytest.fixture
def browser(seed: SeededConsole) -> Iterator[ConsoleBrowser]:
    with console_browser(seed.server.base_url) as opened:
        sign_in(opened, seed.server.api_key)
        yield opened
        assert opened.refused == []
        assert opened.foreign_references == []
        assert opened.errors == []


def _active_version(seed: SeededConsole, task: dict[str, object]) -> int:
    with seed.server.client() as api:
        number: int = api.get(f"/api/v1/prompts/{task['id']}").json()["version_number"]
    return number


def test_every_page_shows_what_the_api_holds_from_the_server_alone(
    seed: SeededConsole, browser: ConsoleBrowser
) -> None:
    page, base, pages = browser.page, seed.server.base_url, console_pages(seed)
    improved, evaluation = seed.improved_task["name"], seed.improved_job["job_metadata"]
    with seed.server.client() as api:
        draft = api.get(f"/api/v1/prompts/{improved}/versions").json()[0]

    page.goto(base + pages["tasks"])
    row = page.locator("tr", has_text=improved)
    expect(row).to_contain_text("0/1000")
    expect(row).to_contain_text("v1 · not evaluated")
    expect(row.locator(".badge")).to_have_text("SUCCESS")
    expect(page.locator("tr", has_text=seed.failed_task["name"]).locator(".badge")).to_have_text(
        "FAILURE"
    )

    page.goto(base + pages["task"])
    review = page.locator("section.draft")
    expect(review).to_contain_text(f"score {draft['eval_score']:.2f}")
    expect(review).to_contain_text(f"active prompt's {draft['baseline_score']:.2f}")
    examples = evaluation["evaluation"]["examples"]
    expect(review.locator("table.before-after tbody tr")).to_have_count(len(examples))
    expect(page.locator(".versions tbody tr").last).to_contain_text("not evaluated")
    expect(page.locator(".versions tbody tr").last).to_contain_text(
        f"{draft['baseline_score']:.2f} as the baseline of v2"
    )
    expect(page.locator("figure.chart circle")).to_have_count(1)  # only v2 was measured

    page.goto(base + pages["diff"])
    expect(page.locator("ins").first).to_be_visible()
    assert "### Examples" in " ".join(page.locator("ins").all_inner_texts())

    page.goto(base + pages["feedback"])
    expect(page.get_by_text(HOSTILE_COMMENT)).to_be_visible()  # as text: no element made
    assert page.locator("img").count() == 0
    page.get_by_label("to", exact=True).first.fill("0.3")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.records tbody tr")).to_have_count(1)
    page.locator("table.records tbody tr a").click()  # to the rated trace
    expect(page.locator("h1")).to_have_text(f"Trace {seed.trace['id'][:8]}")
    expect(page.get_by_text("<script>alert(1)</script>").first).to_be_visible()
    expect(page.locator("blockquote.comment")).to_have_text(HOSTILE_COMMENT)

    page.goto(base + pages["traces"])
    expect(page.locator("table.records tbody tr")).to_have_count(1)

    page.goto(base + pages["job-failed"])
    expect(page.locator("p.error")).to_contain_text(seed.failed_job["error_message"])
    page.goto(base + pages["job-improved"])
    metadata = seed.improved_job["job_metadata"]
    expect(page.locator(".facts")).to_contain_text(
        f"{metadata['cost_estimate']['estimated_llm_calls']} calls"
    )
    expect(page.locator(".facts")).to_contain_text(
        f"actual 0.0000 USD / {metadata['actual_llm_calls']} calls"
    )
    expect(page.locator("ol.log li").first).to_contain_text("preparing the dataset")
    page.goto(base + pages["job-preview"])
    expect(page.locator(".facts")).to_contain_text("proposed, awaiting approval")

    page.goto(base + pages["keys"])
    expect(page.locator("tbody tr").first).to_contain_text("active")
    assert browser.responses_read >= len(pages)

    for name, path in pages.items():  # a phone's width: nothing scrolls sideways
        page.set_viewport_size({"width": 420, "height": 800})
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 420, f"{name} is {width} px wide"


def test_activate_the_draft_then_roll_back(seed: SeededConsole, browser: ConsoleBrowser) -> None:
    page, base = browser.page, seed.server.base_url
    task_page = base + console_pages(seed)["task"]
    page.goto(task_page)
    page.locator("section.draft").get_by_role("link", name="Activate").click()
    expect(page.locator("h1")).to_contain_text("Activate v2")
    assert _active_version(seed, seed.improved_task) == 1  # nothing happens before confirming
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url(re.compile(r".*/console/tasks/[^/]+$"))
    assert _active_version(seed, seed.improved_task) == 2
    expect(page.locator(".versions tbody tr").first.locator(".badge")).to_have_text("active")

    page.get_by_role("link", name="Roll back to v1").first.click()
    page.get_by_role("button", name="Roll back to").click()
    page.wait_for_url(re.compile(r".*/console/tasks/[^/]+$"))
    assert _active_version(seed, seed.improved_task) == 1


def test_a_pull_request_preview_is_approved_from_the_job_page(
    seed: SeededConsole, browser: ConsoleBrowser
) -> None:
    page, base = browser.page, seed.server.base_url
    page.goto(base + console_pages(seed)["job-preview"])
    page.get_by_role("link", name="Create PR").click()
    page.get_by_role("button", name="Create the pull request").click()
    expect(page.locator(".facts")).not_to_contain_text("awaiting approval")
    with seed.server.client() as api:
        job = api.get(f"/api/v1/jobs/{seed.preview_job['id']}").json()
    assert job["pr_url"]
    expect(page.locator(".facts")).to_contain_text(job["pr_url"])
    branches = git(seed.repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    assert len(branches) == 2, branches  # main and the proposal's branch


def test_a_running_job_updates_live_to_its_verdict(
    seed: SeededConsole, browser: ConsoleBrowser
) -> None:
    page, base = browser.page, seed.server.base_url
    with seed.server.client() as api:
        task = create_task(
            api,
            teacher_model="fake-teacher",
            feedback_threshold=1000,
            evaluator_config={"api_base": seed.slow_lm.api_base},
        )
        post_feedback(api, task["id"], 12)
        started = api.post(f"/api/v1/optimize/{task['id']}")
        assert started.status_code == 200, started.text
        job_id = started.json()["job"]["id"]
        page.goto(f"{base}/console/jobs/{job_id}")
        live = page.locator("#job-live")
        assert live.get_attribute("data-live-done") == "false", "the job ended before the page"
        # console.js polls the fragment and reloads the page once the job ends.
        expect(page.locator("#job-live .badge").first).to_have_text("SUCCESS", timeout=60_000)
        expect(live).to_have_attribute("data-live-done", "true")
        final = api.get(f"/api/v1/jobs/{job_id}").json()
    expect(page.locator(".facts")).to_contain_text(final["result"])
    expect(page.locator("table.before-after tbody tr")).to_have_count(
        len(final["job_metadata"]["evaluation"]["examples"])
    )


def test_a_key_is_shown_once_works_and_stops_working_when_revoked(
    seed: SeededConsole, browser: ConsoleBrowser
) -> None:
    page, base = browser.page, seed.server.base_url
    page.goto(base + "/console/keys")
    page.get_by_label("Name").fill("console-made")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key").inner_text().strip()
    with seed.server.client() as api:
        assert api.get("/api/v1/tasks", headers={"X-API-Key": secret}).status_code == 200
        page.goto(base + "/console/keys")
        assert secret not in page.content()
        page.locator("tr", has_text="console-made").get_by_role("link", name="Revoke").click()
        page.get_by_role("button", name="Revoke").click()
        expect(page.locator("tr", has_text="console-made")).to_contain_text("revoked")
        # A verified key is trusted for api_key_cache_seconds (2 s) on each replica.
        deadline = time.monotonic() + 10
        while api.get("/api/v1/tasks", headers={"X-API-Key": secret}).status_code != 401:
            assert time.monotonic() < deadline, "the revoked key still works after 10 s"
            time.sleep(0.1)


def test_a_draft_is_rolled_out_then_promoted(seed: SeededConsole, browser: ConsoleBrowser) -> None:
    page, base = browser.page, seed.server.base_url
    with seed.server.client() as api:
        task = create_task(api)
        for text, activate in (("Summarize.", True), ("Summarize in one line.", False)):
            made = api.post(
                f"/api/v1/prompts/{task['id']}/versions",
                json={"prompt_text": text, "activate": activate},
            )
            assert made.status_code == 201, made.text
    page.goto(f"{base}/console/tasks/{task['name']}")
    page.locator("section.draft").get_by_role("link", name="Roll out to a share").click()
    expect(page.locator("h1")).to_contain_text("Roll out v2")
    page.get_by_label("Share of requests, %").fill("25")
    page.get_by_role("button", name="Start the rollout").click()
    page.wait_for_url(re.compile(r".*/console/tasks/[^/]+$"))
    running = page.locator("table.rollouts tbody tr").first
    expect(running).to_contain_text("v2 vs v1")
    expect(running).to_contain_text("25.0 %")
    expect(running).to_contain_text("running")
    expect(page.locator("section.draft").get_by_role("link", name="Roll out")).to_have_count(0)

    running.get_by_role("link", name="Promote").click()
    expect(page.locator("h1")).to_contain_text("Promote the rollout of v2 (against v1)")
    assert _active_version(seed, task) == 1  # nothing happens before confirming
    page.get_by_role("button", name="Promote").click()
    page.wait_for_url(re.compile(r".*/console/tasks/[^/]+$"))
    assert _active_version(seed, task) == 2
    expect(page.locator("table.rollouts tbody tr").first).to_contain_text("promoted")
