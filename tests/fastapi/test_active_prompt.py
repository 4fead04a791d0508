"""``ActivePrompt`` is a plain FastAPI dependency on any ``APIRoute``.

Against the real CT server: the prompt served, the version header, OpenAPI unchanged, sync and
async endpoints, an endpoint's own ``Request`` parameter, ``dependency_overrides`` as FastAPI
users know them, ``uses_prompt`` with and without the middleware, a 503 problem when no prompt
can be served, and a route nothing maps failing the app's start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient

from kaizen_fastapi import (
    ActivePrompt,
    KaizenConfigurationError,
    KaizenPromptMiddleware,
    KaizenSettings,
    create_kaizen_router,
    get_active_prompt,
    uses_prompt,
)
from kaizen_fastapi.testing import kaizen_test_settings
from kaizen_sdk import Prompt
from tests.fastapi.demo_app import create_task_with_prompt
from tests.support.ct_server import CTServerProcess

_OVERRIDE = Prompt(id="override", task_id="t", prompt_text="Overridden prompt", version_number=9)


def _app(settings: KaizenSettings) -> FastAPI:
    app = FastAPI()
    app.include_router(create_kaizen_router(settings))
    app.add_middleware(KaizenPromptMiddleware)
    return app


def _echo_app(settings: KaizenSettings, path: str) -> FastAPI:
    """``_app`` with ``GET path`` answering the text of the prompt it was handed."""
    app = _app(settings)

    @app.get(path)
    async def echo(prompt: ActivePrompt) -> str:
        return prompt.prompt_text

    return app


@pytest.fixture
def served_task(ct_server: CTServerProcess, unique_task: str) -> str:
    create_task_with_prompt(ct_server, unique_task, "Summarize in one line:")
    return unique_task


@pytest.fixture
def settings(ct_server: CTServerProcess, served_task: str) -> KaizenSettings:
    return kaizen_test_settings(
        ct_server.base_url,
        ct_server.api_key,
        prompt_events=False,
        prompt_routes={"/s/*": served_task},
    )


def test_async_and_sync_endpoints_get_the_served_prompt_and_the_header(
    settings: KaizenSettings,
) -> None:
    app = _app(settings)

    @app.get("/s/async")
    async def in_loop(prompt: ActivePrompt, n: int = 1) -> dict[str, Any]:
        return {"text": prompt.prompt_text, "n": n}

    @app.get("/s/sync")
    def in_thread(prompt: ActivePrompt, request: Request) -> dict[str, Any]:
        return {"text": prompt.prompt_text, "path": request.url.path}

    with TestClient(app) as http:
        first = http.get("/s/async", params={"n": 3})
        second = http.get("/s/sync")
    assert first.json() == {"text": "Summarize in one line:", "n": 3}
    assert second.json() == {"text": "Summarize in one line:", "path": "/s/sync"}
    assert first.headers["X-Kaizen-Prompt-Version"] == "1"
    assert second.headers["X-Kaizen-Prompt-Version"] == "1"


def test_openapi_shows_the_endpoint_as_written_minus_the_prompt(
    settings: KaizenSettings,
) -> None:
    app = _app(settings)

    @app.get("/s/{item}", summary="Summarize an item")
    async def summarize(item: int, prompt: ActivePrompt, lang: str = "en") -> dict[str, str]:
        """Summarize ``item``."""
        return {"prompt": prompt.prompt_text}

    operation = app.openapi()["paths"]["/s/{item}"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["item", "lang"]
    assert operation["summary"] == "Summarize an item"
    assert operation["operationId"].startswith("summarize")
    with TestClient(app) as http:
        assert http.get("/s/x").status_code == 422  # validation is still FastAPI's


def test_prompt_parameter_in_the_default_form_is_handled_too(settings: KaizenSettings) -> None:
    app = _app(settings)

    @app.get("/s/default")
    async def summarize(prompt: Prompt = Depends(get_active_prompt)) -> str:  # noqa: B008
        return prompt.prompt_text

    with TestClient(app) as http:
        assert http.get("/s/default").json() == "Summarize in one line:"


@pytest.mark.parametrize("override", [lambda: _OVERRIDE, "async"])
def test_override_of_get_active_prompt_is_honoured(
    settings: KaizenSettings,
    override: Callable[[], Prompt] | str,
) -> None:
    async def async_override() -> Prompt:
        return _OVERRIDE

    app = _echo_app(settings, "/s/over")
    app.dependency_overrides[get_active_prompt] = (
        async_override if override == "async" else override
    )
    with TestClient(app) as http:
        assert http.get("/s/over").json() == "Overridden prompt"


def test_override_with_dependencies_of_its_own_is_solved_by_fastapi(
    settings: KaizenSettings,
) -> None:
    def override(request: Request, version: int = 7) -> Prompt:
        return _OVERRIDE.model_copy(update={"prompt_text": f"{request.url.path} v{version}"})

    app = _echo_app(settings, "/s/over")
    app.dependency_overrides[get_active_prompt] = override
    with TestClient(app) as http:
        assert http.get("/s/over", params={"version": 3}).json() == "/s/over v3"


def test_a_route_nothing_maps_fails_the_start_naming_it_and_the_fix(
    settings: KaizenSettings,
) -> None:
    app = _echo_app(settings, "/unmapped")

    @app.get("/declared", dependencies=[Depends(uses_prompt("t"))])
    async def declared(prompt: ActivePrompt) -> str:
        return prompt.prompt_text

    @app.post("/declared-too-late")
    async def too_late(prompt: ActivePrompt, _: Prompt = Depends(uses_prompt("t"))) -> str:  # noqa: B008
        return prompt.prompt_text

    with pytest.raises(KaizenConfigurationError, match="prompt_routes") as refused:
        TestClient(app).__enter__()
    message = str(refused.value)
    assert "GET /unmapped" in message
    assert "POST /declared-too-late" in message
    assert "/declared," not in message
    assert "uses_prompt" in message


def test_unservable_prompt_gets_the_503_problem(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    app = _echo_app(down_settings(prompt_routes={"/s/*": "nowhere"}), "/s/x")
    with TestClient(app) as http:
        response = http.get("/s/x")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "nowhere" not in response.json()["detail"]  # the cause goes to the log


def test_uses_prompt_declared_on_an_included_router(
    ct_server: CTServerProcess,
    served_task: str,
) -> None:
    settings = kaizen_test_settings(ct_server.base_url, ct_server.api_key, prompt_events=False)
    router = APIRouter(prefix="/api")

    @router.post("/classify", dependencies=[Depends(uses_prompt(served_task))])
    async def classify(prompt: ActivePrompt, request: Request) -> dict[str, Any]:
        return {"path": request.url.path, "text": prompt.prompt_text}

    app = FastAPI()
    app.include_router(create_kaizen_router(settings))
    app.include_router(router)
    app.add_middleware(KaizenPromptMiddleware)
    with TestClient(app) as http:
        response = http.post("/api/classify")
    assert response.json() == {"path": "/api/classify", "text": "Summarize in one line:"}
    assert response.headers["X-Kaizen-Prompt-Version"] == "1"


def test_uses_prompt_without_the_middleware_feeds_active_prompt_and_the_header(
    ct_server: CTServerProcess,
    served_task: str,
) -> None:
    settings = kaizen_test_settings(ct_server.base_url, ct_server.api_key, prompt_events=False)
    app = FastAPI()
    app.include_router(create_kaizen_router(settings))

    @app.get("/plain", dependencies=[Depends(uses_prompt(served_task))])
    def plain(prompt: ActivePrompt) -> str:
        return prompt.prompt_text

    with TestClient(app) as http:
        response = http.get("/plain")
    assert response.json() == "Summarize in one line:"
    assert response.headers["X-Kaizen-Prompt-Version"] == "1"
