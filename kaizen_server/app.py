"""The CT server's FastAPI app factory.

Example:
    >>> from kaizen_server.settings import ServerSettings
    >>> app = create_app(ServerSettings(database_url="sqlite+aiosqlite:///./demo.db"))
    >>> app.title
    'Kaizen CT server'
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from kaizen_fastapi.security_headers import SecurityHeadersMiddleware
from kaizen_server.api import build_api_router, health, streamed_body_routes
from kaizen_server.console import install_console
from kaizen_server.context import ServerContext
from kaizen_server.db.engine import Database
from kaizen_server.events.broker import build_broker
from kaizen_server.http.body_limit import BodyLimitMiddleware
from kaizen_server.http.cached_prompt import CachedPromptMiddleware
from kaizen_server.http.offline_docs import install_offline_docs
from kaizen_server.http.problems import install_problem_handlers
from kaizen_server.http.request_log import RequestLogMiddleware
from kaizen_server.http.trailing_slash import TrailingSlashMiddleware
from kaizen_server.optimization.dispatch import JobDispatcher, build_dispatcher
from kaizen_server.services.api_keys import ensure_bootstrap_key, has_active_keys
from kaizen_server.settings import ServerSettings, load_settings

__all__ = ["NO_KEY_HINT", "create_app"]

log = logging.getLogger("kaizen_server")

NO_KEY_HINT = (
    "No API key is configured: every /api/v1 request will get 401. Create one with "
    "`kaizen-server keys create --name my-app`, or set KAIZEN_API_KEY for a dev bootstrap key."
)

DESCRIPTION = """
The Kaizen continuous-tuning server: tasks, feedback, traces, prompt versions and
optimization jobs. Authenticate with the `X-API-Key` header. Every path also answers with a
trailing slash. Errors are RFC 7807 `application/problem+json`.
"""


def _package_version() -> str:
    try:
        return version("kaizen")
    except PackageNotFoundError:
        return "0.0.0"


async def _prepare_api_keys(context: ServerContext) -> None:
    async with context.database.writer() as session:
        if context.settings.api_key is not None:
            await ensure_bootstrap_key(session, context.settings.api_key.get_secret_value())
        if not await has_active_keys(session):
            log.warning(NO_KEY_HINT)


API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""JSON answers load nothing and are never framed."""


def create_app(
    settings: ServerSettings | None = None, *, dispatcher: JobDispatcher | None = None
) -> FastAPI:
    """Build the app; the database schema must be migrated (``kaizen-server migrate``).

    ``dispatcher`` replaces the one :func:`kaizen_server.optimization.dispatch.build_dispatcher`
    would install (e.g. in tests).
    """
    settings = settings or load_settings()
    database = Database.connect(settings.database_url)
    context = ServerContext(
        settings=settings,
        database=database,
        broker=build_broker(settings, database),
        dispatcher=dispatcher or build_dispatcher(settings, database),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await _prepare_api_keys(context)
        await context.broker.start()
        await context.dispatcher.start()
        await context.rollout_watcher.start()
        try:
            yield
        finally:
            await context.rollout_watcher.stop()
            await context.dispatcher.stop()
            await context.broker.stop()
            await database.dispose()

    app = FastAPI(
        title="Kaizen CT server",
        version=_package_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,  # install_offline_docs serves /docs and /redoc without a CDN
        redoc_url=None,
    )
    app.state.context = context
    install_problem_handlers(app)
    # Added first = innermost: security headers -> request log -> trailing slash -> body
    # limit -> cached prompt.
    app.add_middleware(CachedPromptMiddleware, context=context)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        streamed=streamed_body_routes(settings),
    )
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(
        SecurityHeadersMiddleware,
        content_security_policy=API_CONTENT_SECURITY_POLICY,
        # The docs pages set their own policy (offline_docs: inline scripts by hash).
        policy_exempt_paths=("/docs", "/redoc"),
    )
    install_offline_docs(app)
    app.include_router(health.router)
    app.include_router(build_api_router())
    install_console(app)
    return app
