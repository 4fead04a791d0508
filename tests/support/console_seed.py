"""A CT server seeded for the console: tasks, versions, feedback with HTML in its comments,
traces, and three real jobs (one improved draft, one failed, one pull-request preview).

Everything goes through the server's own HTTP API and real optimization jobs (on a loopback
fake LM), as an app would produce it. Used by tests/server/test_console_browser.py and by the
screenshot command ``python -m bench.console_screenshots``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.optimization.job_helpers import bare_repo, create_task, post_feedback, unique, watch_job
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.fake_llm import FakeLLM

__all__ = ["HOSTILE_COMMENT", "SeededConsole", "seeded_console"]

HOSTILE_COMMENT = '<img src=x onerror="alert(1)"><b>bold?</b>'
"""A comment an end user typed: the console must show it as text."""

BASELINE = "Summarize the ticket."


@dataclass(frozen=True)
class SeededConsole:
    """The server and what was seeded on it (API JSON as returned)."""

    server: CTServerProcess
    lm: FakeLLM
    slow_lm: FakeLLM
    """Answers after a pause: a task naming it in ``evaluator_config.api_base`` runs for a
    few seconds (for following a running job)."""
    repo: Path
    improved_task: dict[str, Any]
    improved_job: dict[str, Any]
    failed_task: dict[str, Any]
    failed_job: dict[str, Any]
    preview_task: dict[str, Any]
    preview_job: dict[str, Any]
    trace: dict[str, Any]
    rated_feedback: dict[str, Any]


def _first_version(client: httpx.Client, task: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/prompts/{task['id']}/versions", json={"prompt_text": BASELINE, "activate": True}
    )
    assert response.status_code == 201, response.text
    version: dict[str, Any] = response.json()
    return version


def _run_job(client: httpx.Client, task: dict[str, Any]) -> dict[str, Any]:
    started = client.post(f"/api/v1/optimize/{task['id']}")
    assert started.status_code == 200, started.text
    return watch_job(client, started.json()["job"]["id"], deadline_s=120).job


def _seed(server: CTServerProcess, lm: FakeLLM, slow_lm: FakeLLM, repo: Path) -> SeededConsole:
    with server.client() as client:
        improved = create_task(
            client, name=unique("summarize"), teacher_model="fake-teacher", feedback_threshold=1000
        )
        v1 = _first_version(client, improved)
        trace = client.post(
            "/api/v1/traces",
            json={
                "task_id": improved["id"],
                "prompt_text": BASELINE,
                "response_text": "The printer <script>alert(1)</script> is broken.",
                "inputs": {"ticket": "printer broken"},
                "model": "fake-model",
                "latency_ms": 120.0,
                "prompt_version_id": v1["id"],
            },
        )
        assert trace.status_code == 201, trace.text
        rated = client.post(
            "/api/v1/feedback",
            json={
                "task_id": improved["id"],
                "trace_id": trace.json()["id"],
                "inputs": {"ticket": "printer broken"},
                "output": "The printer <script>alert(1)</script> is broken.",
                "score": 0.2,
                "source": "user",
                "metadata": {"comment": HOSTILE_COMMENT},
            },
        )
        assert rated.status_code == 201, rated.text
        post_feedback(client, improved["id"], 12)
        improved_job = _run_job(client, improved)
        assert improved_job["status"] == "SUCCESS", improved_job
        assert improved_job["result"] == "improved", improved_job

        failed = create_task(client, name=unique("classify"), feedback_threshold=1000)
        _first_version(client, failed)
        unusable = client.post(  # no output: nothing to learn from, the job fails
            "/api/v1/feedback",
            json={"task_id": failed["id"], "inputs": {"ticket": "?"}, "score": 1},
        )
        assert unusable.status_code == 201, unusable.text
        failed_job = _run_job(client, failed)
        assert failed_job["status"] == "FAILURE", failed_job

        preview = create_task(
            client,
            name=unique("reply"),
            teacher_model="fake-teacher",
            feedback_threshold=1000,
            github_repo=repo.name,
            prompt_path="prompts/reply.txt",
            mode="pr_preview",
        )
        _first_version(client, preview)
        post_feedback(client, preview["id"], 12)
        preview_job = _run_job(client, preview)
        assert preview_job["pr_review"] == "awaiting_approval", preview_job
    return SeededConsole(
        server=server,
        lm=lm,
        slow_lm=slow_lm,
        repo=repo,
        improved_task=improved,
        improved_job=improved_job,
        failed_task=failed,
        failed_job=failed_job,
        preview_task=preview,
        preview_job=preview_job,
        trace=trace.json(),
        rated_feedback=rated.json(),
    )


@contextlib.contextmanager
def seeded_console(workdir: Path) -> Iterator[SeededConsole]:
    """Start a CT server on a SQLite file under ``workdir``, seed it, yield it."""
    with FakeLLM() as lm, FakeLLM(delay_s=0.15) as slow_lm:
        env = {
            "KAIZEN_LLM_API_BASE": lm.api_base,
            "KAIZEN_LLM_NUM_RETRIES": "0",
            "KAIZEN_LLM_ALLOWED_API_BASES": json.dumps([slow_lm.api_base]),
        }
        url = f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}"
        with running_ct_server(url, workdir, env) as server:
            repo = bare_repo(workdir, server.repo_dir)
            yield _seed(server, lm, slow_lm, repo)
