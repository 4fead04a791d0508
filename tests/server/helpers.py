"""Small helpers shared by the CT server tests: unique names, task creation, problem checks."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def unique_name(prefix: str = "task") -> str:
    """A task name no other test uses (the session server is shared)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def make_task(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """Create a task (unique name unless given) and return its JSON."""
    body = {"name": unique_name()} | fields
    response = client.post("/api/v1/tasks", json=body)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def add_version(
    client: httpx.Client, task: str, text: str, *, activate: bool = False
) -> dict[str, Any]:
    """Store a hand-written prompt version of ``task``."""
    response = client.post(
        f"/api/v1/prompts/{task}/versions", json={"prompt_text": text, "activate": activate}
    )
    assert response.status_code == 201, response.text
    version: dict[str, Any] = response.json()
    return version


def feedback_body(task: str, **fields: Any) -> dict[str, Any]:
    """A complete ``POST /api/v1/feedback`` body for ``task``; ``fields`` replace or add keys."""
    return {
        "task_id": task,
        "inputs": {"ticket": "Login fails"},
        "output": "Login issue.",
        "score": 0.9,
        "source": "sdk",
    } | fields


def assert_problem(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """Check an RFC 7807 problem response and that its detail mentions ``fragments``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    for fragment in fragments:
        assert fragment in body["detail"], body
    return body
