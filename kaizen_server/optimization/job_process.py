"""One optimization job, run in its own process: ``python -m kaizen_server.optimization.job_process
<job_id>``.

The process claims the PENDING job, loads its inputs, runs the pipeline (reporting progress
steps), passes the candidate through the gate (unchanged: no version; evaluated and not better:
``rejected``, no pull request; better: draft / auto-activate), publishes it as the task's
``mode`` says (``optimize_only``: nothing; ``auto_pr``: the pull request; ``pr_preview``: the
pull request it would open, stored on the job for approval), and records the verdict
(``result``) with estimated and actual usage in ``job_metadata``.
The database URL comes from ``KAIZEN_DATABASE_URL``. It exits by itself if its parent (the
server) dies, so a killed server never leaves an orphan job running.

Example (shell)::

    KAIZEN_DATABASE_URL=sqlite+aiosqlite:///./kaizen.db \\
        python -m kaizen_server.optimization.job_process 1f0c...
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

from kaizen_sdk.models import JobStatus, TaskMode
from kaizen_server.db.engine import Database
from kaizen_server.optimization.errors import OptimizationError
from kaizen_server.optimization.job_log_relay import configure_job_process_logging
from kaizen_server.optimization.job_store import (
    claim_job,
    finish_job,
    load_job_inputs,
    set_progress,
)
from kaizen_server.optimization.pipeline import (
    OptimizationInputs,
    OptimizationOutcome,
    run_optimization,
)
from kaizen_server.optimization.publishing import (
    PullRequestError,
    open_pull_request,
    preview_pull_request,
)
from kaizen_server.optimization.publishing.credentials import with_stored_git_token
from kaizen_server.optimization.result_handling import (
    event_broker,
    judge_candidate,
    publishing_step,
    pull_request_spec,
    store_preview,
    store_version,
    task_mode,
)
from kaizen_server.optimization.runner import CLAIMED_LINE
from kaizen_server.optimization.settings import OptimizationSettings
from kaizen_server.settings import ServerSettings, load_settings

__all__ = ["main", "run_job"]

log = logging.getLogger("kaizen_server.optimization.job")
PARENT_CHECK_INTERVAL_S = 0.5


def _watch_parent(parent_pid: int) -> None:
    """Exit at once when the parent process is gone (re-parented to another pid)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(3)
            time.sleep(PARENT_CHECK_INTERVAL_S)

    threading.Thread(target=watch, name="kaizen-parent-watch", daemon=True).start()


async def _pipeline(
    database: Database, job_id: str, inputs: OptimizationInputs
) -> OptimizationOutcome:
    loop = asyncio.get_running_loop()

    def progress(step: str) -> None:
        asyncio.run_coroutine_threadsafe(set_progress(database, job_id, step), loop).result(30)

    return await asyncio.to_thread(run_optimization, inputs, progress)


async def run_job(
    job_id: str,
    settings: ServerSettings,
    optimization: OptimizationSettings,
    on_claimed: Callable[[], None] = lambda: None,
) -> JobStatus | None:
    """Run the job to a verdict; None when it was not PENDING (another runner has it).

    ``on_claimed`` is called once the job is RUNNING (the runner's time limit starts then).
    """
    started = time.monotonic()
    database = Database.connect(settings.database_url)
    try:
        if not await claim_job(database, job_id):
            return None
        on_claimed()
        try:
            loaded = await load_job_inputs(database, job_id)
            inputs = OptimizationInputs(
                task=loaded.task,
                feedback=loaded.feedback,
                active_prompt_text=loaded.active_prompt.prompt_text
                if loaded.active_prompt
                else None,
                settings=optimization,
                work_dir=(optimization.job_workdir / job_id) if optimization.job_workdir else None,
                traces=loaded.traces,
            )
            outcome = await _pipeline(database, job_id, inputs)
        except OptimizationError as exc:
            await finish_job(
                database,
                job_id,
                JobStatus.FAILURE,
                error_message=str(exc),
                metadata={"duration_s": round(time.monotonic() - started, 3)},
            )
            return JobStatus.FAILURE
        except Exception as exc:
            log.exception("optimization job %s failed", job_id)
            await finish_job(
                database,
                job_id,
                JobStatus.FAILURE,
                error_message=f"Unexpected error: {type(exc).__name__}: {exc}",
                metadata={"duration_s": round(time.monotonic() - started, 3)},
            )
            return JobStatus.FAILURE

        active_text = loaded.active_prompt.prompt_text if loaded.active_prompt else None
        verdict = judge_candidate(loaded.task, outcome, active_text)
        metadata = {
            **outcome.job_metadata(),
            "result": verdict.result.value,
            "baseline_version_number": loaded.active_prompt.version_number
            if loaded.active_prompt
            else None,
        }
        version = None
        if verdict.status is not None:
            await set_progress(database, job_id, "saving the prompt version")
            version = await store_version(
                database, event_broker(settings, database), loaded.task, outcome, verdict, job_id
            )
            metadata["version_number"] = version.version_number
        metadata["activated"] = verdict.activate
        metadata["decision"] = verdict.reason
        metadata["mode"] = task_mode(loaded.task).value
        publishing = publishing_step(loaded.task, verdict)
        spec = (
            pull_request_spec(loaded.task, version, job_id, outcome.baseline_score)
            if version is not None and publishing is not None
            else None
        )
        if spec is not None:  # the task's own git token, if it has one (still encrypted)
            async with database.reader() as session:
                spec = await with_stored_git_token(session, spec, loaded.task.id)
        status, pr_url, error = JobStatus.SUCCESS, None, None
        if spec is not None and publishing is TaskMode.PR_PREVIEW:
            await set_progress(database, job_id, "previewing the pull request")
            preview = await asyncio.to_thread(
                preview_pull_request, spec, optimization, old_prompt=active_text
            )
            await store_preview(database, job_id, preview)
        elif spec is not None:
            await set_progress(database, job_id, "opening the pull request")
            try:
                pr_url = await asyncio.to_thread(open_pull_request, spec, optimization)
            except PullRequestError as exc:
                status, error = JobStatus.PR_FAILED, str(exc)
        metadata["duration_s"] = round(time.monotonic() - started, 3)
        await finish_job(
            database,
            job_id,
            status,
            error_message=error,
            pr_url=pr_url,
            prompt_version_id=version.id if version is not None else None,
            metadata=metadata,
            result=verdict.result.value,
        )
        return status
    finally:
        await database.dispose()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the job process; exit code 0 whenever a verdict was recorded."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kaizen_server.optimization.job_process <job_id>", file=sys.stderr)
        return 2
    _watch_parent(os.getppid())
    settings = load_settings()
    configure_job_process_logging(settings.log_level)  # the runner relays the records
    status = asyncio.run(
        run_job(
            args[0],
            settings,
            OptimizationSettings(),
            on_claimed=lambda: print(CLAIMED_LINE, flush=True),
        )
    )
    if status is not None:
        print(f"job {args[0]}: {status.value}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
