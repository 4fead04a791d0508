"""The example app's endpoints against the real CT server: traces, feedback, bad input."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.adapters import ChatAdapter

from example_app.seed_demo import FIRST_PROMPT
from example_app.stand_in import stand_in_summary
from tests.example_app.app_process import running_example_app, seed
from tests.example_app.conftest import RunningApp
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_get, loopback_post

TICKET = "Hello, the export button does nothing since the update. Please fix. Thanks, Ana"


def eventually(
    fetch: Callable[[], Any], until: Callable[[Any], bool], deadline_s: float = 10.0
) -> Any:
    """Call ``fetch`` until ``until(result)`` holds (deadline), return the last result."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = fetch()
        if until(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_summarize_serves_the_active_prompt_and_records_a_trace(example_app: RunningApp) -> None:
    response = loopback_post(f"{example_app.url}/api/summarize", json={"ticket": TICKET})
    assert response.status_code == 200
    assert response.headers["X-Kaizen-Prompt-Version"] == "1"
    body = response.json()
    assert body["prompt_version"] == 1
    assert body["prompt_version_id"] == example_app.seeded.prompt.id
    assert body["prompt_is_fallback"] is False
    assert body["summary"] == stand_in_summary(FIRST_PROMPT, TICKET)
    assert body["llm"].startswith("Stand-in LLM")

    with example_app.ct_server.client() as ct:
        trace = eventually(
            lambda: ct.get(f"/api/v1/traces/{body['trace_id']}"), lambda r: r.status_code == 200
        )
        assert trace.status_code == 200, trace.text
        stored = trace.json()
    assert stored["inputs"] == {"ticket": TICKET}
    assert stored["response_text"] == body["summary"]
    assert stored["prompt_version_id"] == example_app.seeded.prompt.id


def test_rating_through_the_mounted_endpoint_reaches_the_ct_server(
    example_app: RunningApp,
) -> None:
    def status() -> dict[str, Any]:
        data: dict[str, Any] = loopback_get(f"{example_app.url}/api/status").json()
        return data

    count = status()["task"]["feedback_count"]
    result = loopback_post(f"{example_app.url}/api/summarize", json={"ticket": TICKET}).json()
    rated = loopback_post(
        f"{example_app.url}/kaizen/feedback",
        json={
            "token": result["feedback_token"],
            "rating": "down",
            "comment": "misses the version number",
        },
    )
    assert rated.status_code == 202
    again = loopback_post(
        f"{example_app.url}/kaizen/feedback",
        json={"token": result["feedback_token"], "rating": "up"},
    )
    assert again.status_code == 409  # one rating per result

    final = eventually(status, lambda s: s["task"]["feedback_count"] == count + 1)
    assert final["task"]["feedback_count"] == count + 1
    assert final["task"]["threshold_progress"] == f"{count + 1}/3"


@pytest.mark.parametrize(
    "body",
    [
        {"ticket": ""},
        {"ticket": "x" * 8001},
        {"text": TICKET},
        {"ticket": TICKET, "extra": 1},
        {"ticket": 42},
        {"ticket": "My order \x00 never came"},
    ],
)
def test_bad_tickets_get_a_clear_422(example_app: RunningApp, body: dict[str, Any]) -> None:
    response = loopback_post(f"{example_app.url}/api/summarize", json=body)
    assert response.status_code == 422
    assert "ticket" in response.text or "extra" in response.text
    assert "feedback_token" not in response.text


def test_a_ticket_with_a_lone_surrogate_is_422_without_a_token(example_app: RunningApp) -> None:
    response = loopback_post(
        f"{example_app.url}/api/summarize",
        content=b'{"ticket": "broken \\ud800 text"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "body.ticket" in response.json()["detail"]
    assert "feedback_token" not in response.text


def test_activating_an_unknown_version_is_a_4xx_problem(example_app: RunningApp) -> None:
    response = loopback_post(f"{example_app.url}/api/versions/{uuid.uuid4()}/activate")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not found on the CT server"


def test_the_page_and_its_config_never_carry_the_api_key(example_app: RunningApp) -> None:
    key = example_app.ct_server.api_key
    for path in ("/", "/static/app.js", "/api/config", "/api/status"):
        response = loopback_get(f"{example_app.url}{path}")
        assert response.status_code == 200, path
        assert key not in response.text, path
    config = loopback_get(f"{example_app.url}/api/config").json()
    assert config["feedback_url"] == "/kaizen/feedback"
    assert config["task_name"] == example_app.seeded.task.name


def test_admin_actions_can_be_switched_off(ct_server: CTServerProcess, tmp_path: Path) -> None:
    task_name = f"summarize_locked_{uuid.uuid4().hex[:8]}"
    seeded = seed(ct_server, task_name, threshold=3)
    with running_example_app(
        ct_server, task_name, tmp_path, {"EXAMPLE_ALLOW_ACTIVATION": "false"}
    ) as url:
        assert loopback_get(f"{url}/api/config").json()["allow_activation"] is False
        activate = loopback_post(f"{url}/api/versions/{seeded.prompt.id}/activate")
        optimize = loopback_post(f"{url}/api/optimize")
    assert activate.status_code == 403
    assert optimize.status_code == 403
    assert activate.json()["title"] == "Admin actions disabled"
    assert "EXAMPLE_ALLOW_ACTIVATION" in optimize.json()["detail"]


def test_seeding_twice_creates_nothing_new(example_app: RunningApp) -> None:
    again = seed(example_app.ct_server, example_app.seeded.task.name, threshold=9)
    assert (again.created_task, again.created_prompt) == (False, False)
    assert again.task.id == example_app.seeded.task.id
    assert again.task.feedback_threshold == 3
    assert again.prompt.id == example_app.seeded.prompt.id


def test_a_ct_server_outage_degrades_gracefully(
    isolated_ct_server: CTServerProcess, tmp_path: Path
) -> None:
    """Summaries keep coming (cached prompt); the status view says 503, not 500."""
    task_name = f"summarize_outage_{uuid.uuid4().hex[:8]}"
    seed(isolated_ct_server, task_name, threshold=3)
    quick_exit = {"KAIZEN_SHUTDOWN_FLUSH_TIMEOUT": "0.5"}  # the last trace cannot be delivered
    with running_example_app(isolated_ct_server, task_name, tmp_path, quick_exit) as url:
        assert loopback_post(f"{url}/api/summarize", json={"ticket": TICKET}).status_code == 200
        isolated_ct_server.stop()
        served = loopback_post(f"{url}/api/summarize", json={"ticket": TICKET}, timeout=30)
        status = loopback_get(f"{url}/api/status", timeout=60)
    assert served.status_code == 200
    assert served.json()["prompt_version"] == 1
    assert status.status_code == 503
    assert status.json()["title"] == "CT server unreachable"


def test_with_the_ct_server_down_from_the_start_the_fallback_prompt_serves(
    tmp_path: Path,
) -> None:
    never_started = CTServerProcess(database_url="sqlite+aiosqlite://", workdir=tmp_path)
    quick = {"KAIZEN_SHUTDOWN_FLUSH_TIMEOUT": "0.5", "KAIZEN_WARM_TIMEOUT": "0.5"}
    with running_example_app(never_started, "summarize_down", tmp_path, quick) as url:
        response = loopback_post(f"{url}/api/summarize", json={"ticket": TICKET}, timeout=30)
    assert response.status_code == 200
    assert response.headers["X-Kaizen-Prompt-Version"] == "fallback"
    body = response.json()
    assert body["prompt_is_fallback"] is True
    assert body["prompt_version"] is None
    assert body["feedback_token"]  # the rating is queued until the server is back


def test_the_stand_in_endpoint_answers_plain_and_dspy_conversations(
    example_app: RunningApp,
) -> None:
    url = f"{example_app.url}/stand-in/v1/chat/completions"
    plain = loopback_post(
        url,
        json={
            "messages": [
                {"role": "system", "content": "Be concise."},
                {"role": "user", "content": TICKET},
            ]
        },
    )
    assert plain.status_code == 200, plain.text
    assert plain.json()["choices"][0]["message"]["content"] == stand_in_summary(
        "Be concise.", TICKET
    )

    signature = dspy.Signature("ticket -> output", "Summarize the ticket.")
    demo = dspy.Example(
        ticket="Hi, A is down. B fails too. Thanks", output="- A is down.\n- B fails too."
    )
    adapter = ChatAdapter()
    messages = adapter.format(signature, demos=[demo], inputs={"ticket": TICKET})
    answered = loopback_post(url, json={"model": "stand-in", "messages": messages})
    assert answered.status_code == 200, answered.text
    content = answered.json()["choices"][0]["message"]["content"]
    parsed = adapter.parse(signature, content)
    expected = stand_in_summary(
        "Summarize the ticket.\n\nTicket: Hi, A is down. B fails too. Thanks\n"
        "Summary: - A is down.\n- B fails too.",
        TICKET,
    )
    assert parsed["output"] == expected
    assert expected.startswith("- The export button does nothing")  # the demo's style

    for body in ({"messages": []}, {"messages": [{"role": "robot", "content": "x"}]}, {}):
        bad = loopback_post(url, json=body)
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert "messages" in bad.text
