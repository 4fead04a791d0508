"""End-user feedback through kaizen_router reaches the CT server exactly once; abuse is
rejected with RFC 7807 problems and stores nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kaizen_fastapi import KaizenSettings
from kaizen_fastapi.testing import kaizen_test_settings
from kaizen_fastapi.tokens import FeedbackTokenSigner, derive_token_key
from tests.fastapi.demo_app import (
    build_app,
    create_task_with_prompt,
    feedback_rows,
    runtime_of,
    wait_for,
)
from tests.support.ct_server import CTServerProcess


def _serve(http: TestClient) -> dict[str, Any]:
    response = http.post("/summarize", json={"ticket": "The printer is on fire"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_feedback_arrives_exactly_once_with_the_trace_it_rates(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:", schema={"ticket": "string"})
    settings = kaizen_test_settings(
        ct_server.base_url, ct_server.api_key, prompt_routes={"/summarize*": unique_task}
    )
    with TestClient(build_app(settings)) as http:
        served = _serve(http)
        assert served["ct"] == ct_server.base_url  # the handler got the shared client
        accepted = http.post(
            "/kaizen/feedback",
            json={"token": served["feedback_token"], "rating": "up", "comment": "Spot on"},
        )
        assert accepted.status_code == 202
        assert accepted.json()["status"] == "accepted"
        replay = http.post(
            "/kaizen/feedback", json={"token": served["feedback_token"], "rating": "down"}
        )
        assert replay.status_code == 409
        assert replay.headers["content-type"] == "application/problem+json"
        rows = wait_for(lambda: feedback_rows(ct_server, unique_task), 10, "the feedback row")
        runtime = runtime_of(http.app_state)
        wait_for(lambda: runtime.queue.pending == 0, 10, "an empty queue")
    rows = feedback_rows(ct_server, unique_task)
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == accepted.json()["feedback_id"]
    assert row["trace_id"] == served["trace_id"]
    assert row["score"] == 1.0
    assert row["source"] == "end_user"
    assert row["metadata"]["comment"] == "Spot on"
    assert row["output"] == served["summary"]  # filled from the trace by the server
    with ct_server.client() as api:
        trace = api.get(f"/api/v1/traces/{served['trace_id']}").json()
    assert trace["score"] == 1.0
    assert trace["inputs"] == {"ticket": "The printer is on fire"}
    assert trace["prompt_text"] == "Summarize:"
    assert runtime.metrics_snapshot()["feedback_sent"] == 1


def test_score_endpoint_scores_the_trace(ct_server: CTServerProcess, unique_task: str) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:")
    settings = kaizen_test_settings(
        ct_server.base_url, ct_server.api_key, prompt_routes={"/summarize*": unique_task}
    )
    with TestClient(build_app(settings)) as http:
        served = _serve(http)
        response = http.post(
            "/kaizen/score", json={"token": served["feedback_token"], "score": 0.25}
        )
        assert response.status_code == 202

        def trace_score() -> Any:
            with ct_server.client() as api:
                found = api.get(f"/api/v1/traces/{served['trace_id']}")
                return found.status_code == 200 and found.json()["score"] == 0.25

        wait_for(trace_score, 10, "the trace score")


BAD_BODIES: list[tuple[dict[str, Any], int, str]] = [
    ({"rating": "up"}, 422, "token"),
    ({"token": "{token}", "score": 1.5}, 422, "less than or equal to 1"),
    ({"token": "{token}", "score": -0.1}, 422, "greater than or equal to 0"),
    ({"token": "{token}", "score": "0.5"}, 422, "valid number"),
    ({"token": "{token}", "score": True}, 422, "valid number"),
    ({"token": "{token}", "rating": "up", "comment": "a\x00b"}, 422, "NUL characters"),
    ({"token": "{token}", "rating": "meh"}, 422, "rating"),
    ({"token": "{token}", "rating": "up", "score": 1.0}, 422, "exactly one"),
    ({"token": "{token}"}, 422, "exactly one"),
    ({"token": "{token}", "rating": "up", "user_id": "admin"}, 422, "user_id"),
    ({"token": "{token}", "rating": "up", "comment": "x" * 2001}, 422, "2000"),
]


def test_forged_expired_replayed_tokens_and_bad_bodies_store_nothing(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:")
    settings = kaizen_test_settings(
        ct_server.base_url,
        ct_server.api_key,
        prompt_routes={"/summarize*": unique_task},
        rate_limit_burst=1000,
    )
    with TestClient(build_app(settings)) as http:
        token = _serve(http)["feedback_token"]
        payload, _, signature = token.partition(".")
        forged_claims = FeedbackTokenSigner(derive_token_key("guessed-secret"), ttl=60)
        expired = FeedbackTokenSigner(
            derive_token_key(ct_server.api_key), ttl=1, clock=lambda: time.time() - 60
        )
        rejected = {
            "forged": forged_claims.issue(task_id=unique_task, trace_id="any-trace"),
            "tampered": payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature,
            "garbage": "not-a-token",
            "expired": expired.issue(task_id=unique_task, trace_id="any-trace"),
        }
        for name, bad in rejected.items():
            response = http.post("/kaizen/feedback", json={"token": bad, "rating": "up"})
            assert response.status_code == 401, name
            problem = response.json()
            assert problem["status"] == 401, name
            assert ("expired" in problem["title"].lower()) == (name == "expired")
        for body, status, mention in BAD_BODIES:
            filled = {k: (token if v == "{token}" else v) for k, v in body.items()}
            response = http.post("/kaizen/feedback", json=filled)
            assert response.status_code == status, (body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert mention in response.text, (mention, response.text)
        surrogate = http.post(
            "/kaizen/feedback",
            content=f'{{"token": "{token}", "rating": "up", "comment": "a\\ud800b"}}',
            headers={"content-type": "application/json"},
        )
        assert surrogate.status_code == 422, surrogate.text
        assert "lone surrogate" in surrogate.text
        oversized = http.post(
            "/kaizen/feedback", json={"token": token, "rating": "up", "comment": "x" * 20_000}
        )
        assert oversized.status_code == 413
        chunked = http.post(
            "/kaizen/feedback",
            content=iter([b'{"token": "', b"x" * 20_000]),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413  # no Content-Length: counted while reading
        not_json = http.post(
            "/kaizen/feedback", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 422
        runtime = runtime_of(http.app_state)
        assert runtime.metrics.feedback_queued == 0
        # the genuine token was never consumed by the rejected attempts
        assert http.post("/kaizen/score", json={"token": token, "score": 0.5}).status_code == 202
        assert http.post("/kaizen/score", json={"token": token, "score": 0.5}).status_code == 409
        wait_for(
            lambda: runtime.queue.pending == 0 and runtime.metrics.feedback_sent == 1,
            10,
            "the one valid feedback to be sent",
        )
    assert len(feedback_rows(ct_server, unique_task)) == 1


def test_floods_get_429_with_retry_after(ct_server: CTServerProcess, unique_task: str) -> None:
    settings = kaizen_test_settings(
        ct_server.base_url,
        ct_server.api_key,
        rate_limit_burst=5,
        rate_limit_per_second=0.5,
        prompt_routes={"/summarize*": unique_task},
    )
    with TestClient(build_app(settings)) as http:
        statuses = [
            http.post("/kaizen/feedback", json={"token": "x", "rating": "up"}) for _ in range(8)
        ]
    assert [r.status_code for r in statuses[:5]] == [401] * 5
    assert {r.status_code for r in statuses[5:]} == {429}
    assert int(statuses[-1].headers["Retry-After"]) >= 1
    assert statuses[-1].json()["title"] == "Too many requests"


@pytest.mark.parametrize("path", ["/kaizen/feedback", "/kaizen/score"])
def test_openapi_documents_bodies_examples_and_problems(
    path: str, down_settings: Callable[..., KaizenSettings]
) -> None:
    schema = build_app(down_settings()).openapi()
    operation = schema["paths"][path]["post"]
    assert set(operation["responses"]) >= {"202", "401", "409", "413", "422", "429"}
    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    model = schema["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert model["additionalProperties"] is False
    assert model["examples"]
    assert "score" in model["properties"]
