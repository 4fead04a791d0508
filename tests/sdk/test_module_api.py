"""The module-level SDK (``init``, ``trace``, ``flush``, ``get_prompt``) against the real CT
server: upstream's README as written, the sync forms, and every way a record can fail."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kaizen_sdk as kaizen
from kaizen_sdk import CTClient, CTDeliveryError, CTQueueFullError, CTValidationError
from kaizen_sdk.background import FailedDelivery
from tests.support.ct_server import CTServerProcess
from tests.support.json_server import LoopbackJSONServer
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def fresh_module_state() -> Iterator[None]:
    """Each test starts without a session or buffered calls, and leaves none behind."""
    kaizen.close_sync()
    kaizen.reset_buffer()
    yield
    kaizen.reset_buffer()
    kaizen.close_sync()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def get_json(server: CTServerProcess, path: str, **params: Any) -> Any:
    with server.client() as http:
        response = http.get(path, params=params)
        response.raise_for_status()
        return response.json()


async def summarize_chain(inputs: dict[str, str]) -> str:
    """Stands in for ``chain.ainvoke``: an async callable taking the inputs dict."""
    await asyncio.sleep(0)
    return f"[{inputs['priority']}] {inputs['ticket_text']}"


async def test_upstream_readme_quick_start_runs_unchanged(ct_server: CTServerProcess) -> None:
    task = unique("summarize_ticket")
    kaizen.init(
        api_key=ct_server.api_key,
        base_url=ct_server.base_url,
        git_provider="github",
        git_repo="your-org/your-repo",
        git_base_branch="main",
        git_token="ghp_never_sent",
        feedback_threshold=5,
        teacher_model="openai/gpt-4o",
        judge_model="openai/gpt-4o-mini",
    )
    result = await kaizen.trace(
        task, summarize_chain, {"ticket_text": "Server is down", "priority": "high"}
    )
    assert result == "[high] Server is down"
    assert kaizen.get_buffered_traces() == [
        {
            "task_name": task,
            "inputs": {"ticket_text": "Server is down", "priority": "high"},
            "output": "[high] Server is down",
        }
    ]

    results = await kaizen.flush(score=0.85)

    assert [(r["task"], r["status"]) for r in results] == [(task, "ok")]
    assert kaizen.get_buffered_traces() == []
    stored = get_json(ct_server, "/api/v1/feedback", task_id=task)
    assert [(f["id"], f["score"], f["output"]) for f in stored] == [
        (results[0]["id"], 0.85, "[high] Server is down")
    ]
    created = get_json(ct_server, f"/api/v1/tasks/{task}")
    assert (created["feedback_threshold"], created["teacher_model"], created["judge_model"]) == (
        5,
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
    )
    assert (created["github_repo"], created["github_base_branch"], created["mode"]) == (
        "your-org/your-repo",
        "main",
        "optimize_only",
    )
    assert "ghp_never_sent" not in str(created)

    assert await kaizen.get_prompt(task) is None  # no prompt version yet
    with ct_server.client() as http:
        http.post(
            f"/api/v1/prompts/{task}/versions",
            json={"prompt_text": "Summarize in one line:", "activate": True},
        ).raise_for_status()
    assert await kaizen.get_prompt(task) == "Summarize in one line:"
    await kaizen.close()


async def test_per_task_overrides_and_prompt_source_reach_the_server(
    ct_server: CTServerProcess,
) -> None:
    kaizen.init(api_key=ct_server.api_key, base_url=ct_server.base_url, feedback_threshold=50)
    task = unique("complex_analysis")
    await kaizen.trace(
        task,
        summarize_chain,
        {"ticket_text": "Disk full", "priority": "low"},
        feedback_threshold=20,
        teacher_model="openai/gpt-4o",
        prompt_file="src/prompts/analysis.py",
        prompt_locator="ANALYSIS_PROMPT",
    )
    await kaizen.flush(score=0.4)
    created = get_json(ct_server, f"/api/v1/tasks/{task}")
    assert (created["feedback_threshold"], created["teacher_model"]) == (20, "openai/gpt-4o")
    [feedback] = get_json(ct_server, "/api/v1/feedback", task_id=task)
    metadata = feedback["metadata"] or feedback.get("metadata_")
    assert metadata["prompt_file"] == "src/prompts/analysis.py"
    assert metadata["prompt_locator"] == "ANALYSIS_PROMPT"
    assert metadata["latency_ms"] >= 0


def test_sync_forms_decorator_and_with_block(ct_server: CTServerProcess) -> None:
    kaizen.init(api_key=ct_server.api_key, base_url=ct_server.base_url)
    task = unique("reply")

    @kaizen.trace(task)
    def reply(message: str, tone: str = "friendly") -> str:
        return f"({tone}) Thanks for: {message}"

    assert reply("the report") == "(friendly) Thanks for: the report"
    with kaizen.trace(task, inputs={"message": "a bug"}) as span:
        span.output = "Fixed."
    assert kaizen.trace_sync(task, lambda inputs: inputs["message"].upper(), {"message": "hi"})

    results = kaizen.flush_sync(score=1.0)

    assert [r["status"] for r in results] == ["ok", "ok", "ok"]
    stored = get_json(ct_server, "/api/v1/feedback", task_id=task)
    assert sorted(f["output"] for f in stored) == sorted(
        ["(friendly) Thanks for: the report", "Fixed.", "HI"]
    )
    inputs = [f["inputs"] for f in stored if f["output"].startswith("(friendly)")]
    assert inputs == [{"message": "the report", "tone": "friendly"}]
    assert kaizen.get_prompt_sync(task, fallback="Reply kindly:") == "Reply kindly:"


async def test_async_decorator_and_async_with(ct_server: CTServerProcess) -> None:
    kaizen.init(api_key=ct_server.api_key, base_url=ct_server.base_url)
    task = unique("classify")

    @kaizen.trace(task)
    async def classify(message: str) -> str:
        await asyncio.sleep(0)
        return "refund" if "money" in message else "other"

    assert await classify("money back please") == "refund"
    async with kaizen.trace(task, inputs={"message": "hello"}) as span:
        span.output = "other"
    results = await kaizen.flush(score=0.0)
    assert [r["status"] for r in results] == ["ok", "ok"]
    assert len(get_json(ct_server, "/api/v1/feedback", task_id=task)) == 2


def test_a_failing_call_is_not_buffered_and_its_error_propagates() -> None:
    def broken(inputs: dict[str, str]) -> str:
        raise RuntimeError("LLM provider error")

    with pytest.raises(RuntimeError, match="LLM provider error"):
        kaizen.trace_sync("t", broken, {"q": "x"})
    with pytest.raises(ZeroDivisionError), kaizen.trace("t", inputs={}) as span:
        span.output = 1 / 0
    assert kaizen.get_buffered_traces() == []


def test_bad_score_or_task_name_raises_and_keeps_the_buffer(ct_server: CTServerProcess) -> None:
    kaizen.init(api_key=ct_server.api_key, base_url=ct_server.base_url)
    kaizen.trace_sync(unique("kept"), str, {"q": "x"})
    for bad in (1.5, -0.1, float("nan"), "high", True):
        with pytest.raises(CTValidationError, match="score"):
            kaizen.flush_sync(score=bad)  # type: ignore[arg-type]
    assert len(kaizen.get_buffered_traces()) == 1
    with pytest.raises(CTValidationError, match="task_name"):
        kaizen.trace_sync("", str, {})
    assert [r["status"] for r in kaizen.flush_sync(score=0.5)] == ["ok"]


def test_each_context_has_its_own_buffer(ct_server: CTServerProcess) -> None:
    kaizen.init(api_key=ct_server.api_key, base_url=ct_server.base_url)
    task = unique("threads")
    seen: dict[str, list[dict[str, Any]]] = {}

    def request(name: str) -> None:
        kaizen.trace_sync(task, lambda inputs: inputs["who"], {"who": name})
        seen[name] = kaizen.flush_sync(score=1.0)

    threads = [threading.Thread(target=request, args=(n,)) for n in ("ada", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {name: len(results) for name, results in seen.items()} == {"ada": 1, "bob": 1}
    assert kaizen.get_buffered_traces() == []
    assert len(get_json(ct_server, "/api/v1/feedback", task_id=task)) == 2


def test_flush_without_anything_or_any_setup_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KAIZEN_API_KEY", raising=False)
    assert kaizen.flush_sync(score=1.0) == []
    assert asyncio.run(kaizen.flush()) == []
    kaizen.trace_sync("t", str, {"q": "x"})
    with pytest.raises(kaizen.CTError, match="init"):
        kaizen.flush_sync(score=1.0)
    assert len(kaizen.get_buffered_traces()) == 1  # nothing was sent, nothing dropped


def unreachable_client() -> CTClient:
    return CTClient(api_key="kz-test", base_url=f"http://127.0.0.1:{free_port()}", max_retries=0)


def test_server_down_flush_raises_with_every_failed_entry() -> None:
    client = unreachable_client()
    kaizen.init(client=client)
    kaizen.trace_sync("a", str, {"q": "1"})
    kaizen.trace_sync("b", str, {"q": "2"})
    with pytest.raises(CTDeliveryError) as raised:
        kaizen.flush_sync(score=1.0)
    assert [f.what.split(" for task ")[1] for f in raised.value.failures] == ["'a'", "'b'"]
    assert isinstance(raised.value.__cause__, kaizen.CTConnectionError)
    assert kaizen.flush_sync() == []  # each failure is raised once
    client.close()


async def test_server_down_with_on_error_reports_each_failure_and_flush_says_error() -> None:
    client = unreachable_client()
    reported: list[FailedDelivery] = []
    kaizen.init(client=client, on_error=reported.append)
    kaizen.trace_sync("a", str, {"q": "1"})
    results = await kaizen.flush(score=0.2)
    assert [(r["task"], r["status"]) for r in results] == [("a", "error")]
    assert "unreachable" in results[0]["detail"]
    [failure] = reported
    assert failure.what.startswith("feedback ")
    assert failure.what.endswith("for task 'a'")
    assert isinstance(failure.error, kaizen.CTConnectionError)
    assert kaizen.flush_sync() == []  # reported to on_error: flush does not raise it again
    client.close()


class GatedFeedbackServer:
    """A CT stand-in whose feedback answers wait until ``gate`` is set."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.arrived = threading.Event()
        self.server = LoopbackJSONServer(self.handle)

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if path.startswith("/api/v1/tasks/"):
            return 200, {"id": str(uuid.uuid4()), "name": path.rsplit("/", 1)[1]}
        self.arrived.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return 201, {"id": body["id"], "task_id": body["task_id"], "score": body["score"]}


