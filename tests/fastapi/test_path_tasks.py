"""``PathTasks`` (the middleware's path -> task memo) answers what ``task_for_path`` answers and
stays bounded."""

from __future__ import annotations

from kaizen_fastapi.middleware import PathTasks
from kaizen_fastapi.settings import task_for_path


def test_path_tasks_answer_as_task_for_path_and_stay_bounded() -> None:
    routes, exclude = {"/api/summarize/*": "summarize", "/api/*": "generic"}, ["/api/health"]
    tasks = PathTasks(routes, exclude, max_paths=3)
    paths = ["/api/summarize/1", "/api/other", "/api/health", "/static/x", "/api/summarize/2"]
    for path in paths * 2:
        assert tasks[path] == task_for_path(path, routes, exclude)
        assert len(tasks) <= 3
