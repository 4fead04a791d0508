"""The ``kaizen-server`` command: serve, migrate, and manage API keys.

Example (shell)::

    kaizen-server serve --host 127.0.0.1 --port 8000
    kaizen-server keys create --name my-app --scope app
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from enum import StrEnum
from types import FrameType
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.db.engine import Database
from kaizen_server.db.migrate import current_revision, upgrade_to_head
from kaizen_server.services import api_keys
from kaizen_server.services.errors import NotFoundError
from kaizen_server.settings import ServerSettings, SettingsError, load_settings

__all__ = ["cli", "main"]

ResultT = TypeVar("ResultT")

cli = typer.Typer(
    name="kaizen-server",
    help="The Kaizen CT server: REST API, storage, API keys.",
    no_args_is_help=True,
    add_completion=False,
)


class KeyScopeOption(StrEnum):
    """``--scope`` of ``keys create``."""

    ADMIN = "admin"
    APP = "app"


keys_cli = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")


def console() -> Console:
    """Standard output (built per call so COLUMNS and redirections are honoured)."""
    return Console()


def errors() -> Console:
    """Standard error."""
    return Console(stderr=True)


def _settings(**overrides: object) -> ServerSettings:
    try:
        return load_settings(
            **{key: value for key, value in overrides.items() if value is not None}
        )
    except SettingsError as exc:
        errors().print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def _with_session(
    settings: ServerSettings, work: Callable[[AsyncSession], Awaitable[ResultT]]
) -> ResultT:
    """Migrate the database, then run ``work`` in a write session."""
    upgrade_to_head(settings.database_url)

    async def run() -> ResultT:
        database = Database.connect(settings.database_url)
        try:
            async with database.writer() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


class _StreamClosingServer(uvicorn.Server):
    """A uvicorn server that ends open event streams as soon as shutdown begins.

    Without this, each open SSE connection would hold shutdown for the whole grace period.
    """

    def __init__(self, config: uvicorn.Config, close_streams: Callable[[], None]) -> None:
        super().__init__(config)
        self._close_streams = close_streams

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._close_streams()
        super().handle_exit(sig, frame)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [KAIZEN_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [KAIZEN_PORT].")] = None,
    log_level: Annotated[str | None, typer.Option(help="Log level [KAIZEN_LOG_LEVEL].")] = None,
) -> None:
    """Apply pending migrations, then serve the API with uvicorn."""
    from kaizen_server.app import NO_KEY_HINT, create_app
    from kaizen_server.http.request_log import configure_logging

    settings = _settings(host=host, port=port, log_level=log_level)
    configure_logging(settings.log_level)
    upgrade_to_head(settings.database_url)
    if settings.api_key is None and not _with_session(settings, api_keys.has_active_keys):
        errors().print(f"[yellow]{NO_KEY_HINT}[/yellow]")
    app = create_app(settings)
    # Modules, routes, models and settings live as long as the process: moving them out of
    # the collector's generations spares every full collection from walking them again.
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        # uvicorn alone believes X-Forwarded-For from any local process; only configured
        # proxies may say who the client is.
        proxy_headers=bool(settings.trusted_proxies.strip()),
        forwarded_allow_ips=settings.trusted_proxies.strip() or None,
    )
    _StreamClosingServer(config, app.state.context.broker.close_streams).run()


@cli.command()
def migrate() -> None:
    """Apply pending migrations to KAIZEN_DATABASE_URL."""
    settings = _settings()
    upgrade_to_head(settings.database_url)
    revision = asyncio.run(current_revision(settings.database_url))
    console().print(f"database at revision [bold]{revision}[/bold]")


@cli.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once [KAIZEN_JOB_CONCURRENCY].")
    ] = None,
) -> None:
    """Run optimization jobs from the PostgreSQL queue (KAIZEN_JOB_RUNNER=procrastinate)."""
    from kaizen_server.http.request_log import configure_logging
    from kaizen_server.optimization.job_queue import run_worker

    settings = _settings()
    configure_logging(settings.log_level)  # the job lifecycle lines, as `serve` writes them
    if settings.is_sqlite:
        errors().print("[red]error:[/red] the worker needs PostgreSQL (KAIZEN_DATABASE_URL)")
        raise typer.Exit(2)
    upgrade_to_head(settings.database_url)
    asyncio.run(run_worker(settings, concurrency=concurrency))


@keys_cli.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. the app's name.")],
    scope: Annotated[
        KeyScopeOption,
        typer.Option(
            help="admin: every endpoint, key management (/api/v1/keys) included; "
            "app: all but key management (what an application needs)."
        ),
    ] = KeyScopeOption.ADMIN,
) -> None:
    """Create a key and print it (this is the only time it is shown).

    The default scope is admin: what every key could do before scopes existed (the CLI is
    the operator's tool); give an application ``--scope app``.
    """
    if not 0 < len(name) <= 200:
        errors().print("[red]error:[/red] --name must be 1 to 200 characters")
        raise typer.Exit(2)
    key_scope: api_keys.KeyScope = "app" if scope is KeyScopeOption.APP else "admin"
    created = _with_session(
        _settings(), lambda session: api_keys.create_key(session, name, scope=key_scope)
    )
    console().print(
        f"Created {key_scope} API key [bold]{created.record.id}[/bold] ({escape(name)})."
    )
    console().print("Store it now, it is not shown again:")
    print(created.secret)


@keys_cli.command("list")
def list_keys() -> None:
    """List keys (never the secrets)."""
    keys = _with_session(_settings(), api_keys.list_keys)
    table = Table("name", "prefix", "scope", "created", "status")
    table.add_column("id", no_wrap=True, min_width=36)
    for key in keys:
        status = "revoked" if key.revoked_at else "active"
        created = key.created_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(key.name, key.key_prefix + "...", key.scope, created, status, str(key.id))
    console().print(table)


@keys_cli.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="Key id (or a unique prefix).")]) -> None:
    """Revoke a key: requests with it get 401 from then on."""
    try:
        key = _with_session(_settings(), lambda session: api_keys.revoke_key(session, key_id))
    except NotFoundError as exc:
        errors().print(f"[red]error:[/red] {escape(exc.detail)}")
        raise typer.Exit(1) from exc
    console().print(f"Revoked API key [bold]{key.id}[/bold] ({escape(key.name)}).")


def main() -> None:
    """Entry point of the ``kaizen-server`` console script."""
    cli()
