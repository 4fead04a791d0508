"""The job process's log records reach the server's log.

A job runs in a child process (``kaizen_server.optimization.job_process``) whose stderr is a
pipe read by the runner. :func:`configure_job_process_logging` makes the child write each
``kaizen_server.*`` record to stderr as one line ``kaizen-log: {json}``;
:func:`read_job_stderr` (in the server, or in a ``kaizen-server worker``) reads that pipe,
hands every such line to the logger of the same name there, so it is formatted and filtered
like the server's own lines (with ``job_pid`` added), and keeps the rest (tracebacks, library
warnings) for the failure message of a crashed job.

Example:
    >>> line = RELAY_PREFIX + '{"name": "kaizen_server.jobs", "levelno": 20, "msg": "job step"}'
    >>> relay_line(line, pid=42)
    True
    >>> relay_line("Traceback (most recent call last):", pid=42)
    False
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections import deque
from typing import Any

__all__ = [
    "MAX_LINE_BYTES",
    "RELAY_PREFIX",
    "TAIL_LINES",
    "configure_job_process_logging",
    "read_job_stderr",
    "relay_line",
]

RELAY_PREFIX = "kaizen-log: "
"""What starts a relayed record's line on the job process's stderr."""

TAIL_LINES = 50
"""Lines of other output kept for the failure message."""

MAX_LINE_BYTES = 64 * 1024
"""A longer line is cut there (a log line never needs more)."""

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _RelayFormatter(logging.Formatter):
    """One record as ``kaizen-log: {"name", "levelno", "msg", "extra", "exception"?}``."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "name": record.name,
            "levelno": record.levelno,
            "msg": record.getMessage(),
            "extra": {
                key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRS
            },
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return RELAY_PREFIX + json.dumps(payload, default=str)


def configure_job_process_logging(level: str) -> None:
    """In the job process: ``kaizen_server.*`` records at ``level`` go to stderr as relay
    lines; everything else (libraries) stays plain, at warning level.

    Example:
        >>> configure_job_process_logging("info")  # doctest: +SKIP
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("dspy", "LiteLLM", "litellm", "optuna", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RelayFormatter())
    own = logging.getLogger("kaizen_server")
    own.handlers[:] = [handler]
    own.setLevel(level.upper())
    own.propagate = False


def relay_line(line: str, *, pid: int) -> bool:
    """Log ``line`` through the server's logger of the same name if it is a relayed record of
    a ``kaizen_server`` logger; False for any other line."""
    if not line.startswith(RELAY_PREFIX):
        return False
    try:
        payload = json.loads(line[len(RELAY_PREFIX) :])
    except ValueError:
        return False
    if not isinstance(payload, dict):
        return False
    name, levelno, msg = payload.get("name"), payload.get("levelno"), payload.get("msg")
    if not (
        isinstance(name, str)
        and (name == "kaizen_server" or name.startswith("kaizen_server."))
        and isinstance(levelno, int)
        and isinstance(msg, str)
    ):
        return False
    logger = logging.getLogger(name)
    if not logger.isEnabledFor(levelno):
        return True
    extra = payload.get("extra")
    fields = {
        key: value
        for key, value in (extra.items() if isinstance(extra, dict) else ())
        if isinstance(key, str) and key not in _STANDARD_ATTRS
    }
    if isinstance(payload.get("exception"), str):
        fields["exception"] = payload["exception"]
    fields["job_pid"] = pid
    # No args: the message is already formatted (a "%" in it stays as it is).
    record = logger.makeRecord(name, levelno, "(job process)", 0, msg, (), None, extra=fields)
    logger.handle(record)
    return True


async def read_job_stderr(stream: asyncio.StreamReader, *, pid: int) -> bytes:
    """Read the job process's stderr to its end, relaying its log records (:func:`relay_line`);
    returns the last :data:`TAIL_LINES` other lines."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    pending = b""
    skipping = False  # inside the rest of a line already cut at MAX_LINE_BYTES

    def take(raw: bytes) -> None:
        line = raw[:MAX_LINE_BYTES].decode(errors="replace").rstrip("\r")
        if not relay_line(line, pid=pid):
            tail.append(line)

    while chunk := await stream.read(MAX_LINE_BYTES):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            if skipping:
                skipping = False
            else:
                take(raw)
        if len(pending) > MAX_LINE_BYTES:
            if not skipping:
                take(pending)
            pending, skipping = b"", True
    if pending and not skipping:
        take(pending)
    return "\n".join(tail).encode()
