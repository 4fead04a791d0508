"""Feedback over real HTTP: idempotency, schema validation, batches, retention."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.server.helpers import assert_problem, feedback_body, make_task
from tests.support.ct_server import CTServerProcess


def _feedback_ids(client: httpx.Client, task_id: str) -> list[str]:
    response = client.get("/api/v1/feedback", params={"task_id": task_id, "limit": 500})
    assert response.status_code == 200
    return [row["id"] for row in response.json()]


def test_create_by_name_and_uuid(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        for ref in (task["name"], task["id"]):
            body = feedback_body(
                ref,
                inputs={"q": "hi"},
                output="hello",
                score=0.8,
                source="user",
                metadata={"k": "v"},
            )
            response = client.post("/api/v1/feedback/", json=body)
            assert response.status_code == 201, response.text
            body = response.json()
            assert (body["task_id"], body["score"], body["source"]) == (task["id"], 0.8, "user")
            assert body["metadata"] == {"k": "v"}
        assert len(_feedback_ids(client, task["id"])) == 2


def test_repeat_with_same_id_returns_stored_row(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        feedback_id = str(uuid.uuid4())
        body = {"id": feedback_id, "task_id": task["id"], "score": 0.3}
        first = client.post("/api/v1/feedback", json=body)
        again = client.post("/api/v1/feedback", json=body | {"score": 0.9})
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert _feedback_ids(client, task["id"]) == [feedback_id]


def test_concurrent_repeats_store_one_row(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
    feedback_id = str(uuid.uuid4())

    def send(_: int) -> int:
        with any_ct_server.client() as own:
            response = own.post(
                "/api/v1/feedback", json={"id": feedback_id, "task_id": task["id"], "score": 1.0}
            )
            assert response.json()["id"] == feedback_id
            return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(send, range(8)))
    assert statuses == [200] * 7 + [201]
    with any_ct_server.client() as client:
        assert _feedback_ids(client, task["id"]) == [feedback_id]


def test_inputs_checked_against_simple_and_json_schema(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        simple = make_task(client, schema_json={"ticket": "string", "priority": "int"})
        ok = client.post(
            "/api/v1/feedback",
            json={"task_id": simple["id"], "inputs": {"ticket": "t", "priority": 2}, "score": 1},
        )
        assert ok.status_code == 201, ok.text
        assert_problem(
            client.post(
                "/api/v1/feedback",
                json={"task_id": simple["id"], "inputs": {"ticket": 5, "priority": 2}},
            ),
            422,
            "body.inputs.ticket",
        )
        assert_problem(
            client.post(
                "/api/v1/feedback", json={"task_id": simple["id"], "inputs": {"ticket": "t"}}
            ),
            422,
            "priority",
        )
        schema = {
            "type": "object",
            "properties": {"q": {"type": "string", "maxLength": 3}},
            "required": ["q"],
        }
        full = make_task(client, schema_json=schema)
        assert_problem(
            client.post(
                "/api/v1/feedback", json={"task_id": full["name"], "inputs": {"q": "toolong"}}
            ),
            422,
            "body.inputs.q",
        )
        assert _feedback_ids(client, full["id"]) == []


def test_batch_is_all_or_nothing_and_names_the_item(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client, schema_json={"q": "string"})
        good = [{"task_id": task["id"], "inputs": {"q": str(i)}, "score": 0.5} for i in range(5)]
        bad_type = [*good[:3], {"task_id": task["id"], "inputs": {"q": 1}}, *good[3:]]
        assert_problem(
            client.post("/api/v1/feedback/batch", json={"items": bad_type}),
            422,
            "body.items[3].inputs.q",
        )
        bad_score = [*good, {"task_id": task["id"], "score": 2}]
        assert_problem(
            client.post("/api/v1/feedback/batch", json={"items": bad_score}),
            422,
            "body.items[5].score",
        )
        unknown = [*good, {"task_id": "no_such_task_" + uuid.uuid4().hex}]
        assert_problem(
            client.post("/api/v1/feedback/batch", json={"items": unknown}),
            404,
            "body.items[5].task_id",
        )
        assert _feedback_ids(client, task["id"]) == []
        response = client.post("/api/v1/feedback/batch/", json={"items": good})
        assert response.status_code == 201, response.text
        assert [row["inputs"]["q"] for row in response.json()] == ["0", "1", "2", "3", "4"]
        assert len(_feedback_ids(client, task["id"])) == 5
        too_many = {"items": [{"task_id": task["id"]}] * 1001}
        assert_problem(client.post("/api/v1/feedback/batch", json=too_many), 422, "items")


def test_batch_repeats_return_stored_rows(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        items = [{"id": str(uuid.uuid4()), "task_id": task["id"], "score": 0.1} for _ in range(3)]
        first = client.post("/api/v1/feedback/batch", json={"items": items})
        second = client.post("/api/v1/feedback/batch", json={"items": [*items, items[0]]})
        assert second.status_code == 201
        assert second.json()[:3] == first.json()
        assert second.json()[3] == first.json()[0]
        assert len(_feedback_ids(client, task["id"])) == 3


def test_retention_limit_prunes_oldest(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client, feedback_retention_limit=3)
        ids = []
        for i in range(5):
            response = client.post(
                "/api/v1/feedback", json={"task_id": task["id"], "output": str(i), "score": 0.5}
            )
            ids.append(response.json()["id"])
        assert _feedback_ids(client, task["id"]) == ids[::-1][:3]
        assert client.get(f"/api/v1/tasks/{task['id']}").json()["feedback_count"] == 3


def test_feedback_list_paginates(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        items = [{"task_id": task["id"], "output": str(i)} for i in range(5)]
        client.post("/api/v1/feedback/batch", json={"items": items})
        seen: list[str] = []
        cursor = None
        while True:
            params = {"task_id": task["name"], "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = client.get("/api/v1/feedback", params=params)
            seen += [row["output"] for row in page.json()]
            cursor = page.headers.get("X-Next-Cursor")
            if cursor is None:
                break
        assert seen == ["4", "3", "2", "1", "0"]


def test_unknown_task_is_404(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        assert_problem(
            client.post("/api/v1/feedback", json={"task_id": "missing_x1"}), 404, "missing_x1"
        )
        assert_problem(client.get("/api/v1/feedback", params={"task_id": "missing_x1"}), 404)
