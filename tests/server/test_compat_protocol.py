"""Speaks the existing Kaizen CT protocol byte for byte: trailing-slash paths,
``activate?version_id=``, ``metadata_`` in feedback bodies, ``schema_json`` on tasks."""

from __future__ import annotations

from kaizen_sdk.models import (
    FeedbackResult,
    Job,
    JobStatus,
    OptimizeResult,
    Prompt,
    Task,
    TraceResult,
)
from tests.server.helpers import feedback_body, unique_name
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_client


def test_existing_client_flow(any_ct_server: CTServerProcess) -> None:
    name = unique_name("summarize_ticket")
    with loopback_client(
        base_url=any_ct_server.base_url, headers={"X-API-Key": any_ct_server.api_key}
    ) as http:
        created = http.post(
            "/api/v1/tasks/",
            json={
                "name": name,
                "description": "Summarize a ticket",
                "schema_json": {"ticket": "string"},
                "feedback_threshold": 50,
                "teacher_model": "gpt-4o",
                "judge_model": "gpt-4o-mini",
            },
        )
        assert created.status_code == 201, created.text
        task = Task.model_validate(created.json())
        assert task.schema_json == {"ticket": "string"}
        assert task.threshold_progress == "0/50"

        tasks = [Task.model_validate(t) for t in http.get("/api/v1/tasks/").json()]
        assert task.id in {t.id for t in tasks}

        # The existing server's field name: ``metadata_``.
        body = feedback_body(name, metadata_={"user": "u1"})
        feedback = http.post("/api/v1/feedback/", json=body)
        assert feedback.status_code == 201, feedback.text
        result = FeedbackResult.model_validate(feedback.json())
        assert (result.task_id, result.metadata) == (task.id, {"user": "u1"})

        version = http.post(
            f"/api/v1/prompts/{name}/versions/", json={"prompt_text": "Summarize the ticket."}
        )
        assert version.status_code == 201
        version_id = version.json()["id"]
        activated = http.post(
            f"/api/v1/prompts/{task.id}/activate/", params={"version_id": version_id}
        )
        assert activated.status_code == 200, activated.text
        assert Prompt.model_validate(activated.json()).status == "active"

        prompt = Prompt.model_validate(http.get(f"/api/v1/prompts/{name}/").json())
        assert (prompt.id, prompt.prompt_text) == (version_id, "Summarize the ticket.")

        optimize = http.post(f"/api/v1/optimize/{name}/")
        assert optimize.status_code == 200, optimize.text
        job = OptimizeResult.model_validate(optimize.json()).job
        assert job.status == "PENDING"
        fetched = Job.model_validate(http.get(f"/api/v1/jobs/{job.id}/").json())
        assert fetched.id == job.id
        assert fetched.status in set(JobStatus)  # the embedded runner may have started it

        trace = http.post(
            "/api/v1/traces/",
            json={
                "task_id": task.id,
                "prompt_text": prompt.prompt_text,
                "response_text": "ok",
                "model": "gpt-4o",
                "tokens": 10,
                "latency_ms": 12.0,
            },
        )
        assert trace.status_code == 201
        scored = http.post(
            f"/api/v1/traces/{trace.json()['id']}/score/", json={"score": 1.0, "scored_by": "sdk"}
        )
        assert TraceResult.model_validate(scored.json()).score == 1.0
        for response in (created, feedback, activated, optimize, scored):
            assert response.history == []  # no redirects anywhere
