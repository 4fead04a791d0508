"""Batch ingestion over real HTTP: per-task input schemas, replays, the answer's JSON, the
auto-trigger once per batch, and the storable-value check at its depth boundary."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from kaizen_server.request_models import MAX_JSON_DEPTH
from tests.server.helpers import add_version, assert_problem, make_task
from tests.support.ct_server import CTServerProcess

RANGE_SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": 1}},
    "required": ["n"],
}


def _rows(client: httpx.Client, kind: str, task: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/{kind}", params={"task_id": task["id"], "limit": 500})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def _nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("kind", ["feedback", "traces"])
def test_mixed_task_batch_checks_each_item_against_its_own_schema(
    any_ct_server: CTServerProcess, kind: str
) -> None:
    with any_ct_server.client() as client:
        simple = make_task(client, schema_json={"q": "string"})
        ranged = make_task(client, schema_json=RANGE_SCHEMA)
        free = make_task(client)
        good = [
            {"task_id": simple["name"], "inputs": {"q": "a"}},
            {"task_id": ranged["id"], "inputs": {"n": 3}},
            {"task_id": free["id"], "inputs": {"q": 1, "n": 0}},
            {"task_id": simple["id"], "inputs": {"q": "b"}},
        ]
        url = f"/api/v1/{kind}/batch"
        too_small = [*good[:3], {"task_id": ranged["name"], "inputs": {"n": 0}}, *good[3:]]
        assert_problem(
            client.post(url, json={"items": too_small}),
            422,
            "body.items[3].inputs.n: 0 is less than the minimum of 1",
        )
        wrong_type = [*good, {"task_id": simple["id"], "inputs": {"q": 1}}]
        assert_problem(
            client.post(url, json={"items": wrong_type}),
            422,
            'body.items[4].inputs.q: 1 is not of type "string"',
        )
        missing = [{"task_id": ranged["id"], "inputs": {}}, *good]
        assert_problem(
            client.post(url, json={"items": missing}),
            422,
            'body.items[0].inputs: "n" is a required property',
        )
        for task in (simple, ranged, free):
            assert _rows(client, kind, task) == []
        stored = client.post(url, json={"items": good})
        assert stored.status_code == 201, stored.text
        assert [row["task_id"] for row in stored.json()] == [
            simple["id"],
            ranged["id"],
            free["id"],
            simple["id"],
        ]
        assert [len(_rows(client, kind, task)) for task in (simple, ranged, free)] == [2, 1, 1]


def test_simple_schema_types_follow_json_schema(ct_server: CTServerProcess) -> None:
    schema = {
        "k": "int",
        "x": "number",
        "s": "string",
        "b": "bool",
        "l": "list",
        "o": "dict",
        "a": "any",
    }
    valid = {"k": 2, "x": 1.5, "s": "", "b": False, "l": [], "o": {}, "a": None}
    with ct_server.client() as client:
        task = make_task(client, schema_json=schema)
        accepted = [valid, valid | {"k": 2.0, "x": 1}, valid | {"a": [1, {"z": True}]}]
        rejected = [
            ({"k": True}, 'body.items[0].inputs.k: true is not of type "integer"'),
            ({"k": 1.5}, 'body.items[0].inputs.k: 1.5 is not of type "integer"'),
            ({"x": False}, 'body.items[0].inputs.x: false is not of type "number"'),
            ({"x": "1"}, 'body.items[0].inputs.x: "1" is not of type "number"'),
            ({"s": 1}, 'body.items[0].inputs.s: 1 is not of type "string"'),
            ({"b": 0}, 'body.items[0].inputs.b: 0 is not of type "boolean"'),
            ({"l": {}}, 'body.items[0].inputs.l: {} is not of type "array"'),
            ({"o": []}, 'body.items[0].inputs.o: [] is not of type "object"'),
        ]
        for change, detail in rejected:
            item = {"task_id": task["id"], "inputs": valid | change}
            assert_problem(
                client.post("/api/v1/feedback/batch", json={"items": [item]}), 422, detail
            )
        partial = {name: value for name, value in valid.items() if name != "o"}
        assert_problem(
            client.post(
                "/api/v1/feedback/batch",
                json={"items": [{"task_id": task["id"], "inputs": partial}]},
            ),
            422,
            'body.items[0].inputs: "o" is a required property',
        )
        items = [{"task_id": task["id"], "inputs": inputs} for inputs in accepted]
        response = client.post("/api/v1/feedback/batch", json={"items": items})
        assert response.status_code == 201, response.text
        assert [row["inputs"] for row in response.json()] == accepted


def test_a_changed_schema_applies_to_the_next_batch(ct_server: CTServerProcess) -> None:
    with ct_server.client() as client:
        task = make_task(client, schema_json={"q": "string"})
        items = [{"task_id": task["id"], "inputs": {"q": "a"}, "score": 1.0}]
        assert client.post("/api/v1/feedback/batch", json={"items": items}).status_code == 201
        changed = client.patch(
            f"/api/v1/tasks/{task['id']}", json={"schema_json": {"q": "string", "lang": "string"}}
        )
        assert changed.status_code == 200, changed.text
        assert_problem(
            client.post("/api/v1/feedback/batch", json={"items": items}),
            422,
            'body.items[0].inputs: "lang" is a required property',
        )
        items[0]["inputs"] |= {"lang": "en"}
        assert client.post("/api/v1/feedback/batch", json={"items": items}).status_code == 201


def test_replayed_trace_batch_returns_the_stored_rows(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client, schema_json={"ticket": "string"})
        version = add_version(client, task["id"], "Summarize:", activate=True)
        items = [
            {
                "id": str(uuid.uuid4()),
                "task_id": task["name"],
                "inputs": {"ticket": f"t{i}"},
                "prompt_text": "Summarize:",
                "response_text": f"r{i}",
                "model": "m",
                "tokens": 10 + i,
                "latency_ms": 2.5 * i,
                "prompt_version_id": version["id"],
                "metadata": {"route": "/x", "weights": [0.5, 1, None]},
            }
            for i in range(5)
        ]
        first = client.post("/api/v1/traces/batch", json={"items": items})
        assert first.status_code == 201, first.text
        replay = client.post(
            "/api/v1/traces/batch", json={"items": [*items, items[1] | {"tokens": 99}]}
        )
        assert replay.status_code == 201, replay.text
        assert replay.json() == [*first.json(), first.json()[1]]
        assert len(_rows(client, "traces", task)) == 5
        for row in first.json():  # the batch answer is the trace as every other route shows it
            assert client.get(f"/api/v1/traces/{row['id']}").json() == row


@pytest.mark.parametrize("kind", ["feedback", "traces"])
def test_concurrent_copies_of_a_batch_store_it_once(
    any_ct_server: CTServerProcess, kind: str
) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
    items = [
        {"id": str(uuid.uuid4()), "task_id": task["id"], "inputs": {"i": i}} for i in range(20)
    ]

    def send(_: int) -> httpx.Response:
        with any_ct_server.client() as own:
            return own.post(f"/api/v1/{kind}/batch", json={"items": items})

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(send, range(6)))
    assert [response.status_code for response in responses] == [201] * 6
    assert all(response.json() == responses[0].json() for response in responses)
    with any_ct_server.client() as client:
        stored = _rows(client, kind, task)
    assert sorted(row["id"] for row in stored) == sorted(item["id"] for item in items)


def test_feedback_batch_answer_matches_the_stored_rows(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        trace = client.post(
            "/api/v1/traces",
            json={"task_id": task["id"], "response_text": "r", "inputs": {"q": "from the trace"}},
        )
        assert trace.status_code == 201, trace.text
        items = [
            {
                "id": str(uuid.uuid4()),
                "task_id": task["id"],
                "inputs": {"q": "a"},
                "score": 1,
                # Beyond 64 bits: read by json.loads, not orjson (a float), answered by to_json.
                "metadata": {"u": "x", "big": 2**70 + 1},
            },
            {"task_id": task["id"], "trace_id": trace.json()["id"], "score": 0.25},
        ]
        response = client.post("/api/v1/feedback/batch", json={"items": items})
        assert response.status_code == 201, response.text
        answer = response.json()
        assert answer[0]["metadata"] == {"u": "x", "big": 2**70 + 1}
        assert answer[1]["inputs"] == {"q": "from the trace"}
        assert answer[1]["output"] == "r"
        stored = {row["id"]: row for row in _rows(client, "feedback", task)}
        assert [stored[row["id"]] for row in answer] == answer


def test_a_batch_crossing_thresholds_queues_one_job_per_task(
    queue_only_ct_server: CTServerProcess,
) -> None:
    with queue_only_ct_server.client() as client:
        first = make_task(client, feedback_threshold=5)
        second = make_task(client, feedback_threshold=5)
        items = [
            {"task_id": task["id"], "score": 0.5} for _ in range(12) for task in (first, second)
        ]
        assert client.post("/api/v1/feedback/batch", json={"items": items}).status_code == 201
        for task in (first, second):
            jobs = client.get("/api/v1/jobs", params={"task_id": task["id"]}).json()
            assert [job["triggered_by"] for job in jobs] == ["threshold"]


@pytest.mark.parametrize("kind", ["feedback", "traces"])
def test_values_nested_to_the_limit_are_stored_one_deeper_is_refused(
    ct_server: CTServerProcess, kind: str
) -> None:
    with ct_server.client() as client:
        task = make_task(client)
        deepest = {"task_id": task["id"], "inputs": {"a": _nested(MAX_JSON_DEPTH - 1)}}
        too_deep = {"task_id": task["id"], "metadata": {"a": _nested(MAX_JSON_DEPTH)}}
        url = f"/api/v1/{kind}/batch"
        assert_problem(
            client.post(url, json={"items": [deepest, too_deep]}),
            422,
            "body.items[1]: metadata.a",
            f"nested deeper than {MAX_JSON_DEPTH}",
        )
        assert _rows(client, kind, task) == []
        assert client.post(url, json={"items": [deepest]}).status_code == 201
