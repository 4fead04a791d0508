"""One shared client per app, however the lifespan is composed; clear errors without it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import SecretStr

from kaizen_fastapi import (
    FEEDBACK_ROUTE_NAME,
    SCORE_ROUTE_NAME,
    ActivePrompt,
    KaizenClient,
    KaizenConfigurationError,
    KaizenNotRunningError,
    KaizenPromptMiddleware,
    KaizenSettings,
    create_kaizen_router,
    get_kaizen,
    get_kaizen_settings,
    kaizen_lifespan,
    kaizen_router,
    uses_prompt,
)
from kaizen_fastapi.runtime import STATE_KEY, KaizenRuntime, default_client
from kaizen_sdk import AsyncCTClient, Prompt
from tests.fastapi.demo_app import build_app, runtime_of

GreetingPrompt = Annotated[Prompt, Depends(uses_prompt("greet"))]


class RecordingClient(AsyncCTClient):
    closed = False

    async def close(self) -> None:
        self.closed = True
        await super().close()


class CountingFactory:
    def __init__(self) -> None:
        self.clients: list[RecordingClient] = []

    def __call__(self, settings: KaizenSettings) -> AsyncCTClient:
        assert settings.api_key is not None
        client = RecordingClient(
            api_key=settings.api_key.get_secret_value(),
            base_url=settings.base_url,
            timeout=settings.timeout,
        )
        self.clients.append(client)
        return client


def _app_with_client_probe(app: FastAPI) -> FastAPI:
    @app.get("/client-id")
    async def client_id(client: KaizenClient) -> dict[str, int]:
        return {"id": id(client)}

    return app


def test_include_router_alone_starts_one_client_even_when_included_twice(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    factory = CountingFactory()
    router = create_kaizen_router(down_settings(), client_factory=factory)
    app = _app_with_client_probe(FastAPI())
    app.include_router(router)
    app.include_router(router, prefix="/again")
    with TestClient(app) as http:
        assert len(factory.clients) == 1
        ids = {http.get("/client-id").json()["id"] for _ in range(3)}
        assert ids == {id(factory.clients[0])}
    assert factory.clients[0].closed


def test_app_lifespan_combined_with_router_creates_one_client(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    factory = CountingFactory()
    settings = down_settings()
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with kaizen_lifespan(app, settings, client_factory=factory) as kaizen_state:
            events.append("app started")
            yield {**kaizen_state, "db": "connected"}
        events.append("app stopped")

    app = _app_with_client_probe(FastAPI(lifespan=lifespan))
    app.include_router(create_kaizen_router(settings, client_factory=factory))

    @app.get("/db")
    async def db(request: Request) -> dict[str, str]:
        return {"db": request.state.db}

    with TestClient(app) as http:
        assert http.get("/db").json() == {"db": "connected"}
        assert http.get("/client-id").json()["id"] == id(factory.clients[0])
    assert len(factory.clients) == 1
    assert events == ["app started", "app stopped"]


def test_two_apps_never_share_a_client(down_settings: Callable[..., KaizenSettings]) -> None:
    factory = CountingFactory()
    settings = down_settings()
    apps = [_app_with_client_probe(FastAPI()) for _ in range(2)]
    for app in apps:
        app.include_router(create_kaizen_router(settings, client_factory=factory))
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        assert first.get("/client-id").json() != second.get("/client-id").json()
    assert len(factory.clients) == 2


def test_default_router_reads_settings_override_when_the_app_starts(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    settings = down_settings(fallback_prompts={"greet": "Hello!"})
    app = FastAPI()
    app.include_router(kaizen_router)
    app.dependency_overrides[get_kaizen_settings] = lambda: settings

    @app.get("/greet")
    async def greet(request: Request, prompt: GreetingPrompt) -> Any:
        runtime: KaizenRuntime = request.scope["state"][STATE_KEY]
        return {"prompt": prompt.prompt_text, "same": runtime.settings is settings}

    with TestClient(app) as http:
        response = http.get("/greet")
    assert response.json() == {"prompt": "Hello!", "same": True}
    assert response.headers["X-Kaizen-Prompt-Version"] == "fallback"


def test_app_starts_and_answers_while_the_ct_server_is_down(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    settings = down_settings(
        warm_tasks=["summarize"],
        prompt_events=True,
        fallback_prompts={"summarize": "Fallback summary prompt"},
        prompt_routes={"/summarize": "summarize"},
    )
    app = _app_with_middleware(settings)

    @app.get("/summarize")
    async def summarize(prompt: ActivePrompt) -> dict[str, Any]:
        return {"prompt": prompt.prompt_text, "fallback": prompt.is_fallback}

    with TestClient(app) as http:
        response = http.get("/summarize")
        runtime: KaizenRuntime = http.app_state[STATE_KEY]
        assert response.json() == {"prompt": "Fallback summary prompt", "fallback": True}
        assert response.headers["X-Kaizen-Prompt-Version"] == "fallback"
        assert runtime.metrics.prompt_fallback_serves == 1
        assert not runtime.monitor.reachable


def test_dependencies_without_lifespan_name_the_fix() -> None:
    app = _app_with_client_probe(FastAPI())
    app.include_router(kaizen_router)
    http = TestClient(app)  # not entered: the lifespan does not run
    with pytest.raises(KaizenNotRunningError, match=r"TestClient\(app\)"):
        http.get("/client-id")
    public = http.post("/kaizen/feedback", json={"token": "t", "rating": "up"})
    assert public.status_code == 503  # the public endpoint never answers a bare 500
    assert public.headers["content-type"] == "application/problem+json"


def test_get_kaizen_is_overridable(down_settings: Callable[..., KaizenSettings]) -> None:
    app = _app_with_client_probe(FastAPI())
    replacement = default_client(down_settings())
    app.dependency_overrides[get_kaizen] = lambda: replacement
    assert TestClient(app).get("/client-id").json() == {"id": id(replacement)}


def _app_with_middleware(settings: KaizenSettings) -> FastAPI:
    app = FastAPI()
    app.include_router(create_kaizen_router(settings))
    app.add_middleware(KaizenPromptMiddleware)
    return app


def test_active_prompt_without_a_task_names_the_fix(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    app = _app_with_middleware(down_settings())

    @app.get("/unmapped")
    async def unmapped(prompt: ActivePrompt) -> str:
        return prompt.prompt_text

    with pytest.raises(RuntimeError, match="prompt_routes"):
        TestClient(app).__enter__()


def test_declared_prompt_unavailable_gets_503_problem(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    app = _app_with_middleware(down_settings())

    @app.get("/needs-prompt", dependencies=[Depends(uses_prompt("no-fallback-task"))])
    async def needs_prompt(prompt: ActivePrompt) -> str:
        return prompt.prompt_text

    with TestClient(app) as http:
        response = http.get("/needs-prompt")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry shortly" in response.json()["detail"]
    assert "no-fallback-task" not in response.text  # internals stay in the app's log


def test_endpoint_urls_are_found_by_route_name_wherever_mounted() -> None:
    app = FastAPI()
    app.include_router(kaizen_router, prefix="/api")
    assert app.url_path_for(FEEDBACK_ROUTE_NAME) == "/api/kaizen/feedback"
    assert app.url_path_for(SCORE_ROUTE_NAME) == "/api/kaizen/score"


@pytest.mark.parametrize(
    "settings",
    [
        KaizenSettings(api_key="devkey12", prometheus=False),
        KaizenSettings(api_key="k" * 40, token_secret="short-secret", prometheus=False),
    ],
    ids=["short api key, no token secret", "short token secret"],
)
def test_a_guessable_token_secret_fails_start_up_naming_the_fix(settings: KaizenSettings) -> None:
    app = FastAPI()
    app.include_router(create_kaizen_router(settings))
    with pytest.raises(KaizenConfigurationError, match="set KAIZEN_TOKEN_SECRET"), TestClient(app):
        pass


def test_a_short_api_key_starts_with_a_strong_token_secret(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    settings = down_settings(token_secret="t" * 32, prompt_routes={"/summarize*": "t"}).model_copy(
        update={"api_key": SecretStr("devkey12")}
    )
    with TestClient(build_app(settings)) as http:
        assert runtime_of(http.app_state).tokens.issue(task_id="t", trace_id="r")


def test_missing_api_key_fails_start_up_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAIZEN_API_KEY", raising=False)
    app = FastAPI()
    app.include_router(create_kaizen_router(KaizenSettings(prometheus=False)))
    with pytest.raises(KaizenConfigurationError, match="KAIZEN_API_KEY"), TestClient(app):
        pass
