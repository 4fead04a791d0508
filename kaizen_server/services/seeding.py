"""Seed datasets: a JSONL upload of examples, stored as a task's feedback with ``source`` "seed".

Seeds are training data for a task that has little or no feedback yet: a job reads them like
any feedback, but they never count toward the task's optimization threshold
(:func:`kaizen_server.services.optimization_window.counts_toward_threshold`), so uploading
them starts no job.

An upload is read twice from its spooled copy (a :class:`LineSource`: the HTTP layer spools
the body as it arrives, never holding it in memory), a chunk at a time:

1. without a transaction: every line is parsed and checked (:class:`SeedLine`, the task's
   ``schema_json``); errors are collected by line number, up to :data:`MAX_LISTED_ERRORS`;
2. only when every line was good: in one write transaction, each line is checked again (the
   task may have changed meanwhile) and stored, :data:`INSERT_BATCH_ROWS` rows at a time.

So a bad upload never takes the write lock and stores nothing; a good one is stored whole.

Example:
    >>> target = await seed_target(database, "summarize_ticket")  # 404 before any upload
    ... # doctest: +SKIP
    >>> result = await seed_task(database, target, upload, SeedLimits(...))  # doctest: +SKIP
    >>> result.accepted, result.total_seeds  # doctest: +SKIP
    (120, 120)
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.db.bulk_insert import insert_rows
from kaizen_server.db.columns import utc_now
from kaizen_server.db.engine import Database
from kaizen_server.db.models import Feedback, Task, table_of
from kaizen_server.request_models import SeedLine
from kaizen_server.services.errors import ConflictError, InputValidationError
from kaizen_server.services.feedback import prune_feedback
from kaizen_server.services.input_schema import InputSchema, compile_input_schema
from kaizen_server.services.optimization_window import SEED_SOURCE
from kaizen_server.services.tasks import find_task

__all__ = [
    "CHUNK_BYTES",
    "INSERT_BATCH_ROWS",
    "MAX_LISTED_ERRORS",
    "LineSource",
    "SeedLimits",
    "SeedLineError",
    "SeedTarget",
    "SeedUpload",
    "seed_target",
    "seed_task",
]

CHUNK_BYTES = 64 * 1024
"""How much of the spooled upload is read at once (the event loop runs others in between)."""
INSERT_BATCH_ROWS = 1000
"""Rows per insert while storing an upload."""
MAX_LISTED_ERRORS = 20
"""Checking stops after this many bad lines; the problem lists them all."""
_DETAIL_ERRORS = 5
"""Bad lines named in a problem's ``detail`` (the ``errors`` list has every one found)."""
_UTF8_BOM = b"\xef\xbb\xbf"
_JSON_POSITION = re.compile(r" at line 1 column (\d+)$")


class LineSource(Protocol):
    """A spooled upload read from its start (Starlette's ``UploadFile`` is one)."""

    async def read(self, size: int = -1) -> bytes: ...

    async def seek(self, offset: int) -> None: ...


@dataclass(frozen=True)
class SeedLimits:
    """Bounds of an upload: bytes of one line, seed rows a task may hold in all."""

    max_line_bytes: int
    seed_limit: int


@dataclass(frozen=True)
class SeedLineError:
    """What is wrong with one line: ``loc`` is the field inside the line (empty: the line)."""

    line: int
    loc: tuple[str | int, ...]
    msg: str
    type: str

    def describe(self) -> str:
        """``line 3: score: Input should be ...`` (the form of the problem's ``detail``)."""
        field = ".".join(str(part) for part in self.loc)
        return (
            f"line {self.line}: {field}: {self.msg}" if field else f"line {self.line}: {self.msg}"
        )

    def as_problem_error(self) -> dict[str, object]:
        """The entry of the problem's ``errors`` list: ``loc`` starts with ``"line", N``."""
        return {
            "line": self.line,
            "loc": ["line", self.line, *self.loc],
            "msg": self.msg,
            "type": self.type,
        }


