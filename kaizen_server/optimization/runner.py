"""The embedded job runner: the server runs each optimization job in a child process.

A child process per job because DSPy keeps global settings and history (threads in the server
would share them) and because a process can be killed: over ``KAIZEN_JOB_TIME_LIMIT_S`` the
job is killed and marked FAILURE. On start-up RUNNING jobs left by a previous server process
are failed ("server restarted") and PENDING jobs are queued again. This is the server's
:class:`~kaizen_server.optimization.dispatch.JobDispatcher`.

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
from kaizen_server.optimization.job_log_relay import read_job_stderr
from kaizen_server.optimization.job_store import fail_stale_jobs, finish_job, pending_job_ids
from kaizen_server.optimization.settings import OptimizationSettings, get_optimization_settings
from kaizen_server.settings import ServerSettings

__all__ = ["RESTARTED_MESSAGE", "STOPPED_MESSAGE", "SubprocessJobRunner"]

log = logging.getLogger(__name__)

RESTARTED_MESSAGE = "The server restarted while the job was running; trigger it again."
STOPPED_MESSAGE = "The server shut down while the job was running; trigger it again."
STDERR_TAIL_CHARS = 2000
JOB_START_LIMIT_S = 120.0
"""Longest a job process may take to start and claim its job (imports included)."""
CLAIMED_LINE = "kaizen-job-claimed"
"""What the job process prints on stdout once the job is RUNNING: the time limit starts."""


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][-STDERR_TAIL_CHARS:] if lines else "no output"


async def _until_claimed(stdout: asyncio.StreamReader) -> None:
    """Wait until the job process says it claimed the job, or ends (it found nothing to do)."""
    while True:
        line = await stdout.readline()
        if not line or line.strip() == CLAIMED_LINE.encode():
            return


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
        env["KAIZEN_LOG_LEVEL"] = self.settings.log_level
        return env

    async def _kill_and_fail(
        self,
        process: asyncio.subprocess.Process,
        job_id: str,
        message: str,
        metadata: dict[str, float],
    ) -> None:
        _kill_group(process)
        await process.wait()
        await finish_job(
            self.database, job_id, JobStatus.FAILURE, error_message=message, metadata=metadata
        )

    async def run(self, job_id: str) -> None:
        """Run one job in a child process under the time limit, recording crashes and kills.

        The time limit counts from the moment the child has claimed the job (RUNNING), so a
        slow start (importing DSPy on a loaded machine) never kills a job still PENDING; the
        start itself has its own bound, :data:`JOB_START_LIMIT_S`.
        """
        limit = self.optimization.job_time_limit_s
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kaizen_server.optimization.job_process",
            job_id,
            env=self._child_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        # Relays the job's log records to this process's log; keeps the rest for errors.
        stderr_reader = asyncio.create_task(read_job_stderr(process.stderr, pid=process.pid))
        try:
            try:
                await asyncio.wait_for(_until_claimed(process.stdout), timeout=JOB_START_LIMIT_S)
            except TimeoutError:
                await self._kill_and_fail(
                    process,
                    job_id,
                    f"The job process did not start within {JOB_START_LIMIT_S:g} s and was killed.",
                    {"start_limit_s": JOB_START_LIMIT_S},
                )
                return
            stdout_drain = asyncio.create_task(process.stdout.read())  # a full pipe would block
            try:
                await asyncio.wait_for(process.wait(), timeout=limit)
            except TimeoutError:
                await self._kill_and_fail(
                    process,
                    job_id,
                    f"Time limit exceeded: the job ran longer than {limit:g} s "
                    "and was killed (KAIZEN_JOB_TIME_LIMIT_S).",
                    {"time_limit_s": limit},
                )
                return
            await stdout_drain
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
        finally:
            if process.returncode is None:
                _kill_group(process)
            stderr = await asyncio.shield(stderr_reader)
        if process.returncode != 0:
            await finish_job(
                self.database,
                job_id,
                JobStatus.FAILURE,
                error_message=f"The job process exited with code {process.returncode}: "
                f"{_last_line(stderr)}",
            )
