"""The embedded job runner: the server runs each optimization job in a child process.

A child process per job because DSPy keeps global settings and history (threads in the server
would share them) and because a process can be killed: over ``KAIZEN_JOB_TIME_LIMIT_S`` the
job is killed and marked FAILURE. On start-up RUNNING jobs left by a previous server process
are failed ("server restarted") and PENDING jobs are queued again. This is the server's
:class:`~kaizen_server.jobs.dispatch.JobDispatcher`.

Example:
    >>> runner = SubprocessJobRunner(server_settings, database)  # doctest: +SKIP
    >>> await runner.start(); await runner.dispatch(job_id)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from kaizen_sdk.models import JobStatus
from kaizen_server.db.engine import Database
from kaizen_server.optimization.job_store import fail_stale_jobs, finish_job, pending_job_ids
from kaizen_server.optimization.settings import OptimizationSettings, get_optimization_settings
from kaizen_server.settings import ServerSettings

__all__ = ["RESTARTED_MESSAGE", "STOPPED_MESSAGE", "SubprocessJobRunner"]

log = logging.getLogger(__name__)

RESTARTED_MESSAGE = "The server restarted while the job was running; trigger it again."
STOPPED_MESSAGE = "The server shut down while the job was running; trigger it again."
STDERR_TAIL_CHARS = 2000


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][-STDERR_TAIL_CHARS:] if lines else "no output"


class SubprocessJobRunner:
    """Queue of job ids worked by ``job_concurrency`` loops, one child process per job."""

    def __init__(
        self,
        settings: ServerSettings,
        database: Database,
        optimization: OptimizationSettings | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.optimization = optimization or get_optimization_settings()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Fail jobs a previous process left RUNNING, queue PENDING ones, start the workers."""
        stale = await fail_stale_jobs(self.database, RESTARTED_MESSAGE)
        if stale:
            log.warning("failed %d job(s) left RUNNING by a previous server process", len(stale))
        for job_id in await pending_job_ids(self.database):
            self._queue.put_nowait(job_id)
        self._workers = [
            asyncio.create_task(self._work(), name=f"kaizen-job-worker-{index}")
            for index in range(self.optimization.job_concurrency)
        ]

    async def stop(self) -> None:
        """Stop the workers; a job still running is killed and marked FAILURE."""
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []

    async def dispatch(self, job_id: str) -> None:
        """Queue a committed PENDING job."""
        self._queue.put_nowait(job_id)

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                await self.run(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("running optimization job %s failed", job_id)

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KAIZEN_DATABASE_URL"] = self.settings.database_url
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def run(self, job_id: str) -> None:
        """Run one job in a child process under the time limit, recording crashes and kills."""
        limit = self.optimization.job_time_limit_s
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kaizen_server.optimization.job_process",
            job_id,
            env=self._child_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=limit)
        except TimeoutError:
            _kill_group(process)
            await process.wait()
            await finish_job(
                self.database,
                job_id,
                JobStatus.FAILURE,
                error_message=f"Time limit exceeded: the job ran longer than {limit:g} s "
                "and was killed (KAIZEN_JOB_TIME_LIMIT_S).",
                metadata={"time_limit_s": limit},
            )
            return
        except asyncio.CancelledError:
            _kill_group(process)
            with contextlib.suppress(Exception):
                await asyncio.shield(process.wait())
                await asyncio.shield(
                    finish_job(
                        self.database, job_id, JobStatus.FAILURE, error_message=STOPPED_MESSAGE
                    )
                )
            raise
        if process.returncode != 0:
            await finish_job(
                self.database,
                job_id,
                JobStatus.FAILURE,
                error_message=f"The job process exited with code {process.returncode}: "
                f"{_last_line(stderr)}",
            )