@dataclass(frozen=True)
class SeedTarget:
    """The task an upload is for, as read before the upload is: what checking a line needs."""

    task_id: uuid.UUID
    name: str
    schema_json: dict[str, Any] | None
    feedback_retention_limit: int | None


@dataclass(frozen=True)
class SeedUpload:
    """A stored upload: rows stored now, seed rows the task holds in all, and the limit."""

    task_id: uuid.UUID
    accepted: int
    total_seeds: int
    seed_limit: int


async def _lines(source: LineSource, max_line_bytes: int) -> AsyncIterator[tuple[int, bytes]]:
    """``(number, text)`` of each non-blank line; an over-long line's text is empty (only
    ``max_line_bytes`` of a line are ever held)."""
    await source.seek(0)
    number = 0
    pending = bytearray()
    too_long = False
    first = True
    while chunk := await source.read(CHUNK_BYTES):
        if first:
            chunk = chunk.removeprefix(_UTF8_BOM)
            first = False
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            if not too_long:
                pending += chunk[start:end]
                too_long = len(pending) > max_line_bytes
            if too_long:
                yield number, b""
            elif pending.strip():
                yield number, bytes(pending)
            pending.clear()
            too_long = False
            start = end + 1
        if not too_long:
            pending += chunk[start:]
            if len(pending) > max_line_bytes:
                too_long = True
                pending.clear()
        await asyncio.sleep(0)  # one chunk at a time: other requests run in between
    if too_long:
        yield number + 1, b""
    elif pending.strip():
        yield number + 1, bytes(pending)


def _json_message(message: str) -> str:
    """pydantic's ``Invalid JSON: ... at line 1 column 7`` -> ``... at column 7`` (a seed
    line is one line; its number is the upload's, given separately)."""
    return _JSON_POSITION.sub(r" at column \1", message)


def _check_line(
    number: int, text: bytes, schema: InputSchema | None, max_line_bytes: int
) -> SeedLine | list[SeedLineError]:
    """The line as a :class:`SeedLine`, or what is wrong with it."""
    if not text:
        return [SeedLineError(number, (), f"longer than {max_line_bytes} bytes", "too_long")]
    try:
        seed = SeedLine.model_validate_json(text)
    except ValidationError as exc:
        return [
            SeedLineError(
                number,
                tuple(error["loc"]),
                _json_message(str(error["msg"]).removeprefix("Value error, ")),
                str(error["type"]),
            )
            for error in exc.errors(include_url=False, include_input=False)
        ]
    if schema is not None:
        problem = schema.first_error(seed.inputs, "inputs")
        if problem is not None:
            field, _, message = problem.partition(": ")
            loc = tuple(field.split(".")) if message else ()
            return [SeedLineError(number, loc, message or problem, "input_schema")]
    return seed


def _rejected(errors: list[SeedLineError], *, stopped: bool) -> InputValidationError:
    described = [error.describe() for error in errors[:_DETAIL_ERRORS]]
    if len(errors) > _DETAIL_ERRORS:
        lines = len({error.line for error in errors})
        described.append(f"... {len(errors)} errors on {lines} lines in all")
    if stopped:
        described.append(f"checking stopped after {MAX_LISTED_ERRORS} bad lines")
    detail = "Nothing was stored: " + "; ".join(described)
    return InputValidationError(detail, errors=[error.as_problem_error() for error in errors])


