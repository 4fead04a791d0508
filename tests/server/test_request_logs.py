"""Structured request logs: one JSON object per request, never the API key."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.ct_server import CTServerProcess

EXPECTED = {("GET", "/api/v1/tasks", 200), ("GET", "/api/v1/tasks/missing", 404)}


def _access_records(log: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("logger") == "kaizen_server.access"]


def test_request_logs_are_json_without_secrets(tuned_ct_server: CTServerProcess) -> None:
    with tuned_ct_server.client() as client:
        assert client.get("/api/v1/tasks", params={"name": "x"}).status_code == 200
        assert client.get("/api/v1/tasks/missing").status_code == 404
    # A request's line is written once its response is sent, so it may trail the answer.
    deadline = time.monotonic() + 5.0
    while True:
        log = tuned_ct_server.read_log()
        requests = _access_records(log)
        statuses = {(r["method"], r["path"], r["status"]) for r in requests}
        if statuses >= EXPECTED or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert statuses >= EXPECTED
    assert all(isinstance(r["duration_ms"], float | int) for r in requests)
    assert tuned_ct_server.api_key not in log
