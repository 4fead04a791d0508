"""The hot-path helpers behave exactly like what they replace.

``FixedPathRouter`` (the router class of ``kaizen_router``) turns away other paths at once but
still routes its own wherever it is included; ``PathTasks`` answers what ``task_for_path``
answers and stays bounded.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from kaizen_fastapi.fixed_path_router import FixedPathRouter
from kaizen_fastapi.path_tasks import PathTasks
from kaizen_fastapi.settings import task_for_path


def _router() -> FixedPathRouter:
    router = FixedPathRouter(prefix="/kaizen")

    @router.post("/feedback")
    async def feedback() -> dict[str, str]:
        return {"route": "feedback"}

    return router


def _app(prefix: str = "") -> FastAPI:
    app = FastAPI()
    app.include_router(_router(), prefix=prefix)

    @app.post("/summarize")
    async def summarize() -> dict[str, str]:
        return {"route": "summarize"}

    return app


def test_routes_its_own_paths_under_any_include_prefix() -> None:
    for prefix in ("", "/v2"):
        with TestClient(_app(prefix)) as http:
            assert http.post(f"{prefix}/kaizen/feedback").json() == {"route": "feedback"}
            assert http.post("/summarize").json() == {"route": "summarize"}
            assert http.get(f"{prefix}/kaizen/feedback").status_code == 405  # still PARTIAL
            assert http.post(f"{prefix}/kaizen/other").status_code == 404


def test_trailing_slash_redirect_still_finds_its_route() -> None:
    with TestClient(_app(), follow_redirects=False) as http:
        response = http.post("/kaizen/feedback/")
    assert response.status_code == 307
    assert response.headers["location"].endswith("/kaizen/feedback")


def test_rejects_other_paths_without_consulting_its_routes() -> None:
    router = _router()
    scope = {"type": "http", "path": "/summarize", "root_path": "", "method": "POST"}
    assert router.matches(scope) == (Match.NONE, {})


def test_routes_with_path_parameters_fall_back_to_full_matching() -> None:
    router = _router()

    @router.get("/items/{item}")
    async def item(item: int) -> int:
        return item

    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as http:
        assert http.get("/kaizen/items/7").json() == 7  # routes added later are seen too
        assert http.post("/kaizen/feedback").json() == {"route": "feedback"}


def test_path_tasks_answer_as_task_for_path_and_stay_bounded() -> None:
    routes, exclude = {"/api/summarize/*": "summarize", "/api/*": "generic"}, ["/api/health"]
    tasks = PathTasks(routes, exclude, max_paths=3)
    paths = ["/api/summarize/1", "/api/other", "/api/health", "/static/x", "/api/summarize/2"]
    for path in paths * 2:
        assert tasks[path] == task_for_path(path, routes, exclude)
        assert len(tasks) <= 3
