"""Values a database cannot store or a server cannot compute are 4xx problems, never a 500.

Over real HTTP, on SQLite and PostgreSQL: lone UTF-16 surrogates anywhere in a body (raw JSON
``"\\ud800"``), cursors whose time leaves the representable range, and scores that are not
JSON numbers. Each is refused with a problem naming it, nothing is stored, and later
listings still answer.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from tests.server.helpers import assert_problem, make_task
from tests.support.ct_server import CTServerProcess

SURROGATE = "\\ud800"  # as it appears in the raw JSON text


def _raw(client: httpx.Client, path: str, json_text: str) -> httpx.Response:
    return client.post(path, content=json_text, headers={"Content-Type": "application/json"})


def _listing(client: httpx.Client, kind: str, task: dict[str, Any]) -> list[Any]:
    response = client.get(f"/api/v1/{kind}", params={"task_id": task["id"]})
    assert response.status_code == 200, response.text
    rows: list[Any] = response.json()
    return rows


@pytest.mark.parametrize(
    ("kind", "template", "where"),
    [
        ("feedback", '{"task_id": "T", "metadata": {"note": "x%sy"}}', "metadata.note"),
        ("feedback", '{"task_id": "T", "inputs": {"q": "%s"}}', "inputs.q"),
        ("feedback", '{"task_id": "T", "inputs": {"%s": 1}}', "inputs key"),
        ("feedback", '{"task_id": "T", "output": "%s"}', "output"),
        ("feedback", '{"task_id": "T", "source": "%s"}', "source"),
        ("traces", '{"task_id": "T", "metadata": {"a": ["%s"]}}', "metadata.a[0]"),
        ("traces", '{"task_id": "T", "inputs": {"q": "%s"}}', "inputs.q"),
        ("traces", '{"task_id": "T", "response_text": "ok %s"}', "response_text"),
    ],
)
def test_a_lone_surrogate_is_422_and_nothing_is_stored(
    any_ct_server: CTServerProcess, kind: str, template: str, where: str
) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        body = template.replace("T", task["id"], 1) % SURROGATE
        single = _raw(client, f"/api/v1/{kind}", body)
        assert_problem(single, 422, where, "lone surrogate")
        batch = _raw(client, f"/api/v1/{kind}/batch", f'{{"items": [{body}]}}')
        assert_problem(batch, 422, "lone surrogate")
        assert _listing(client, kind, task) == []


@pytest.mark.parametrize("kind", ["feedback", "traces"])
def test_a_surrogate_sent_as_raw_bytes_is_422_and_nothing_is_stored(
    any_ct_server: CTServerProcess, kind: str
) -> None:
    """The surrogate's own UTF-8 bytes, not an escape (``json.loads`` decodes them): a body
    without escapes still gets its strings checked when it holds such bytes."""
    with any_ct_server.client() as client:
        task = make_task(client)
        item = b'{"task_id": "%s", "inputs": {"q": "a\xed\xa0\x80b"}}' % task["id"].encode()
        headers = {"Content-Type": "application/json"}
        single = client.post(f"/api/v1/{kind}", content=item, headers=headers)
        assert_problem(single, 422, "inputs.q", "lone surrogate")
        batch = client.post(
            f"/api/v1/{kind}/batch", content=b'{"items": [%s]}' % item, headers=headers
        )
        assert_problem(batch, 422, "lone surrogate")
        assert _listing(client, kind, task) == []


def test_a_surrogate_in_a_trace_score_or_prompt_version_is_422(
    any_ct_server: CTServerProcess,
) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        trace = client.post("/api/v1/traces", json={"task_id": task["id"]}).json()
        scored = _raw(
            client,
            f"/api/v1/traces/{trace['id']}/score",
            f'{{"score": 0.5, "scored_by": "{SURROGATE}"}}',
        )
        assert_problem(scored, 422, "scored_by", "lone surrogate")
        version = _raw(
            client, f"/api/v1/prompts/{task['id']}/versions", f'{{"prompt_text": "a{SURROGATE}"}}'
        )
        assert_problem(version, 422, "prompt_text", "lone surrogate")
        described = client.patch(
            f"/api/v1/tasks/{task['id']}",
            content=f'{{"description": "{SURROGATE}"}}',
            headers={"Content-Type": "application/json"},
        )
        assert_problem(described, 422, "description", "lone surrogate")
        assert client.get(f"/api/v1/prompts/{task['id']}/versions").json() == []
        assert _listing(client, "feedback", task) == []


def _cursor(moment: str) -> str:
    raw = json.dumps([moment, uuid.uuid4().hex]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _paginated_paths(client: httpx.Client) -> list[str]:
    spec = client.get("/openapi.json").json()
    return sorted(
        path
        for path, operations in spec["paths"].items()
        if any(p["name"] == "cursor" for p in operations.get("get", {}).get("parameters", []))
    )


@pytest.mark.parametrize(
    "moment",
    ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-01-01T00:00:00"],
)
def test_a_cursor_out_of_range_is_422_on_every_paginated_endpoint(
    any_ct_server: CTServerProcess, moment: str
) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        paths = _paginated_paths(client)
        assert len(paths) >= 3, paths
        for path in paths:
            url = path.replace("{task}", task["id"]).replace("{task_id}", task["id"])
            response = client.get(url, params={"cursor": _cursor(moment)})
            assert_problem(response, 422, "cursor")


@pytest.mark.parametrize("score", ["0.5", "1", True, False, [0.5], {"v": 1}])
def test_scores_are_json_numbers_only_on_every_endpoint(
    any_ct_server: CTServerProcess, score: Any
) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        item = {"task_id": task["id"], "score": score}
        assert_problem(client.post("/api/v1/feedback", json=item), 422, "score")
        assert_problem(client.post("/api/v1/feedback/batch", json={"items": [item]}), 422, "score")
        trace = client.post("/api/v1/traces", json={"task_id": task["id"]}).json()
        scored = client.post(f"/api/v1/traces/{trace['id']}/score", json={"score": score})
        assert_problem(scored, 422, "score")
        version = client.post(
            f"/api/v1/prompts/{task['id']}/versions", json={"prompt_text": "p", "eval_score": score}
        )
        assert_problem(version, 422, "eval_score")
        margin = client.patch(f"/api/v1/tasks/{task['id']}", json={"activation_margin": score})
        assert_problem(margin, 422, "activation_margin")
        assert _listing(client, "feedback", task) == []
        accepted = client.post("/api/v1/feedback", json=item | {"score": 1})
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["score"] == 1.0
