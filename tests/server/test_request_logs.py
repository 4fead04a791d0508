"""Structured request logs: one JSON object per request, never the API key."""

from __future__ import annotations

import json

from tests.support.ct_server import CTServerProcess


def test_request_logs_are_json_without_secrets(tuned_ct_server: CTServerProcess) -> None:
    with tuned_ct_server.client() as client:
        assert client.get("/api/v1/tasks", params={"name": "x"}).status_code == 200
        assert client.get("/api/v1/tasks/missing").status_code == 404
    log = tuned_ct_server.read_log()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [r for r in records if r.get("logger") == "kaizen_server.access"]
    statuses = {(r["method"], r["path"], r["status"]) for r in requests}
    assert {("GET", "/api/v1/tasks", 200), ("GET", "/api/v1/tasks/missing", 404)} <= statuses
    assert all(isinstance(r["duration_ms"], float | int) for r in requests)
    assert tuned_ct_server.api_key not in log
