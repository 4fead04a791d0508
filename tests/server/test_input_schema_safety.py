"""A task's ``schema_json`` comes from a client: validating with it cannot stall the server.

Over real HTTP, on SQLite and PostgreSQL. The catastrophic-backtracking pattern below takes
Python's ``re`` about 4 s at 24 characters and 2.5x more per character; at 40 characters it
would not finish within the test timeout, so these tests fail (time out) on a backtracking
engine and pass on the linear-time one.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.helpers import assert_problem, make_task, unique_name
from tests.support.ct_server import CTServerProcess
from tests.support.json_server import LoopbackJSONServer

EVIL = "^(a+)+$"
ATTACK = "a" * 40 + "!"


def _feedback(task: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return {"task_id": task["id"], "inputs": inputs, "score": 1.0}


@pytest.mark.timeout(60)
def test_a_backtracking_pattern_is_answered_at_once_on_every_write_path(
    any_ct_server: CTServerProcess,
) -> None:
    schema = {"type": "object", "properties": {"t": {"type": "string", "pattern": EVIL}}}
    with any_ct_server.client() as client:
        task = make_task(client, schema_json=schema)
        single = client.post("/api/v1/feedback", json=_feedback(task, {"t": ATTACK}))
        assert_problem(single, 422, "body.inputs.t", "does not match")
        batch = client.post(
            "/api/v1/feedback/batch", json={"items": [_feedback(task, {"t": ATTACK})]}
        )
        assert_problem(batch, 422, "body.items[0].inputs.t")
        trace = client.post("/api/v1/traces", json={"task_id": task["id"], "inputs": {"t": ATTACK}})
        assert_problem(trace, 422, "body.inputs.t")
        assert client.get("/health").status_code == 200
        good = client.post("/api/v1/feedback", json=_feedback(task, {"t": "aaaa"}))
        assert good.status_code == 201, good.text


@pytest.mark.timeout(60)
def test_pattern_properties_and_property_names_are_linear_too(
    any_ct_server: CTServerProcess,
) -> None:
    schemas = [
        {"type": "object", "patternProperties": {EVIL: {"type": "integer"}}},
        {
            "type": "object",
            "properties": {"x": {"type": "object", "propertyNames": {"pattern": EVIL}}},
        },
        {
            "type": "object",
            "properties": {
                "x": {
                    "type": "object",
                    "additionalProperties": False,
                    "patternProperties": {EVIL: {}},
                }
            },
        },
    ]
    with any_ct_server.client() as client:
        for schema in schemas:
            task = make_task(client, schema_json=schema)
            inputs = {ATTACK: "x"} if "patternProperties" in schema else {"x": {ATTACK: 1}}
            response = client.post("/api/v1/feedback", json=_feedback(task, inputs))
            assert response.status_code in (201, 422), response.text
            assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"properties": {"t": {"pattern": "^(?!admin)"}}}, "properties.t.pattern"),
        ({"properties": {"t": {"pattern": "(a)\\1"}}}, "no backreferences"),
        ({"type": "object", "patternProperties": {"(?<=x)y": {}}}, "patternProperties"),
        ({"properties": {"t": {"pattern": "a{1000}{1000}"}}}, "properties.t.pattern"),
        ({"properties": {"t": {"type": "nope"}}}, "properties.t.type"),
    ],
)
def test_schemas_the_linear_engine_cannot_run_are_422_at_task_creation(
    any_ct_server: CTServerProcess, schema: dict[str, Any], fragment: str
) -> None:
    with any_ct_server.client() as client:
        name = unique_name()
        response = client.post("/api/v1/tasks", json={"name": name, "schema_json": schema})
        assert_problem(response, 422, "body.schema_json", fragment)
        assert client.get(f"/api/v1/tasks/{name}").status_code == 404


def test_a_remote_ref_is_never_fetched(any_ct_server: CTServerProcess) -> None:
    hits: list[str] = []

    def record(method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        hits.append(path)
        return 200, {"type": "string"}

    with LoopbackJSONServer(record) as remote, any_ct_server.client() as client:
        schema = {"type": "object", "properties": {"t": {"$ref": f"{remote.base_url}/s.json"}}}
        response = client.post("/api/v1/tasks", json={"name": unique_name(), "schema_json": schema})
        assert_problem(response, 422, "body.schema_json", "Retrieval is disabled")
    assert hits == []


def test_an_oversized_schema_is_422(ct_server: CTServerProcess) -> None:
    properties = {f"field_{index}": {"type": "string", "maxLength": 10} for index in range(3000)}
    with ct_server.client() as client:
        response = client.post(
            "/api/v1/tasks",
            json={
                "name": unique_name(),
                "schema_json": {"type": "object", "properties": properties},
            },
        )
        assert_problem(response, 422, "body.schema_json", "at most 65536")
