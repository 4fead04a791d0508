"""Evaluators through the real CT server: custom metrics refused unless allowed, and one job
with a weighted metric, a judge model and unscored traces (the loopback fake LLM)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.optimization.job_helpers import create_task, post_feedback, watch_job
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.fake_llm import FakeLLM, good_answer

ALLOWED = "tests.optimization.custom_metric_functions"


@pytest.fixture(scope="module")
def evaluator_server(
    fake_llm_server: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CTServerProcess]:
    workdir = tmp_path_factory.mktemp("ct-evaluators")
    env = {
        "KAIZEN_LLM_API_BASE": fake_llm_server.api_base,
        "KAIZEN_LLM_NUM_RETRIES": "0",
        "KAIZEN_CUSTOM_METRICS": json.dumps([f"{ALLOWED}:starts_with_marker"]),
    }
    with running_ct_server(f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}", workdir, env) as server:
        yield server


def test_a_custom_metric_the_server_does_not_allow_is_a_422_naming_the_field(
    evaluator_server: CTServerProcess,
) -> None:
    with evaluator_server.client() as client:
        for config, fragment in [
            ({"metric": "custom", "function": "os:system"}, "function: 'os:system' is not"),
            ({"metric": "custom", "function": f"{ALLOWED}:broken"}, "KAIZEN_CUSTOM_METRICS"),
            (
                {"metric": "weighted", "components": [{"metric": "weighted", "weight": 1}]},
                "components.0.metric",
            ),
        ]:
            name = f"evaluator-{uuid.uuid4().hex[:8]}"
            created = client.post("/api/v1/tasks", json={"name": name, "evaluator_config": config})
            assert created.status_code == 422, created.text
            assert "evaluator_config" in created.json()["detail"]
            assert fragment in created.json()["detail"]
            assert client.get(f"/api/v1/tasks/{name}").status_code == 404
        task = create_task(client)
        patched = client.patch(
            f"/api/v1/tasks/{task['id']}",
            json={"evaluator_config": {"type": "custom_fn", "function_path": "os.system"}},
        )
        assert patched.status_code == 422, patched.text
        assert client.get(f"/api/v1/tasks/{task['id']}").json()["evaluator_config"] is None
        allowed = {"metric": "custom", "function": f"{ALLOWED}:starts_with_marker"}
        ok = client.patch(f"/api/v1/tasks/{task['id']}", json={"evaluator_config": allowed})
        assert ok.status_code == 200, ok.text


def test_weighted_job_with_a_judge_stores_its_judge_score_and_learns_from_traces(
    evaluator_server: CTServerProcess, fake_llm: FakeLLM
) -> None:
    description = good_answer("printer on floor is broken")
    with evaluator_server.client() as client:
        task = create_task(
            client,
            description=description,
            teacher_model="fake-teacher",
            judge_model="fake-judge",
            feedback_threshold=1000,
            evaluator_config={
                "metric": "weighted",
                "components": [
                    {"metric": "exact_match", "weight": 1},
                    {"metric": "custom", "weight": 1, "function": f"{ALLOWED}:starts_with_marker"},
                ],
            },
        )
        task_id = str(task["id"])
        post_feedback(client, task_id, 10)
        traces = [
            {"task_id": task_id, "inputs": {"ticket": f"trace {i}"}, "response_text": description}
            for i in range(3)
        ]
        stored = client.post("/api/v1/traces/batch", json={"items": traces})
        assert stored.status_code == 201, stored.text
        scored_id = stored.json()[0]["id"]
        scored = client.post(f"/api/v1/traces/{scored_id}/score", json={"score": 0.95})
        assert scored.status_code == 200, scored.text

        job_id = client.post(f"/api/v1/optimize/{task_id}").json()["job"]["id"]
        final = watch_job(client, job_id).job
        assert final["status"] == "SUCCESS", final
        metadata = final["job_metadata"]
        assert metadata["evaluation"]["metric"] == "weighted"
        assert metadata["traces_judged"] == 2  # the third trace has its score (its feedback)
        assert metadata["traces_left_out"] == 0
        assert metadata["examples_from_traces"] == 3
        assert "judging 2 unscored trace(s)" in [step["step"] for step in metadata["progress"]]
        assert metadata["judge_score"] is not None
        assert metadata["actual_calls_by_model"]["openai/fake-judge"] == fake_llm.calls["judge"] + 1
        versions = client.get(f"/api/v1/prompts/{task_id}/versions").json()
        newest = next(v for v in versions if v["id"] == final["prompt_version_id"])
        assert newest["judge_score"] == metadata["judge_score"]
        assert newest["eval_score"] == metadata["eval_score"]
