# mypy: disable-error-code="type-arg"
# (the seed writes a bare ``dict``; the stubs below copy it verbatim)
"""The seed API, exactly: every seed method on both clients, with the seed's signature.

The seed signatures are written below as stub functions, copied from the seed reference.
Ours may only add keyword-only parameters with defaults, and may spell a bare ``dict`` as
``dict[str, Any]``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, Protocol

import pytest

from kaizen_sdk import AsyncCTClient, CTClient, CTError
from kaizen_sdk.models import FeedbackResult, Job, OptimizeResult, Prompt, Task, TraceResult


class Seed(Protocol):
    """Stubs with the seed's signatures (``self`` included); only the signatures matter."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        cache_ttl: float = 300.0,
        timeout: float = 30.0,
    ) -> None: ...

    def log_feedback(
        self,
        task_id: str,
        inputs: dict | None = None,
        output: str | None = None,
        score: float | None = None,
        source: str = "sdk",
        metadata: dict | None = None,
    ) -> FeedbackResult: ...

    def get_prompt(self, task_id: str) -> Prompt: ...

    def activate_prompt(self, task_id: str, version_id: str) -> Prompt: ...

    def trigger_optimization(self, task_id: str) -> OptimizeResult: ...

    def get_job(self, job_id: str) -> Job: ...

    def list_tasks(self) -> list[Task]: ...

    def create_task(  # type: ignore[no-untyped-def]
        self,
        name: str,
        description: str | None = None,
        schema_json: dict | None = None,
        feedback_threshold: int = 50,
        **kwargs,
    ) -> Task: ...

    def score(self, trace_id: str, score: float, scored_by: str = "sdk") -> TraceResult: ...

    def close(self) -> None: ...


SEED_METHODS = [name for name in vars(Seed) if not name.startswith("_")]


def spelled(annotation: Any) -> str:
    """An annotation as the seed would write it: no module prefixes, no ``dict`` parameters."""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = re.sub(r"\b[a-z_]+(\.[a-z_]+)*\.(?=[A-Za-z])", "", text)  # kaizen_sdk.models.Job
    return text.replace("dict[str, Any]", "dict")


def check_against_seed(seed: Callable[..., Any], ours: Callable[..., Any]) -> None:
    seed_params = list(inspect.signature(seed).parameters.values())
    our_signature = inspect.signature(ours)
    our_params = list(our_signature.parameters.values())
    assert len(our_params) >= len(seed_params)
    for expected, actual in zip(seed_params, our_params, strict=False):
        assert (actual.name, actual.kind, actual.default) == (
            expected.name,
            expected.kind,
            expected.default,
        )
        if expected.annotation is not inspect.Parameter.empty:
            assert spelled(actual.annotation) == spelled(expected.annotation), actual.name
    for extra in our_params[len(seed_params) :]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, extra.name
        assert extra.default is not inspect.Parameter.empty, extra.name
    assert spelled(our_signature.return_annotation) == spelled(
        inspect.signature(seed).return_annotation
    )


@pytest.mark.parametrize("client_class", [CTClient, AsyncCTClient])
@pytest.mark.parametrize("name", ["__init__", *SEED_METHODS])
def test_seed_signature(client_class: type, name: str) -> None:
    check_against_seed(getattr(Seed, name), getattr(client_class, name))


@pytest.mark.parametrize("name", SEED_METHODS)
def test_async_methods_are_coroutine_functions(name: str) -> None:
    assert inspect.iscoroutinefunction(getattr(AsyncCTClient, name))
    assert not inspect.iscoroutinefunction(getattr(CTClient, name))


@pytest.mark.parametrize("name", SEED_METHODS)
def test_methods_are_documented(name: str) -> None:
    for client_class in (CTClient, AsyncCTClient):
        method = getattr(client_class, name)
        assert method.__doc__
        assert method.__name__ == name
        assert method.__qualname__ == f"{client_class.__name__}.{name}"


def test_both_clients_share_every_operation() -> None:
    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")}

    assert public(CTClient) == public(AsyncCTClient)
    for name in public(CTClient) - {"base_url", "cache_stats", "config"}:
        ours_sync = inspect.signature(getattr(CTClient, name))
        ours_async = inspect.signature(getattr(AsyncCTClient, name))
        assert ours_sync == ours_async, name


def test_context_managers() -> None:
    assert hasattr(CTClient, "__enter__")
    assert hasattr(CTClient, "__exit__")
    assert inspect.iscoroutinefunction(AsyncCTClient.__aenter__)
    assert inspect.iscoroutinefunction(AsyncCTClient.__aexit__)


@pytest.mark.parametrize("client_class", [CTClient, AsyncCTClient])
def test_environment_fallbacks(client_class: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAIZEN_API_KEY", raising=False)
    monkeypatch.delenv("KAIZEN_BASE_URL", raising=False)
    with pytest.raises(CTError, match="KAIZEN_API_KEY"):
        client_class()
    monkeypatch.setenv("KAIZEN_API_KEY", "sk-env")
    assert client_class().base_url == "http://localhost:8000"
    monkeypatch.setenv("KAIZEN_BASE_URL", "http://ct.internal:9000/")
    client = client_class()
    assert client.base_url == "http://ct.internal:9000"
    assert client.config.api_key == "sk-env"
    explicit = client_class(api_key="sk-arg", base_url="https://ct.example")
    assert (explicit.base_url, explicit.config.api_key) == ("https://ct.example", "sk-arg")


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"max_retries": -1},
        {"cache_maxsize": 0},
        {"base_url": "ct.example"},
        {"deadline": -1.0},
    ],
)
def test_bad_settings_raise_ct_error(options: dict[str, Any]) -> None:
    with pytest.raises(CTError):
        CTClient(api_key="sk-test", **options)
