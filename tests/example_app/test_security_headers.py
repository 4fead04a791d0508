"""Browser security headers, bounded request headers and a rate limit that forwarded headers
cannot dodge: the real example app (``python -m example_app``) and the real CT server."""

from __future__ import annotations

import httpx

from tests.example_app.conftest import RunningApp
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_client, loopback_get

BIG_HEADERS = {f"x-filler-{index}": "f" * 1000 for index in range(20)}


def _assert_secured(response: httpx.Response, policy_fragment: str) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert policy_fragment in policy


def test_pages_scripts_and_answers_of_the_example_app_carry_security_headers(
    example_app: RunningApp,
) -> None:
    with loopback_client(base_url=example_app.url) as http:
        for path in ("/", "/static/app.js", "/api/config", "/does-not-exist"):
            response = http.get(path)
            _assert_secured(response, "script-src 'self'")
            assert "unsafe-inline" not in response.headers["content-security-policy"], path
        rejected = http.post("/kaizen/feedback", json={"token": "x", "rating": "up"})
        _assert_secured(rejected, "default-src 'self'")
        # No page that would load its scripts from a CDN: no Swagger UI / ReDoc; the
        # machine-readable API description stays.
        assert http.get("/docs").status_code == 404
        assert http.get("/redoc").status_code == 404
        assert "/api/summarize" in http.get("/openapi.json").json()["paths"]


def test_oversized_request_headers_get_431(example_app: RunningApp) -> None:
    response = loopback_get(f"{example_app.url}/api/config", headers=BIG_HEADERS)
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/problem+json"
    assert "at most 16384" in response.json()["detail"]
    _assert_secured(response, "default-src")


def test_rotating_x_forwarded_for_does_not_dodge_the_rate_limit(example_app: RunningApp) -> None:
    with loopback_client(base_url=example_app.url) as http:
        statuses = [
            http.post(
                "/kaizen/feedback",
                json={"token": "x", "rating": "up"},
                headers={"X-Forwarded-For": f"203.0.113.{index}"},
            ).status_code
            for index in range(60)
        ]
    assert 429 in statuses, statuses


def test_ct_server_answers_carry_security_headers_and_bound_headers(
    ct_server: CTServerProcess,
) -> None:
    with ct_server.client() as client:
        for path in ("/health", "/api/v1/tasks", "/api/v1/nothing-here"):
            _assert_secured(client.get(path), "default-src 'none'")
        docs = client.get("/docs")
        assert docs.headers["x-content-type-options"] == "nosniff"
        assert docs.headers["x-frame-options"] == "DENY"
        big = client.get("/api/v1/tasks", headers=BIG_HEADERS)
        assert big.status_code == 431
        assert big.headers["content-type"] == "application/problem+json"


def test_a_405_of_the_example_app_is_a_problem_naming_the_allowed_methods(
    example_app: RunningApp,
) -> None:
    response = httpx.put(f"{example_app.url}/api/summarize", json={})
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert "POST" in response.headers["allow"]
