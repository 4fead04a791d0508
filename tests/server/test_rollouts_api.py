"""Rollouts over HTTP against the real server (SQLite and PostgreSQL): start, live figures from
the ratings of each version's traces, the recommendation, promote, stop, and bad input."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.optimization.job_helpers import create_task
from tests.support.ct_server import CTServerProcess

API = "/api/v1"


def _version(client: httpx.Client, task: str, text: str, *, activate: bool) -> dict[str, Any]:
    made = client.post(
        f"{API}/prompts/{task}/versions", json={"prompt_text": text, "activate": activate}
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def _task_with_two_versions(client: httpx.Client) -> tuple[str, dict[str, Any], dict[str, Any]]:
    task = create_task(client)
    baseline = _version(client, task["id"], "Summarize the ticket.", activate=True)
    candidate = _version(client, task["id"], "Summarize the ticket in one line.", activate=False)
    return str(task["id"]), baseline, candidate


def _rate(
    client: httpx.Client,
    task: str,
    version: str,
    scores: list[float],
    latency_ms: float = 100.0,
    failed: int = 0,
) -> None:
    """Record a trace served with ``version`` and rate it, once per score; then ``failed``
    traces of calls that failed (unrated)."""
    traces = [
        {
            "id": str(uuid.uuid4()),
            "task_id": task,
            "prompt_version_id": version,
            "response_text": "answer",
            "latency_ms": latency_ms,
        }
        for _ in scores
    ]
    if failed:
        errors = [
            {"task_id": task, "prompt_version_id": version, "error": "LLM returned HTTP 500"}
        ] * failed
        stored = client.post(f"{API}/traces/batch", json={"items": errors})
        assert stored.status_code in (200, 201), stored.text
    sent = client.post(f"{API}/traces/batch", json={"items": traces})
    assert sent.status_code in (200, 201), sent.text
    ratings = [
        {"task_id": task, "trace_id": trace["id"], "output": "answer", "score": score}
        for trace, score in zip(traces, scores, strict=True)
    ]
    rated = client.post(f"{API}/feedback/batch", json={"items": ratings})
    assert rated.status_code in (200, 201), rated.text


def test_a_rollout_counts_each_versions_ratings_and_promotes(
    any_ct_server: CTServerProcess,
) -> None:
    with any_ct_server.client() as client:
        task, baseline, candidate = _task_with_two_versions(client)
        _rate(client, task, baseline["id"], [1.0])  # before the rollout: not counted
        started = client.post(
            f"{API}/prompts/{task}/rollout",
            json={"version_id": candidate["id"], "share": 0.2, "min_ratings_per_arm": 30},
        )
        assert started.status_code == 201, started.text
        assert started.json()["status"] == "running"
        again = client.post(
            f"{API}/prompts/{task}/rollout", json={"version_id": candidate["id"], "share": 0.5}
        )
        assert again.status_code == 409, again.text
        assert "already has a running rollout" in again.json()["detail"]

        _rate(client, task, baseline["id"], [1.0] * 30 + [0.0] * 70)
        _rate(client, task, candidate["id"], [1.0] * 85 + [0.25] * 15, latency_ms=120.0)
        rollout = client.get(f"{API}/prompts/{task}/rollout").json()
        assert (rollout["baseline"]["ratings"], rollout["baseline"]["successes"]) == (100, 30)
        assert (rollout["candidate"]["ratings"], rollout["candidate"]["successes"]) == (100, 85)
        assert (rollout["baseline"]["requests"], rollout["candidate"]["requests"]) == (100, 100)
        assert rollout["candidate"]["latency_p95_ms"] == 120.0
        assert rollout["difference"] == pytest.approx(0.85 - 0.30)
        low, high = rollout["interval"]
        assert 0.0 < low < 0.55 < high
        assert (rollout["recommendation"], rollout["rule"]) == ("promote", "candidate_better")
        assert rollout["p_value"] < rollout["alpha"]

        promoted = client.post(f"{API}/prompts/{task}/rollout/promote", json={"reason": "wins"})
        assert promoted.status_code == 200, promoted.text
        assert (promoted.json()["status"], promoted.json()["end_reason"]) == ("promoted", "wins")
        assert promoted.json()["ended_at"] is not None
        active = client.get(f"{API}/prompts/{task}").json()
        assert active["id"] == candidate["id"]
        listed = client.get(f"{API}/prompts/{task}/versions").json()
        versions = {version["id"]: version["status"] for version in listed}
        assert versions[baseline["id"]] == "archived"
        ended = client.post(f"{API}/prompts/{task}/rollout/promote")
        assert ended.status_code == 409, ended.text
        assert "no running rollout" in ended.json()["detail"]
        history = client.get(f"{API}/prompts/{task}/rollouts").json()
    assert [r["status"] for r in history] == ["promoted"]
    assert history[0]["candidate"]["ratings"] == 100


def test_stopping_rolls_back_and_activation_ends_a_rollout(ct_server: CTServerProcess) -> None:
    with ct_server.client() as client:
        task, baseline, candidate = _task_with_two_versions(client)
        start = {"version_id": candidate["id"], "share": 0.5}
        assert client.post(f"{API}/prompts/{task}/rollout", json=start).status_code == 201
        _rate(client, task, candidate["id"], [0.0, 0.0])
        stopped = client.post(f"{API}/prompts/{task}/rollout/stop")
        assert stopped.status_code == 200, stopped.text
        assert (stopped.json()["status"], stopped.json()["end_reason"]) == (
            "stopped",
            "stopped by an operator",
        )
        assert stopped.json()["candidate"]["ratings"] == 2
        assert client.get(f"{API}/prompts/{task}").json()["id"] == baseline["id"]

        assert client.post(f"{API}/prompts/{task}/rollout", json=start).status_code == 201
        third = _version(client, task, "Summarize it briefly.", activate=False)
        activated = client.post(f"{API}/prompts/{task}/activate", json={"version_id": third["id"]})
        assert activated.status_code == 200, activated.text
        latest = client.get(f"{API}/prompts/{task}/rollout").json()
    assert latest["status"] == "stopped"
    assert latest["end_reason"] == f"version {third['version_number']} was activated instead"


def _wait_until_ended(client: httpx.Client, task: str, deadline_s: float = 15.0) -> dict[str, Any]:
    """Poll the rollout until it is no longer running (the server's check runs every 0.2 s)."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        rollout = dict(client.get(f"{API}/prompts/{task}/rollout").json())
        if rollout["status"] != "running":
            return rollout
        time.sleep(0.05)
    raise AssertionError(f"the rollout of {task} was still running after {deadline_s}s")


@pytest.mark.parametrize(
    ("candidate_scores", "status", "rule", "active"),
    [
        ([1.0] * 85 + [0.0] * 15, "promoted", "candidate_better", "candidate"),
        ([1.0] * 5 + [0.0] * 95, "stopped", "candidate_worse", "baseline"),
    ],
)
def test_an_auto_decide_rollout_is_ended_by_the_server_on_the_evidence(
    any_ct_server: CTServerProcess,
    candidate_scores: list[float],
    status: str,
    rule: str,
    active: str,
) -> None:
    with any_ct_server.client() as client:
        task, baseline, candidate = _task_with_two_versions(client)
        watched = {"version_id": candidate["id"], "share": 0.5, "min_ratings_per_arm": 30}
        started = client.post(f"{API}/prompts/{task}/rollout", json=watched | {"auto_decide": True})
        assert started.status_code == 201, started.text
        assert started.json()["auto_decide"] is True
        _rate(client, task, baseline["id"], [1.0] * 40 + [0.0] * 60)
        _rate(client, task, candidate["id"], candidate_scores)
        ended = _wait_until_ended(client, task)
        assert ended["status"] == status
        assert ended["end_reason"].startswith(f"automatic ({rule}): ")
        assert ended["candidate"]["ratings"] == 100  # the figures stay those it decided on
        served = client.get(f"{API}/prompts/{task}").json()
        assert served["id"] == {"candidate": candidate, "baseline": baseline}[active]["id"]
        assert served.get("rollout") is None


def test_without_auto_decide_the_server_only_recommends(ct_server: CTServerProcess) -> None:
    with ct_server.client() as client:
        task, baseline, candidate = _task_with_two_versions(client)
        start = {"version_id": candidate["id"], "share": 0.5, "min_ratings_per_arm": 30}
        assert client.post(f"{API}/prompts/{task}/rollout", json=start).status_code == 201
        _rate(client, task, baseline["id"], [1.0] * 40 + [0.0] * 60)
        _rate(client, task, candidate["id"], [1.0] * 85 + [0.0] * 15)
        # An auto_decide rollout on another task, rated the same, ends within the check interval.
        other, other_baseline, other_candidate = _task_with_two_versions(client)
        auto = {"version_id": other_candidate["id"], "share": 0.5, "min_ratings_per_arm": 30}
        assert (
            client.post(
                f"{API}/prompts/{other}/rollout", json=auto | {"auto_decide": True}
            ).status_code
            == 201
        )
        _rate(client, other, other_baseline["id"], [1.0] * 40 + [0.0] * 60)
        _rate(client, other, other_candidate["id"], [1.0] * 85 + [0.0] * 15)
        assert _wait_until_ended(client, other)["status"] == "promoted"
        rollout = client.get(f"{API}/prompts/{task}/rollout").json()
    assert (rollout["status"], rollout["recommendation"]) == ("running", "promote")
    assert rollout["auto_decide"] is False


def test_a_candidate_that_fails_more_often_is_rolled_back_by_the_error_guardrail(
    ct_server: CTServerProcess,
) -> None:
    with ct_server.client() as client:
        task, baseline, candidate = _task_with_two_versions(client)
        start = {"version_id": candidate["id"], "share": 0.5, "auto_decide": True}
        assert client.post(f"{API}/prompts/{task}/rollout", json=start).status_code == 201
        # Both fail now and then (the LLM's own errors); the candidate fails far more often.
        _rate(client, task, baseline["id"], [1.0] * 95, failed=5)
        _rate(client, task, candidate["id"], [1.0] * 40, failed=20)
        ended = _wait_until_ended(client, task)
        traced = client.get(f"{API}/traces", params={"task_id": task, "limit": 200}).json()
    assert (ended["baseline"]["requests"], ended["baseline"]["errors"]) == (100, 5)
    assert (ended["candidate"]["requests"], ended["candidate"]["errors"]) == (60, 20)
    assert ended["status"] == "stopped"
    assert ended["end_reason"].startswith("automatic (error_rate): ")
    assert "33.3 %" in ended["end_reason"]  # 20 of 60 requests, above 5 % + 5 points
    items = traced["items"] if isinstance(traced, dict) else traced
    assert sum(item["error"] == "LLM returned HTTP 500" for item in items) == 25


def test_errors_within_the_margin_over_the_baseline_do_not_roll_back(
    ct_server: CTServerProcess,
) -> None:
    with ct_server.client() as client:
        task, baseline, candidate = _task_with_two_versions(client)
        start = {"version_id": candidate["id"], "share": 0.5}
        assert client.post(f"{API}/prompts/{task}/rollout", json=start).status_code == 201
        _rate(client, task, baseline["id"], [1.0] * 80, failed=20)  # a flaky LLM: 20 %
        _rate(client, task, candidate["id"], [1.0] * 77, failed=23)  # 23 %: within 5 points
        rollout = client.get(f"{API}/prompts/{task}/rollout").json()
    assert rollout["candidate"]["errors"] == 23
    assert rollout["rule"] != "error_rate", rollout["reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"share": 0.2}, "version_id"),
        ({"version_id": "x", "share": 0}, "share"),
        ({"version_id": "x", "share": 1}, "share"),
        ({"version_id": "x", "share": "half"}, "share"),
        ({"version_id": "x", "share": 0.2, "min_ratings_per_arm": 0}, "min_ratings_per_arm"),
        ({"version_id": "x", "share": 0.2, "max_duration_hours": -1}, "max_duration_hours"),
        ({"version_id": "x", "share": 0.2, "auto": True}, "auto"),
        ({"version_id": "x", "share": 0.2, "auto_decide": "maybe"}, "auto_decide"),
    ],
)
def test_a_bad_start_is_a_422_naming_the_field(
    ct_server: CTServerProcess, body: dict[str, Any], field: str
) -> None:
    with ct_server.client() as client:
        task, _, _ = _task_with_two_versions(client)
        response = client.post(f"{API}/prompts/{task}/rollout", json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert f"body.{field}" in response.json()["detail"]
        assert client.get(f"{API}/prompts/{task}/rollout").status_code == 404


def test_a_rollout_needs_a_candidate_of_the_task_beside_an_active_version(
    ct_server: CTServerProcess,
) -> None:
    with ct_server.client() as client:
        task, baseline, _ = _task_with_two_versions(client)
        _, _, foreign = _task_with_two_versions(client)
        cases = {
            foreign["id"]: (404, "not found for task"),
            baseline["id"]: (409, "already the active version"),
            str(uuid.uuid4()): (404, "not found for task"),
        }
        for version_id, (status, message) in cases.items():
            response = client.post(
                f"{API}/prompts/{task}/rollout", json={"version_id": version_id, "share": 0.1}
            )
            assert response.status_code == status, response.text
            assert message in response.json()["detail"]
        bare = create_task(client)
        draft = _version(client, bare["id"], "A draft.", activate=False)
        response = client.post(
            f"{API}/prompts/{bare['id']}/rollout", json={"version_id": draft["id"], "share": 0.1}
        )
        assert response.status_code == 409, response.text
        assert "no active version" in response.json()["detail"]
        assert client.get(f"{API}/prompts/{task}/rollout").status_code == 404
        assert client.post(f"{API}/prompts/{task}/rollout/stop").status_code == 409
