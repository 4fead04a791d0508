"""The plugin's lifespan: one shared client per app, started and stopped with the app.

Two ways to run it:

1. ``app.include_router(kaizen_router)``: FastAPI merges the router's lifespan into the
   app's, so including the router alone starts Kaizen.
2. An app with its own lifespan can combine it explicitly and must yield Kaizen's state::

       @asynccontextmanager
       async def lifespan(app: FastAPI):
           async with kaizen_lifespan(app) as kaizen_state:
               ...  # the app's own start-up
               yield {**kaizen_state, "db": db}

Both at once (or the router included twice) still create one runtime: a nested start for an
app that already runs Kaizen reuses the running one.

Starting fails with :class:`~kaizen_fastapi.runtime.KaizenConfigurationError` when a route asks
for ``ActivePrompt`` but nothing maps it to a task (see
:mod:`kaizen_fastapi.prompt_declarations`).

Settings come, in this order, from the ``settings`` argument, from an override of
:func:`~kaizen_fastapi.settings.get_kaizen_settings` in ``app.dependency_overrides``, or from
the ``KAIZEN_*`` environment, read when the app starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from kaizen_fastapi.middleware import prompt_path_maps
from kaizen_fastapi.prompt_declarations import check_prompt_routes
from kaizen_fastapi.runtime import (
    STATE_KEY,
    ClientFactory,
    KaizenRuntime,
    default_client,
    runtime_from_state,
)
from kaizen_fastapi.settings import KaizenSettings, get_kaizen_settings

__all__ = ["STATE_KEY", "kaizen_lifespan", "runtime_from_state"]

_running: ContextVar[tuple[tuple[object, KaizenRuntime], ...]] = ContextVar(
    "kaizen_running_apps", default=()
)


def _settings_for(app: object, settings: KaizenSettings | None) -> KaizenSettings:
    if settings is not None:
        return settings
    overrides: Mapping[Any, Any] = getattr(app, "dependency_overrides", {}) or {}
    provider = overrides.get(get_kaizen_settings, get_kaizen_settings)
    resolved = provider()
    if not isinstance(resolved, KaizenSettings):
        raise TypeError("the override of get_kaizen_settings must return KaizenSettings")
    return resolved


@asynccontextmanager
async def kaizen_lifespan(
    app: object,
    settings: KaizenSettings | None = None,
    *,
    client_factory: ClientFactory = default_client,
) -> AsyncIterator[dict[str, Any]]:
    """Run Kaizen for ``app``: yields the lifespan state ``{STATE_KEY: runtime}``.

    Example:
        >>> app = FastAPI(lifespan=kaizen_lifespan)  # doctest: +SKIP
    """
    for running_app, runtime in _running.get():
        if running_app is app:  # nested start (router included twice, or combined)
            yield {STATE_KEY: runtime}
            return
    settings = _settings_for(app, settings)
    check_prompt_routes(app, prompt_path_maps(app, settings))
    runtime = KaizenRuntime(settings, client_factory)
    try:
        await runtime.start()
    except BaseException:
        await runtime.stop()
        raise
    token = _running.set((*_running.get(), (app, runtime)))
    try:
        yield {STATE_KEY: runtime}
    finally:
        with contextlib.suppress(ValueError):  # reset from another context: nothing to undo
            _running.reset(token)
        await runtime.stop()
