"""Tasks over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime

from tests.server.helpers import add_version, assert_problem, make_task, unique_name
from tests.support.ct_server import CTServerProcess


def test_create_get_by_uuid_and_name_with_and_without_slash(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(
            client,
            description="Summarize a ticket",
            schema_json={"ticket": "string"},
            feedback_threshold=7,
            teacher_model="openai/gpt-4o",
            auto_activate=True,
            activation_margin=0.05,
            prompt_format="yaml",
        )
        assert task["threshold_progress"] == "0/7"
        assert task["feedback_count"] == 0
        assert task["auto_activate"] is True
        for path in (task["id"], task["name"], task["id"] + "/", task["name"] + "/"):
            response = client.get(f"/api/v1/tasks/{path}")
            assert response.status_code == 200, path
            assert response.json()["id"] == task["id"]
            assert response.json()["teacher_model"] == "openai/gpt-4o"


def test_duplicate_name_is_409(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        response = client.post("/api/v1/tasks/", json={"name": task["name"]})
        assert_problem(response, 409, task["name"])


def test_list_newest_first_with_name_filter_and_cursor(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        created = [make_task(client)["id"] for _ in range(3)]
        first = client.get("/api/v1/tasks", params={"limit": 2})
        assert first.status_code == 200
        assert [t["id"] for t in first.json()] == created[::-1][:2]
        cursor = first.headers["X-Next-Cursor"]
        second = client.get("/api/v1/tasks/", params={"limit": 2, "cursor": cursor})
        assert second.json()[0]["id"] == created[0]
        name = client.get(f"/api/v1/tasks/{created[1]}").json()["name"]
        only = client.get("/api/v1/tasks", params={"name": name})
        assert [t["id"] for t in only.json()] == [created[1]]
        assert "X-Next-Cursor" not in only.headers
        assert_problem(client.get("/api/v1/tasks", params={"cursor": "garbage"}), 422, "cursor")
        assert_problem(client.get("/api/v1/tasks", params={"limit": 501}), 422, "limit")


def test_patch_changes_only_sent_fields(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client, description="before", feedback_threshold=5)
        new_name = unique_name("renamed")
        response = client.patch(
            f"/api/v1/tasks/{task['name']}/", json={"name": new_name, "judge_model": "j"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["name"], body["judge_model"]) == (new_name, "j")
        assert (body["description"], body["feedback_threshold"]) == ("before", 5)
        assert_problem(
            client.patch(f"/api/v1/tasks/{new_name}", json={"feedback_threshold": None}),
            422,
            "feedback_threshold",
        )
        other = make_task(client)
        assert_problem(client.patch(f"/api/v1/tasks/{other['id']}", json={"name": new_name}), 409)


def test_delete_cascades(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        add_version(client, task["id"], "v1", activate=True)
        feedback = client.post("/api/v1/feedback", json={"task_id": task["id"], "score": 1.0})
        trace = client.post("/api/v1/traces", json={"task_id": task["id"]})
        assert client.post(f"/api/v1/optimize/{task['id']}").status_code == 200
        assert client.delete(f"/api/v1/tasks/{task['name']}/").status_code == 204
        assert_problem(client.get(f"/api/v1/tasks/{task['id']}"), 404)
        assert_problem(client.get(f"/api/v1/traces/{trace.json()['id']}"), 404)
        jobs = client.get("/api/v1/jobs", params={"limit": 500}).json()
        assert task["id"] not in {job["task_id"] for job in jobs}
        listed = client.get("/api/v1/feedback", params={"limit": 500}).json()
        assert feedback.json()["id"] not in {row["id"] for row in listed}
        assert_problem(client.delete(f"/api/v1/tasks/{task['id']}"), 404)


def test_task_validation_names_the_field(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        cases = [
            ({"name": ""}, "body.name"),
            ({"name": "a/b"}, "body.name"),
            ({"name": "x" * 201}, "body.name"),
            ({"name": unique_name(), "feedback_threshold": 0}, "body.feedback_threshold"),
            ({"name": unique_name(), "feedback_threshold": 10**30}, "body.feedback_threshold"),
            ({"name": unique_name(), "unknown_field": 1}, "body.unknown_field"),
            ({"name": unique_name(), "prompt_format": "xml"}, "body.prompt_format"),
            ({"name": unique_name(), "schema_json": {"ticket": "strang"}}, "schema_json.ticket"),
            (
                {"name": unique_name(), "schema_json": {"type": "object", "properties": 3}},
                "schema_json",
            ),
            ({"name": unique_name(), "description": "nul\u0000byte"}, "NUL"),
        ]
        for body, fragment in cases:
            assert_problem(client.post("/api/v1/tasks", json=body), 422, fragment)


def test_aggregates_after_feedback_and_activation(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client, feedback_threshold=4)
        items = [{"task_id": task["name"], "score": 0.5} for _ in range(3)]
        assert client.post("/api/v1/feedback/batch", json={"items": items}).status_code == 201
        version = client.post(
            f"/api/v1/prompts/{task['id']}/versions",
            json={"prompt_text": "p", "activate": True, "eval_score": 0.7},
        ).json()
        assert version["status"] == "active"
        body = client.get(f"/api/v1/tasks/{task['id']}").json()
        assert (body["feedback_count"], body["threshold_progress"]) == (3, "3/4")
        assert body["active_prompt_score"] == 0.7
        assert body["last_optimization"] is None


def test_threshold_progress_counts_feedback_since_last_successful_job(
    ct_server: CTServerProcess,
) -> None:
    """A SUCCESS job (written straight into the database: no LLM here) resets the progress."""
    with ct_server.client() as client:
        task = make_task(client, feedback_threshold=10)
        before = [{"task_id": task["id"], "score": 1.0}] * 3
        assert client.post("/api/v1/feedback/batch", json={"items": before}).status_code == 201
        completed = datetime.now(UTC)
        database = ct_server.database_url.removeprefix("sqlite+aiosqlite:///")
        with sqlite3.connect(database) as connection:
            connection.execute(
                "INSERT INTO optimization_jobs (id, task_id, status, created_at, completed_at)"
                " VALUES (?, ?, 'SUCCESS', ?, ?)",
                (
                    uuid.uuid4().hex,
                    uuid.UUID(task["id"]).hex,
                    completed.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    completed.strftime("%Y-%m-%d %H:%M:%S.%f"),
                ),
            )
        after = [{"task_id": task["id"], "score": 0.5}] * 2
        assert client.post("/api/v1/feedback/batch", json={"items": after}).status_code == 201
        body = client.get(f"/api/v1/tasks/{task['name']}").json()
    assert (body["feedback_count"], body["threshold_progress"]) == (5, "2/10")
    assert datetime.fromisoformat(body["last_optimization"]) == completed