def test_a_full_queue_refuses_and_keeps_what_was_not_queued() -> None:
    fake = GatedFeedbackServer()
    with fake.server:
        client = CTClient(api_key="kz-test", base_url=fake.server.base_url, max_retries=0)
        kaizen.init(client=client, max_queued=2)
        kaizen.trace_sync("t", str, {"q": "first"})
        assert kaizen.flush_sync(score=1.0, wait=False)[0]["status"] == "queued"
        assert fake.arrived.wait(10)  # the first entry is being sent, holding a slot
        for question in ("second", "third", "fourth"):
            kaizen.trace_sync("t", str, {"q": question})
        with pytest.raises(CTQueueFullError, match="not queued"):
            kaizen.flush_sync(score=1.0)
        # "second" took the last slot; the others stay buffered for a later flush
        assert [t["inputs"]["q"] for t in kaizen.get_buffered_traces()] == ["third", "fourth"]
        fake.gate.set()
        kaizen.flush_sync()
        assert [r["status"] for r in kaizen.flush_sync(score=1.0)] == ["ok", "ok"]
        kaizen.close_sync()
        client.close()


EXIT_SCRIPT = """
import sys
import kaizen_sdk as kaizen

kaizen.init(api_key=sys.argv[1], base_url=sys.argv[2])
kaizen.trace_sync(sys.argv[3], lambda inputs: "answer", {"q": "at exit"})
print(kaizen.flush_sync(score=0.75, wait=False)[0]["status"])
"""


