"""Scaled mode: optimization jobs through procrastinate on the server's PostgreSQL.

With ``KAIZEN_JOB_RUNNER=procrastinate`` the API defers each PENDING job to the
``kaizen-optimization`` queue and any number of ``kaizen-server worker`` processes (on any
host) run them, each job still in its own child process under the time limit. A job is
deferred with its id as queueing lock, so re-queueing on start-up never duplicates it. A
worker starting up fails the jobs of workers that stopped sending heartbeats.

Example (shell)::

    KAIZEN_JOB_RUNNER=procrastinate kaizen-server serve   # API replicas
    kaizen-server worker --concurrency 2                    # workers
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import procrastinate
from sqlalchemy.engine import make_url

from kaizen_sdk.models import JobStatus
from kaizen_server.db.engine import Database
from kaizen_server.optimization.job_store import finish_job, pending_job_ids
from kaizen_server.optimization.runner import SubprocessJobRunner
from kaizen_server.optimization.settings import OptimizationSettings, get_optimization_settings
from kaizen_server.settings import ServerSettings, load_settings

__all__ = [
    "QUEUE",
    "STALLED_MESSAGE",
    "TASK_NAME",
    "QueueJobDispatcher",
    "build_queue_app",
    "run_worker",
]

log = logging.getLogger(__name__)

QUEUE = "kaizen-optimization"
TASK_NAME = "kaizen.run_optimization_job"
STALLED_MESSAGE = "The worker running the job stopped responding; trigger it again."
STALLED_AFTER_S = 30.0


def _conninfo(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        raise ValueError(
            "KAIZEN_JOB_RUNNER=procrastinate needs PostgreSQL (KAIZEN_DATABASE_URL="
            "postgresql+asyncpg://...)"
        )
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def _run_in_child(job_id: str) -> None:
    settings = load_settings()
    database = Database.connect(settings.database_url)
    try:
        await SubprocessJobRunner(settings, database).run(job_id)
    finally:
        await database.dispose()


def build_queue_app(database_url: str) -> procrastinate.App:
    """The procrastinate app with the job task registered."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=_conninfo(database_url))
    )
    app.task(name=TASK_NAME, queue=QUEUE)(_run_in_child)
    return app


async def _ensure_schema(app: procrastinate.App) -> None:
    row = await app.connector.execute_query_one_async(
        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
    )
    if not row["present"]:
        await app.schema_manager.apply_schema_async()


async def _defer(app: procrastinate.App, job_id: str) -> None:
    with contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
        await app.tasks[TASK_NAME].configure(queueing_lock=job_id).defer_async(job_id=job_id)


class QueueJobDispatcher:
    """The server's :class:`~kaizen_server.optimization.dispatch.JobDispatcher` in scaled mode."""

    def __init__(self, settings: ServerSettings, database: Database) -> None:
        self.database = database
        self.app = build_queue_app(settings.database_url)

    async def start(self) -> None:
        """Open the queue, create its tables if missing, queue PENDING jobs again."""
        await self.app.open_async()
        await _ensure_schema(self.app)
        for job_id in await pending_job_ids(self.database):
            await _defer(self.app, job_id)

    async def stop(self) -> None:
        await self.app.close_async()

    async def dispatch(self, job_id: str) -> None:
        await _defer(self.app, job_id)


async def _fail_stalled(app: procrastinate.App, database: Database) -> None:
    stalled = await app.job_manager.get_stalled_jobs(
        queue=QUEUE, seconds_since_heartbeat=STALLED_AFTER_S
    )
    for job in stalled:
        job_id = str(job.task_kwargs.get("job_id"))
        await finish_job(database, job_id, JobStatus.FAILURE, error_message=STALLED_MESSAGE)
        if job.id is not None:
            await app.job_manager.finish_job_by_id_async(
                job.id, status=procrastinate.jobs.Status.FAILED, delete_job=False
            )


async def run_worker(
    settings: ServerSettings,
    optimization: OptimizationSettings | None = None,
    *,
    concurrency: int | None = None,
    **options: Any,
) -> None:
    """Run a worker until SIGINT/SIGTERM (``options`` go to procrastinate's worker)."""
    optimization = optimization or get_optimization_settings()
    app = build_queue_app(settings.database_url)
    database = Database.connect(settings.database_url)
    try:
        async with app.open_async():
            await _ensure_schema(app)
            await _fail_stalled(app, database)
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=concurrency or optimization.job_concurrency,
                **options,
            )
    finally:
        await database.dispose()
