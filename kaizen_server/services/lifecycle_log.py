"""Structured log lines for each optimization job's lifecycle and each prompt activation.

One line per event, through :mod:`logging` (loggers ``kaizen_server.jobs`` and
``kaizen_server.prompts``): the message reads ``job queued task=... job=... triggered_by=...``
(values with spaces are quoted), and the same fields travel as the record's ``extra``, so the
server's JSON log lines (``kaizen_server.http.request_log.JsonLogFormatter``) carry them as
keys: ``{"message": "job queued task=t job=3f2c triggered_by=api", "event": "job_queued",
"task": "t", "job": "3f2c", "triggered_by": "api", ...}``.

The events: ``job queued`` (stored PENDING and handed to the dispatcher), ``job started``
(claimed, RUNNING), ``job step`` (each progress step), ``job finished`` (SUCCESS or PR_FAILED,
with ``result``, ``version`` and ``duration_s``), ``job failed`` (FAILURE, with ``error``),
``prompt activated`` (``version`` and the ``previous`` active one), ``rollout started``
(``rollout``, ``version``, ``share``) and ``rollout ended`` (``status``, ``reason``). A job
runs in a child process; its lines reach the server's log through
``kaizen_server.optimization.job_log_relay``.

Example:
    >>> import logging, sys
    >>> handler = logging.StreamHandler(sys.stdout)
    >>> jobs_log.addHandler(handler); jobs_log.setLevel(logging.INFO)
    >>> job_step("3f2c", "summarize", "preparing the dataset")
    job step task=summarize job=3f2c step="preparing the dataset"
    >>> jobs_log.removeHandler(handler)
"""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = [
    "MAX_VALUE_CHARS",
    "job_finished",
    "job_queued",
    "job_started",
    "job_step",
    "jobs_log",
    "logfmt",
    "prompt_activated",
    "prompts_log",
    "rollout_ended",
    "rollout_started",
]

jobs_log = logging.getLogger("kaizen_server.jobs")
prompts_log = logging.getLogger("kaizen_server.prompts")

MAX_VALUE_CHARS = 500
"""Longest value written into a line (an error message is cut there)."""


def _value(value: object) -> str:
    text = "-" if value is None else str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "..."
    if not text or any(c.isspace() or c in '"=\\' for c in text) or not text.isprintable():
        return json.dumps(text)
    return text


def logfmt(**fields: object) -> str:
    """``key=value`` pairs, values quoted (JSON string) when they hold spaces, quotes or
    control characters, so a line is always one line; ``None`` is ``-``.

    Example:
        >>> logfmt(task="t", error="Boom:\\nbad", version=None)
        'task=t error="Boom:\\\\nbad" version=-'
    """
    return " ".join(f"{key}={_value(value)}" for key, value in fields.items())


def _emit(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return
    extra = {
        key: value[:MAX_VALUE_CHARS] if isinstance(value, str) else value
        for key, value in fields.items()
    }
    logger.log(
        level, "%s %s", event, logfmt(**fields), extra={"event": event.replace(" ", "_"), **extra}
    )


def job_queued(job_id: str, task: str, triggered_by: str) -> None:
    """The job is stored PENDING and handed to the dispatcher."""
    _emit(jobs_log, logging.INFO, "job queued", task=task, job=job_id, triggered_by=triggered_by)


def job_started(job_id: str, task: str | None) -> None:
    """A runner claimed the job (RUNNING)."""
    _emit(jobs_log, logging.INFO, "job started", task=task, job=job_id)


def job_step(job_id: str, task: str | None, step: str) -> None:
    """The RUNNING job reached ``step``."""
    _emit(jobs_log, logging.INFO, "job step", task=task, job=job_id, step=step)


def job_finished(
    job_id: str,
    task: str | None,
    *,
    status: str,
    result: str | None,
    version: int | None,
    duration_s: float | None,
    error: str | None,
) -> None:
    """The job reached a terminal ``status``: ``job failed`` (warning) for FAILURE, else
    ``job finished`` (a PR_FAILED one at warning level, with the pull request's ``error``)."""
    if status == "FAILURE":
        _emit(
            jobs_log,
            logging.WARNING,
            "job failed",
            task=task,
            job=job_id,
            status=status,
            duration_s=duration_s,
            error=error,
        )
        return
    fields: dict[str, Any] = {
        "task": task,
        "job": job_id,
        "result": result,
        "status": status,
        "version": version,
        "duration_s": duration_s,
    }
    if error:
        fields["error"] = error
    level = logging.INFO if status == "SUCCESS" else logging.WARNING
    _emit(jobs_log, level, "job finished", **fields)


def prompt_activated(task: str, version: int, previous: int | None) -> None:
    """``version`` of ``task`` became active (``previous`` was; ``None``: none was)."""
    _emit(
        prompts_log, logging.INFO, "prompt activated", task=task, version=version, previous=previous
    )


def rollout_started(task: str, rollout: str, version: int, share: float) -> None:
    """``version`` of ``task`` is served to ``share`` of its traffic."""
    _emit(
        prompts_log,
        logging.INFO,
        "rollout started",
        task=task,
        rollout=rollout,
        version=version,
        share=share,
    )


def rollout_ended(task: str, rollout: str, status: str, reason: str) -> None:
    """The rollout ended ``promoted`` or ``stopped``, for ``reason``."""
    _emit(
        prompts_log,
        logging.INFO,
        "rollout ended",
        task=task,
        rollout=rollout,
        status=status,
        reason=reason,
    )