def run_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(EXIT_SCRIPT))
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )


def test_entries_queued_without_waiting_are_sent_at_exit(
    ct_server: CTServerProcess, tmp_path: Path
) -> None:
    task = unique("at_exit")
    done = run_script(tmp_path, ct_server.api_key, ct_server.base_url, task)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "queued"
    [feedback] = get_json(ct_server, "/api/v1/feedback", task_id=task)
    assert (feedback["score"], feedback["output"]) == (0.75, "answer")


def test_entries_that_cannot_be_sent_at_exit_are_logged(tmp_path: Path) -> None:
    done = run_script(tmp_path, "kz-test", f"http://127.0.0.1:{free_port()}", "lost")
    assert done.stdout.strip() == "queued"
    assert "Kaizen record not sent at exit" in done.stderr
    assert "for task 'lost'" in done.stderr


def test_init_rejects_what_this_server_cannot_do() -> None:
    with pytest.raises(kaizen.CTError, match="git_provider"):
        kaizen.init(api_key="kz-test", git_provider="gitlab")
    with pytest.raises(kaizen.CTError, match="mode"):
        kaizen.init(api_key="kz-test", mode="ship_it")


def test_init_again_sends_what_the_previous_setup_held(ct_server: CTServerProcess) -> None:
    task = unique("reinit")
    kaizen.init(api_key=ct_server.api_key, base_url=ct_server.base_url)
    kaizen.trace_sync(task, str, {"q": "x"})
    kaizen.flush_sync(score=1.0, wait=False)
    kaizen.init(api_key=ct_server.api_key, base_url=ct_server.base_url)
    assert len(get_json(ct_server, "/api/v1/feedback", task_id=task)) == 1


