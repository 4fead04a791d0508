"""Every error is an RFC 7807 problem, and no input produces a 500."""

from __future__ import annotations

from tests.server.helpers import assert_problem, make_task
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_get


def test_missing_and_invalid_keys_are_401(any_ct_server: CTServerProcess) -> None:
    anonymous = loopback_get(f"{any_ct_server.base_url}/api/v1/tasks")
    assert_problem(anonymous, 401, "Missing X-API-Key")
    wrong = loopback_get(f"{any_ct_server.base_url}/api/v1/tasks/", headers={"X-API-Key": "nope"})
    assert_problem(wrong, 401, "Invalid")
    events = loopback_get(f"{any_ct_server.base_url}/api/v1/events/prompts")
    assert_problem(events, 401)


def test_health_and_ready_need_no_key(any_ct_server: CTServerProcess) -> None:
    assert loopback_get(f"{any_ct_server.base_url}/health").json() == {"status": "ok"}
    assert loopback_get(f"{any_ct_server.base_url}/health/").json() == {"status": "ok"}
    assert loopback_get(f"{any_ct_server.base_url}/ready").json() == {"status": "ready"}


def test_unknown_paths_and_methods(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        assert_problem(client.get("/api/v1/nothing-here"), 404)
        response = assert_problem(client.put("/api/v1/tasks"), 405)
        assert response["title"] == "Method Not Allowed"
        assert_problem(client.get("/api/v1/tasks/\u00e9t\u00e9-unknown"), 404)
        assert_problem(client.get("/api/v1/tasks/" + "x" * 5000), 404)


def test_body_over_limit_is_413(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        big = {"task_id": task["id"], "output": "x" * (1024 * 1024 + 10)}
        assert_problem(client.post("/api/v1/feedback", json=big), 413, "limit")

        def chunks() -> object:
            for _ in range(300):
                yield b"x" * 4096

        streamed = client.post(
            "/api/v1/feedback", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(streamed, 413)
        assert client.get("/api/v1/feedback", params={"task_id": task["id"]}).json() == []


def test_malformed_bodies_are_4xx_problems(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        raw_cases = [
            b"{not json",
            b"[]",
            b"null",
            b'"string"',
            b'{"task_id": "' + task["id"].encode() + b'", "score": NaN}',
            b'{"task_id": "' + task["id"].encode() + b'", "score": 1e999}',
            b'{"task_id": "' + task["id"].encode() + b'", "inputs": {"a": Infinity}}',
            b"[" * 100_000,
            b"\xff\xfe",
        ]
        for raw in raw_cases:
            response = client.post(
                "/api/v1/feedback", content=raw, headers={"content-type": "application/json"}
            )
            assert 400 <= response.status_code < 500, (raw[:40], response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        typed = [
            ({"task_id": task["id"], "score": "high"}, "body.score"),
            ({"task_id": task["id"], "inputs": [1, 2]}, "body.inputs"),
            ({"task_id": 5}, "body.task_id"),
            ({"task_id": task["id"], "output": "nul\u0000"}, "NUL"),
            ({"task_id": task["id"], "inputs": {"k\u0000": "v"}}, "NUL"),
            ({"task_id": task["id"], "metadata": {"deep": [[[[[[[[[[[[1]]]]]]]]]]]]}}, None),
            ({"task_id": task["id"], "id": "not-a-uuid"}, "body.id"),
            ({"task_id": "x" * 300}, "body.task_id"),
            ({"task_id": "nul\u0000name"}, None),
        ]
        for body, fragment in typed:
            response = client.post("/api/v1/feedback", json=body)
            assert 400 <= response.status_code < 500 or response.status_code == 201, response.text
            if fragment is not None:
                assert_problem(response, 422, fragment)
        huge = {"task_id": task["id"], "inputs": {"n": 10**400}}
        assert client.post("/api/v1/feedback", json=huge).status_code in (201, 422)
        traces = [
            ({"task_id": task["id"], "tokens": 10**20}, "body.tokens"),
            ({"task_id": task["id"], "latency_ms": -1}, "body.latency_ms"),
        ]
        for body, fragment in traces:
            assert_problem(client.post("/api/v1/traces", json=body), 422, fragment)


def test_validation_problem_lists_errors(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        response = client.post("/api/v1/feedback", json={"score": 3})
        body = assert_problem(response, 422, "body.task_id", "body.score")
        locations = {tuple(error["loc"]) for error in body["errors"]}
        assert {("body", "task_id"), ("body", "score")} <= locations
        assert all(isinstance(error["msg"], str) for error in body["errors"])


def test_bad_query_and_header_values(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        assert_problem(client.get("/api/v1/jobs", params={"limit": "many"}), 422, "limit")
        assert_problem(client.get("/api/v1/tasks", params={"limit": 0}), 422, "limit")
        assert_problem(client.get("/api/v1/tasks", params={"name": "a\u0000b"}), 422)
        assert_problem(
            client.get("/api/v1/events/prompts", headers={"Last-Event-ID": "abc"}),
            422,
            "Last-Event-ID",
        )


def test_405_lists_every_method_of_the_path(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        for path, expected in [
            ("/api/v1/tasks", {"GET", "POST"}),
            ("/api/v1/feedback", {"GET", "POST"}),
        ]:
            response = client.put(path, json={})
            assert response.status_code == 405, path
            assert response.headers["content-type"] == "application/problem+json"
            assert expected <= {m.strip() for m in response.headers["allow"].split(",")}, path
        task = make_task(client)
        response = client.put(f"/api/v1/tasks/{task['id']}", json={})
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert {"GET", "PATCH", "DELETE"} <= allowed
