"""``PathTasks``: which task a request path belongs to, remembered per path.

Matching a path against every route glob costs a microsecond or more per request; the same
few paths come back again and again, so each answer is kept in the mapping itself: a path
seen before costs one dict lookup. It is bounded: when full it is emptied, so paths carrying
ids cannot make it grow without end.

Example:
    >>> tasks = PathTasks({"/summarize*": "summarize"}, exclude=["/summarize/health"])
    >>> tasks["/summarize/42"], tasks["/summarize/health"]
    ('summarize', None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kaizen_fastapi.settings import task_for_path

__all__ = ["PathTasks"]


class PathTasks(dict[str, str | None]):
    """Path -> task (or ``None``), worked out with :func:`~kaizen_fastapi.settings.task_for_path`
    the first time a path is looked up.

    Args:
        routes: Path glob -> task name, first match wins.
        exclude: Path globs never mapped to a task (checked first).
        max_paths: Most paths remembered.
    """

    def __init__(
        self, routes: Mapping[str, str], exclude: Sequence[str] = (), max_paths: int = 4096
    ) -> None:
        super().__init__()
        self._routes = dict(routes)
        self._exclude = list(exclude)
        self._max_paths = max_paths

    def __missing__(self, path: str) -> str | None:
        task = task_for_path(path, self._routes, self._exclude)
        if len(self) >= self._max_paths:
            self.clear()
        self[path] = task
        return task