@pytest.mark.parametrize("client_kind", ["sync", "async"])
async def test_create_task_with_creates_a_missing_task_once(
    ct_server: CTServerProcess, client_kind: str
) -> None:
    task = unique("first_use")
    settings = {"feedback_threshold": 7, "description": "made on first use"}
    if client_kind == "sync":
        with CTClient(api_key=ct_server.api_key, base_url=ct_server.base_url) as client:
            client.log_feedback(task, output="a", score=1.0, create_task_with=settings)
            client.log_trace(task, response_text="b", create_task_with={"feedback_threshold": 9})
    else:
        async with kaizen.AsyncCTClient(
            api_key=ct_server.api_key, base_url=ct_server.base_url
        ) as async_client:
            await async_client.log_trace(task, response_text="b", create_task_with=settings)
            await async_client.log_feedback(task, output="a", create_task_with={})
    created = get_json(ct_server, f"/api/v1/tasks/{task}")
    assert (created["feedback_threshold"], created["description"]) == (7, "made on first use")


def test_create_task_with_never_takes_a_uuid_for_a_name(ct_server: CTServerProcess) -> None:
    missing = str(uuid.uuid4())
    with CTClient(api_key=ct_server.api_key, base_url=ct_server.base_url) as client:
        with pytest.raises(kaizen.CTNotFoundError):
            client.log_feedback(missing, score=1.0, create_task_with={})
        with pytest.raises(kaizen.CTNotFoundError):
            client.log_feedback(unique("no_create"), score=1.0)  # without: still a 404
