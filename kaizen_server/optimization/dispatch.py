"""How a stored PENDING job reaches whatever runs it.

The API commits a PENDING job and then calls ``dispatcher.dispatch(job_id)``; the app keeps
one dispatcher (``app.state.context.dispatcher``), built by :func:`build_dispatcher` in the app
factory and started/stopped in the lifespan. The optimization worker plugs in here.

Example:
    >>> import asyncio
    >>> asyncio.run(PendingJobDispatcher().dispatch("3f2c"))  # jobs simply stay PENDING
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kaizen_server.db.engine import Database
    from kaizen_server.settings import ServerSettings

__all__ = ["JobDispatcher", "PendingJobDispatcher", "build_dispatcher"]


class JobDispatcher(Protocol):
    """Runs optimization jobs handed over by the API."""

    async def start(self) -> None:
        """Called once in the app lifespan before requests are served."""

    async def stop(self) -> None:
        """Called once at shutdown."""

    async def dispatch(self, job_id: str) -> None:
        """Take the committed PENDING job ``job_id``; must return quickly."""


class PendingJobDispatcher:
    """A dispatcher that runs nothing: jobs stay PENDING (until a worker picks them up)."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def dispatch(self, job_id: str) -> None:
        """Leave the job PENDING."""


def build_dispatcher(settings: ServerSettings, database: Database) -> JobDispatcher:
    """The dispatcher the app factory installs, by ``KAIZEN_JOB_RUNNER``: the embedded
    subprocess job runner (default), the procrastinate queue, or none (jobs stay PENDING)."""
    from kaizen_server.optimization.runner import SubprocessJobRunner
    from kaizen_server.optimization.settings import get_optimization_settings

    runner = get_optimization_settings().job_runner
    if runner == "none":
        return PendingJobDispatcher()
    if runner == "procrastinate":
        from kaizen_server.optimization.job_queue import QueueJobDispatcher

        return QueueJobDispatcher(settings, database)
    return SubprocessJobRunner(settings, database)
