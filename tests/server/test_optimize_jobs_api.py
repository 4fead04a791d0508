"""Optimization requests and jobs over real HTTP."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.server.helpers import assert_problem, make_task
from tests.support.ct_server import CTServerProcess


def test_no_feedback_is_400_then_job_then_409(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client, teacher_model="gpt-4o-mini", cost_budget=0.0)
        assert_problem(client.post(f"/api/v1/optimize/{task['name']}"), 400, "no feedback")
        client.post(
            "/api/v1/feedback/batch", json={"items": [{"task_id": task["id"], "score": 1.0}] * 3}
        )
        response = client.post(f"/api/v1/optimize/{task['name']}/")
        assert response.status_code == 200, response.text
        body = response.json()
        job = body["job"]
        assert (job["status"], job["task_id"], job["feedback_count"]) == ("PENDING", task["id"], 3)
        assert body["cost_estimate"]["estimated_cost_usd"] >= 0
        assert "budget_warning" in body
        assert_problem(client.post(f"/api/v1/optimize/{task['id']}"), 409, job["id"])
        fetched = client.get(f"/api/v1/jobs/{job['id']}/")
        assert fetched.json()["id"] == job["id"]
        listed = client.get("/api/v1/jobs", params={"task_id": task["name"]}).json()
        assert [j["id"] for j in listed] == [job["id"]]


def test_concurrent_optimize_requests_create_one_job(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        client.post("/api/v1/feedback", json={"task_id": task["id"], "score": 0.5})

    def trigger(_: int) -> int:
        with any_ct_server.client() as own:
            return own.post(f"/api/v1/optimize/{task['id']}").status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(trigger, range(6)))
    assert statuses == [200] + [409] * 5
    with any_ct_server.client() as client:
        assert len(client.get("/api/v1/jobs", params={"task_id": task["id"]}).json()) == 1


def test_unknown_jobs_and_tasks(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        assert_problem(client.get("/api/v1/jobs/not-a-uuid"), 404)
        assert_problem(client.get(f"/api/v1/jobs/{uuid.uuid4()}"), 404)
        assert_problem(client.post("/api/v1/optimize/no_such_task_z"), 404)
        assert_problem(client.get("/api/v1/jobs", params={"task_id": "no_such_task_z"}), 404)
