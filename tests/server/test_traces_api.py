"""Traces over real HTTP: create, idempotency, batch, get, list, score."""

from __future__ import annotations

import uuid

from tests.server.helpers import add_version, assert_problem, make_task
from tests.support.ct_server import CTServerProcess


def test_create_get_list_and_repeat(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client, schema_json={"ticket": "string"})
        version = add_version(client, task["id"], "Summarize:", activate=True)
        trace_id = str(uuid.uuid4())
        body = {
            "id": trace_id,
            "task_id": task["name"],
            "prompt_text": "Summarize:",
            "response_text": "short",
            "model": "m",
            "tokens": 12,
            "latency_ms": 3.5,
            "inputs": {"ticket": "long text"},
            "prompt_version_id": version["id"],
            "metadata_": {"k": 1},
        }
        created = client.post("/api/v1/traces/", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["metadata"] == {"k": 1}
        assert created.json()["prompt_version_id"] == version["id"]
        repeat = client.post("/api/v1/traces", json=body | {"tokens": 99})
        assert repeat.status_code == 200
        assert repeat.json() == created.json()
        fetched = client.get(f"/api/v1/traces/{trace_id}/")
        assert fetched.json()["tokens"] == 12
        listed = client.get("/api/v1/traces", params={"task_id": task["id"]}).json()
        assert [t["id"] for t in listed] == [trace_id]
        assert_problem(
            client.post("/api/v1/traces", json={"task_id": task["id"], "inputs": {"ticket": 1}}),
            422,
            "body.inputs.ticket",
        )
        assert_problem(
            client.post(
                "/api/v1/traces",
                json={"task_id": task["id"], "prompt_version_id": str(uuid.uuid4())},
            ),
            404,
            "prompt_version_id",
        )


def test_batch_all_or_nothing(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        items = [{"task_id": task["id"], "response_text": str(i)} for i in range(3)]
        bad = [*items, {"task_id": task["id"], "tokens": -1}]
        assert_problem(
            client.post("/api/v1/traces/batch", json={"items": bad}), 422, "body.items[3].tokens"
        )
        assert client.get("/api/v1/traces", params={"task_id": task["id"]}).json() == []
        response = client.post("/api/v1/traces/batch", json={"items": items})
        assert response.status_code == 201
        assert [t["response_text"] for t in response.json()] == ["0", "1", "2"]


def test_score_records_feedback_once(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        trace = client.post(
            "/api/v1/traces",
            json={"task_id": task["id"], "inputs": {"q": "x"}, "response_text": "answer"},
        ).json()
        scored = client.post(
            f"/api/v1/traces/{trace['id']}/score", json={"score": 0.25, "scored_by": "user"}
        )
        assert scored.status_code == 200, scored.text
        assert (scored.json()["score"], scored.json()["scored_by"]) == (0.25, "user")
        rescored = client.post(f"/api/v1/traces/{trace['id']}/score/", json={"score": 0.75})
        assert rescored.json()["score"] == 0.75
        feedback = client.get("/api/v1/feedback", params={"task_id": task["id"]}).json()
        assert len(feedback) == 1
        row = feedback[0]
        assert (row["trace_id"], row["score"], row["source"]) == (trace["id"], 0.75, "sdk")
        assert (row["inputs"], row["output"]) == ({"q": "x"}, "answer")
        assert_problem(
            client.post(f"/api/v1/traces/{trace['id']}/score", json={"score": 7}), 422, "body.score"
        )
        assert_problem(client.post("/api/v1/traces/nope/score", json={"score": 1}), 404)
        assert_problem(client.get(f"/api/v1/traces/{uuid.uuid4()}"), 404)


def test_feedback_with_trace_id_scores_the_trace(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        other = make_task(client)
        trace = client.post(
            "/api/v1/traces", json={"task_id": task["id"], "response_text": "out"}
        ).json()
        response = client.post(
            "/api/v1/feedback",
            json={"task_id": task["id"], "trace_id": trace["id"], "score": 0.9, "source": "app"},
        )
        assert response.status_code == 201, response.text
        assert (response.json()["trace_id"], response.json()["output"]) == (trace["id"], "out")
        assert client.get(f"/api/v1/traces/{trace['id']}").json()["score"] == 0.9
        assert_problem(
            client.post("/api/v1/feedback", json={"task_id": other["id"], "trace_id": trace["id"]}),
            422,
            "another task",
        )
        assert_problem(
            client.post(
                "/api/v1/feedback", json={"task_id": task["id"], "trace_id": str(uuid.uuid4())}
            ),
            404,
            "trace_id",
        )
