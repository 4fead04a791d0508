"""Settings from the environment, route mapping, the per-client token bucket."""

from __future__ import annotations

import pytest

from kaizen_fastapi import KaizenSettings
from kaizen_fastapi.rate_limit import TokenBucketLimiter
from kaizen_fastapi.settings import task_for_path


def test_settings_read_kaizen_env_with_secret_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIZEN_API_KEY", "kz-from-env")
    monkeypatch.setenv("KAIZEN_WARM_TASKS", '["a", "b"]')
    monkeypatch.setenv("KAIZEN_PROMPT_ROUTES", '{"/x*": "task_x"}')
    monkeypatch.setenv("KAIZEN_STRICT", "true")
    settings = KaizenSettings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "kz-from-env"
    assert "kz-from-env" not in repr(settings)
    assert settings.warm_tasks == ["a", "b"]
    assert settings.strict is True
    assert settings.task_for_path("/x/1") == "task_x"


def test_settings_in_code_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIZEN_CACHE_TTL", "60")
    assert KaizenSettings(cache_ttl=5).cache_ttl == 5


def test_route_rules_exclusions_win_and_first_match_is_used() -> None:
    routes = {"/api/summarize*": "summarize", "/api/*": "generic"}
    assert task_for_path("/api/summarize/3", routes, []) == "summarize"
    assert task_for_path("/api/other", routes, []) == "generic"
    assert task_for_path("/api/health", routes, ["/api/health"]) is None
    assert task_for_path("/static/x", routes, []) is None


def test_token_bucket_allows_burst_then_rate_per_client() -> None:
    now = [0.0]
    limiter = TokenBucketLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # another client has its own bucket
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
