"""Optimization jobs over HTTP with an LM: the CT server's jobs talk to the loopback fake LLM."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.optimization.job_helpers import create_task, only_job, post_feedback, watch_job
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.fake_llm import DEFAULT_MARKER, FakeLLM

BASELINE = "Summarize the ticket."


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


DEAD_LM = "http://127.0.0.1:9/v1"
"""An endpoint nothing listens on (the discard port), allowed for tasks of ``lm_server``."""


def test_a_task_cannot_send_its_lm_calls_to_a_host_the_server_does_not_allow(
    lm_server: CTServerProcess,
) -> None:
    with lm_server.client() as client:
        for config, fragment in [
            ({"api_base": "http://169.254.169.254/latest/v1"}, "evaluator_config"),
            ({"api_base": "https://attacker.example/v1"}, "not an endpoint this server allows"),
            ({"max_trials": "many"}, "max_trials"),
            ({"metric": "regex"}, "metric"),
        ]:
            name = f"lm-target-{uuid.uuid4().hex[:8]}"
            created = client.post("/api/v1/tasks", json={"name": name, "evaluator_config": config})
            assert created.status_code == 422, created.text
            assert fragment in created.json()["detail"]
            assert client.get(f"/api/v1/tasks/{name}").status_code == 404
        allowed = create_task(client, evaluator_config={"api_base": DEAD_LM + "/"})
        assert allowed["evaluator_config"] == {"api_base": DEAD_LM + "/"}


@pytest.fixture(scope="module")
def lm_server(
    fake_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CTServerProcess]:
    workdir = tmp_path_factory.mktemp("ct-lm")
    env = {
        "KAIZEN_LLM_API_BASE": fake_llm.api_base,
        "KAIZEN_LLM_NUM_RETRIES": "0",
        "KAIZEN_LLM_ALLOWED_API_BASES": json.dumps([DEAD_LM]),
    }
    with running_ct_server(f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}", workdir, env) as server:
        yield server


def _task_with_baseline(server: CTServerProcess, **fields: object) -> dict[str, object]:
    with server.client() as client:
        task = create_task(client, teacher_model="fake-teacher", **fields)
        response = client.post(
            f"/api/v1/prompts/{task['id']}/versions",
            json={"prompt_text": BASELINE, "activate": True},
        )
        assert response.status_code == 201, response.text
        return task


def test_evaluated_job_beats_the_active_prompt_and_auto_activates(
    lm_server: CTServerProcess, fake_llm: FakeLLM
) -> None:
    task = _task_with_baseline(
        lm_server,
        judge_model="fake-judge",
        feedback_threshold=12,
        auto_activate=True,
        activation_margin=0.05,
    )
    fake_llm.reset()
    with lm_server.client() as client:
        post_feedback(client, str(task["id"]), 12)
        final = watch_job(client, only_job(client, str(task["id"]))["id"]).job
        assert final["status"] == "SUCCESS", final
        metadata = final["job_metadata"]
        assert metadata["evaluated"] is True
        assert metadata["optimizer"] == "BootstrapFewShot"
        assert metadata["eval_score"] > metadata["baseline_score"] + 0.05
        assert metadata["activated"] is True
        assert metadata["actual_llm_calls"] == fake_llm.total_calls > 0
        assert metadata["actual_calls_by_model"]["openai/fake-judge"] == fake_llm.calls["judge"] + 1
        assert metadata["estimated_llm_calls"] == metadata["cost_estimate"]["estimated_llm_calls"]
        steps = [entry["step"] for entry in metadata["progress"]]
        assert "checking the LM endpoints" in steps
        assert "evaluating the candidate on 4 validation examples" in steps

        served = client.get(f"/api/v1/prompts/{task['id']}").json()
        assert served["id"] == final["prompt_version_id"]
        assert served["eval_score"] == metadata["eval_score"]
        assert DEFAULT_MARKER in served["prompt_text"]


def test_not_better_by_the_margin_is_rejected(lm_server: CTServerProcess) -> None:
    task = _task_with_baseline(
        lm_server, feedback_threshold=1000, auto_activate=True, activation_margin=0.9
    )
    with lm_server.client() as client:
        post_feedback(client, str(task["id"]), 12)
        job_id = client.post(f"/api/v1/optimize/{task['id']}").json()["job"]["id"]
        final = watch_job(client, job_id).job
        assert final["status"] == "SUCCESS", final
        assert final["job_metadata"]["activated"] is False
        assert final["result"] == "no_improvement"
        versions = client.get(f"/api/v1/prompts/{task['id']}/versions").json()
        assert [v["status"] for v in versions] == ["rejected", "active"]
        assert versions[0]["eval_score"] > versions[0]["baseline_score"]
        assert "activation margin (0.9)" in versions[0]["status_reason"]
        assert client.get(f"/api/v1/prompts/{task['id']}").json()["prompt_text"] == BASELINE


def test_lm_endpoint_down_is_a_failure_with_a_readable_error(lm_server: CTServerProcess) -> None:
    task = _task_with_baseline(
        lm_server, feedback_threshold=1000, evaluator_config={"api_base": DEAD_LM}
    )
    with lm_server.client() as client:
        post_feedback(client, str(task["id"]), 12)
        job_id = client.post(f"/api/v1/optimize/{task['id']}").json()["job"]["id"]
        final = watch_job(client, job_id).job
        assert final["status"] == "FAILURE"
        assert final["error_message"].startswith(
            f"The teacher model 'openai/fake-teacher' at {DEAD_LM} could not be reached"
        )
        assert final["prompt_version_id"] is None
        assert len(client.get(f"/api/v1/prompts/{task['id']}/versions").json()) == 1


@pytest.fixture
def slow_stack(tmp_path: Path) -> Iterator[tuple[CTServerProcess, FakeLLM]]:
    """A server whose LM never answers in time, with a 4 s job time limit (counted from the
    moment the job is RUNNING, however long its process took to start)."""
    with FakeLLM(delay_s=20.0) as fake:
        env = {
            "KAIZEN_LLM_API_BASE": fake.api_base,
            "KAIZEN_LLM_NUM_RETRIES": "0",
            "KAIZEN_JOB_TIME_LIMIT_S": "4",
        }
        with running_ct_server(
            f"sqlite+aiosqlite:///{tmp_path / 'kaizen.db'}", tmp_path, env
        ) as server:
            yield server, fake


def _job_processes(job_id: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if job_id.encode() in cmdline and b"job_process" in cmdline:
                found.append(int(entry.name))
    return found


def _wait_no_job_process(job_id: str, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while _job_processes(job_id):
        assert time.monotonic() < deadline, f"job process of {job_id} still alive"
        time.sleep(0.05)


def test_time_limit_kills_the_job_and_a_restart_fails_a_running_job(
    slow_stack: tuple[CTServerProcess, FakeLLM],
) -> None:
    server, _fake = slow_stack
    task = _task_with_baseline(server, feedback_threshold=1000)
    with server.client() as client:
        post_feedback(client, str(task["id"]), 12)
        job_id = client.post(f"/api/v1/optimize/{task['id']}").json()["job"]["id"]
        watch = watch_job(client, job_id, deadline_s=30)
        assert watch.job["status"] == "FAILURE"
        assert watch.job["error_message"].startswith("Time limit exceeded")
        assert "RUNNING" in watch.statuses
        _wait_no_job_process(job_id)

        second = client.post(f"/api/v1/optimize/{task['id']}").json()["job"]["id"]
        watch_job(client, second, until={"RUNNING"}, deadline_s=30)
        # A job of a task without LM queues behind the running one (one job at a time).
        no_lm = create_task(client, feedback_threshold=1000)
        post_feedback(client, no_lm["id"], 3)
        queued = client.post(f"/api/v1/optimize/{no_lm['id']}").json()["job"]["id"]
        assert client.get(f"/api/v1/jobs/{queued}").json()["status"] == "PENDING"
    assert _job_processes(second), "the job runs in a child process"
    server.kill()
    _wait_no_job_process(second)  # the orphaned job process notices and exits
    server.start()
    with server.client() as client:
        final = client.get(f"/api/v1/jobs/{second}").json()
        assert final["status"] == "FAILURE"
        assert "server restarted" in final["error_message"]
        # The PENDING job is picked up by the restarted server.
        assert watch_job(client, queued).job["status"] == "SUCCESS"
    assert os.environ.get("KAIZEN_JOB_TIME_LIMIT_S") is None


def test_a_failed_auto_job_waits_for_a_new_threshold_of_feedback(
    lm_server: CTServerProcess,
) -> None:
    task = _task_with_baseline(
        lm_server, feedback_threshold=5, evaluator_config={"api_base": DEAD_LM}
    )
    with lm_server.client() as client:
        post_feedback(client, str(task["id"]), 5)
        first = only_job(client, str(task["id"]))
        assert watch_job(client, first["id"]).job["status"] == "FAILURE"
        post_feedback(client, str(task["id"]), 4, start=5)
        assert len(client.get("/api/v1/jobs", params={"task_id": task["id"]}).json()) == 1
        post_feedback(client, str(task["id"]), 1, start=9)
        jobs = client.get("/api/v1/jobs", params={"task_id": task["id"]}).json()
        assert [job["triggered_by"] for job in jobs] == ["threshold", "threshold"]