async def _check_upload(source: LineSource, schema: InputSchema | None, limits: SeedLimits) -> int:
    """How many seed lines the upload has; :class:`InputValidationError` listing bad lines."""
    errors: list[SeedLineError] = []
    bad_lines = 0
    count = 0
    async for number, text in _lines(source, limits.max_line_bytes):
        checked = _check_line(number, text, schema, limits.max_line_bytes)
        if isinstance(checked, list):
            errors.extend(checked)
            bad_lines += 1
            if bad_lines >= MAX_LISTED_ERRORS:
                raise _rejected(errors, stopped=True)
            continue
        count += 1
        if count > limits.seed_limit:
            errors.append(
                SeedLineError(
                    number,
                    (),
                    f"more than {limits.seed_limit} seed lines (the seed limit of a task)",
                    "too_many_seeds",
                )
            )
            break
    if errors:
        raise _rejected(errors, stopped=False)
    if count == 0:
        raise InputValidationError(
            "body: no seed lines; send one JSON object per line, "
            'e.g. {"inputs": {...}, "output": "...", "score": 1.0}'
        )
    return count


async def _seed_count(session: AsyncSession, task_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Feedback)
        .where(Feedback.task_id == task_id, Feedback.source == SEED_SOURCE)
    )
    return int(count or 0)


def _row(task_id: uuid.UUID, seed: SeedLine) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "task_id": task_id,
        "inputs": seed.inputs,
        "output": seed.output,
        "score": seed.score,
        "source": SEED_SOURCE,
        "metadata": seed.metadata,
        "trace_id": None,
        "created_at": utc_now(),  # strictly increasing: the seeds keep the file's order
    }


async def _store(
    session: AsyncSession, task_ref: str, source: LineSource, expected: int, limits: SeedLimits
) -> SeedUpload:
    task = await find_task(session, task_ref, for_update=True)
    held = await _seed_count(session, task.id)
    if held + expected > limits.seed_limit:
        raise ConflictError(
            f"Task {task.name!r} holds {held} seed rows; {expected} more would pass the seed "
            f"limit of {limits.seed_limit} (KAIZEN_SEED_LIMIT)"
        )
    schema = compile_input_schema(task.schema_json)
    table = table_of(Feedback)
    rows: list[dict[str, Any]] = []
    stored = 0
    async for number, text in _lines(source, limits.max_line_bytes):
        checked = _check_line(number, text, schema, limits.max_line_bytes)
        if isinstance(checked, list):  # the task's schema changed since the first reading
            raise _rejected(checked, stopped=False)
        rows.append(_row(task.id, checked))
        if len(rows) >= INSERT_BATCH_ROWS:
            await insert_rows(session, table, rows)
            stored += len(rows)
            rows = []
    await insert_rows(session, table, rows)
    stored += len(rows)
    await session.flush()
    await prune_feedback(session, task)
    total = await _seed_count(session, task.id)
    await session.commit()
    return SeedUpload(task.id, stored, total, limits.seed_limit)


def _check_retention(target: SeedTarget, count: int) -> None:
    limit = target.feedback_retention_limit
    if limit is not None and count > limit:
        raise InputValidationError(
            f"body: {count} seed lines, but task {target.name!r} keeps at most {limit} "
            "feedback rows (its feedback_retention_limit)"
        )


async def seed_target(database: Database, task_ref: str) -> SeedTarget:
    """The task ``task_ref`` (UUID or name) as an upload target; :class:`NotFoundError`."""
    async with database.reader() as session:
        task: Task = await find_task(session, task_ref)
        return SeedTarget(task.id, task.name, task.schema_json, task.feedback_retention_limit)


async def seed_task(
    database: Database, target: SeedTarget, source: LineSource, limits: SeedLimits
) -> SeedUpload:
    """Check every line of ``source`` (JSONL), then store them all as seed feedback of
    ``target``, or nothing.

    Raises :class:`InputValidationError` (bad lines, listed by number in its ``errors``; no
    lines; more lines than the task keeps), :class:`ConflictError` (the task would hold more
    than ``limits.seed_limit`` seeds) or :class:`~kaizen_server.services.errors.NotFoundError`
    (the task was deleted meanwhile).
    """
    schema = compile_input_schema(target.schema_json)
    count = await _check_upload(source, schema, limits)
    _check_retention(target, count)
    async with database.writer() as session:
        return await _store(session, str(target.task_id), source, count, limits)
