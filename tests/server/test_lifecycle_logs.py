"""The real server's log tells each job's lifecycle and each activation, as structured lines.

A job runs in a child process: its lines (started, steps, finished, an activation by the job)
must reach the server's own log, relayed from the child's stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kaizen_server.optimization.job_log_relay import (
    MAX_LINE_BYTES,
    RELAY_PREFIX,
    read_job_stderr,
)
from tests.optimization.job_helpers import create_task, only_job, post_feedback, watch_job
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.fake_llm import FakeLLM

DEAD_LM = "http://127.0.0.1:9/v1"
"""An endpoint nothing listens on (the discard port)."""
LOG_DEADLINE_S = 10.0

Record = dict[str, Any]


@pytest.fixture(scope="module")
def logging_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CTServerProcess]:
    """A CT server at info level whose jobs talk to the loopback fake LLM."""
    with FakeLLM() as fake:
        workdir = tmp_path_factory.mktemp("ct-lifecycle-logs")
        env = {
            "KAIZEN_LOG_LEVEL": "info",
            "KAIZEN_LLM_API_BASE": fake.api_base,
            "KAIZEN_LLM_NUM_RETRIES": "0",
            "KAIZEN_LLM_ALLOWED_API_BASES": json.dumps([DEAD_LM]),
        }
        url = f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}"
        with running_ct_server(url, workdir, env) as server:
            yield server


def _records(server: CTServerProcess) -> list[Record]:
    assert server.log_path is not None
    records = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def _wait_for(server: CTServerProcess, found: Callable[[list[Record]], bool]) -> list[Record]:
    """The server's records once ``found`` holds for them (a line may trail the answer)."""
    deadline = time.monotonic() + LOG_DEADLINE_S
    while True:
        records = _records(server)
        if found(records):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"not in the log after {LOG_DEADLINE_S}s: {records[-20:]}")
        time.sleep(0.05)


def _of_job(records: list[Record], job_id: str) -> list[Record]:
    return [r for r in records if r.get("logger") == "kaizen_server.jobs" and r["job"] == job_id]


def _activations(records: list[Record], task: str) -> list[Record]:
    return [
        r
        for r in records
        if r.get("logger") == "kaizen_server.prompts"
        and r["event"] == "prompt_activated"
        and r["task"] == task
    ]


def test_a_job_run_end_to_end_logs_its_lifecycle_and_its_activation(
    logging_server: CTServerProcess,
) -> None:
    with logging_server.client() as client:
        task = create_task(
            client,
            teacher_model="fake-teacher",
            judge_model="fake-judge",
            feedback_threshold=12,
            auto_activate=True,
            activation_margin=0.05,
        )
        name = task["name"]
        v1 = client.post(
            f"/api/v1/prompts/{name}/versions",
            json={"prompt_text": "Summarize the ticket.", "activate": True},
        ).json()
        post_feedback(client, task["id"], 12)
        job_id = only_job(client, task["id"])["id"]
        final = watch_job(client, job_id).job
        assert final["status"] == "SUCCESS", final
        assert final["job_metadata"]["activated"] is True

        records = _wait_for(
            logging_server,
            lambda rs: (
                any(r["event"] == "job_finished" for r in _of_job(rs, job_id))
                and len(_activations(rs, name)) == 2
            ),
        )
        lines = _of_job(records, job_id)
        events = [r["event"] for r in lines]
        assert events[:2] == ["job_queued", "job_started"]
        assert events[-1] == "job_finished"
        assert set(events[2:-1]) == {"job_step"}
        queued, started, finished = lines[0], lines[1], lines[-1]
        assert queued["message"] == f"job queued task={name} job={job_id} triggered_by=threshold"
        assert (queued["task"], queued["triggered_by"]) == (name, "threshold")
        assert "job_pid" not in queued  # the server's own line
        assert started["task"] == name
        assert isinstance(started["job_pid"], int)  # relayed from the job process
        steps = [r["step"] for r in lines if r["event"] == "job_step"]
        assert steps == [entry["step"] for entry in final["job_metadata"]["progress"]]
        assert (finished["status"], finished["result"], finished["version"]) == (
            "SUCCESS",
            final["result"],
            2,
        )
        assert finished["duration_s"] == final["job_metadata"]["duration_s"]
        assert finished["message"].startswith(
            f"job finished task={name} job={job_id} result={final['result']} status=SUCCESS "
            "version=2 duration_s="
        )
        assert all(r["level"] == "info" for r in lines)

        first, by_job = _activations(records, name)
        assert (first["version"], first["previous"]) == (1, None)
        assert first["message"] == f"prompt activated task={name} version=1 previous=-"
        assert (by_job["version"], by_job["previous"]) == (2, 1)
        assert "job_pid" in by_job  # the job activated it, in its own process

        # A rollback through the API is an activation too.
        rolled_back = client.post(f"/api/v1/prompts/{name}/activate", json={"version_id": v1["id"]})
        assert rolled_back.status_code == 200, rolled_back.text
        records = _wait_for(logging_server, lambda rs: len(_activations(rs, name)) == 3)
        rollback = _activations(records, name)[-1]
        assert (rollback["version"], rollback["previous"]) == (1, 2)
    assert logging_server.api_key not in logging_server.log_path.read_text()  # type: ignore[union-attr]


def test_a_failed_job_logs_its_error(logging_server: CTServerProcess) -> None:
    with logging_server.client() as client:
        task = create_task(
            client,
            teacher_model="fake-teacher",
            feedback_threshold=1000,
            evaluator_config={"api_base": DEAD_LM},
        )
        post_feedback(client, task["id"], 12)
        job_id = client.post(f"/api/v1/optimize/{task['id']}").json()["job"]["id"]
        final = watch_job(client, job_id).job
        assert final["status"] == "FAILURE"

    records = _wait_for(
        logging_server, lambda rs: any(r["event"] == "job_failed" for r in _of_job(rs, job_id))
    )
    lines = _of_job(records, job_id)
    assert lines[0]["triggered_by"] == "api"
    failed = lines[-1]
    assert (failed["event"], failed["level"], failed["status"]) == (
        "job_failed",
        "warning",
        "FAILURE",
    )
    assert failed["error"] == final["error_message"]
    assert failed["message"].startswith(f"job failed task={task['name']} job={job_id} ")
    assert 'error="The teacher model' in failed["message"]
    assert "\n" not in failed["message"]


def test_the_relay_logs_records_and_keeps_other_output_for_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = {"name": "kaizen_server.jobs", "levelno": 20, "msg": "job step 100%", "extra": {}}
    record["extra"] = {"event": "job_step", "step": "x", "msg": "forged", "job_pid": 1}
    lines = [
        RELAY_PREFIX + json.dumps(record),
        RELAY_PREFIX + json.dumps({**record, "name": "elsewhere"}),  # not a server logger
        RELAY_PREFIX + "{not json",
        "Traceback (most recent call last):",
        "x" * (MAX_LINE_BYTES * 2 + 10),  # one over-long line: cut once, its rest dropped
        "RuntimeError: boom",
    ]

    async def read() -> bytes:
        stream = asyncio.StreamReader()
        stream.feed_data("\n".join(lines).encode())
        stream.feed_eof()
        return await read_job_stderr(stream, pid=4242)

    logger = logging.getLogger("kaizen_server")
    propagate = logger.propagate
    logger.propagate = True  # caplog listens on the root logger
    try:
        with caplog.at_level(logging.INFO, logger="kaizen_server.jobs"):
            tail = asyncio.run(read()).decode().splitlines()
    finally:
        logger.propagate = propagate
    relayed = [r for r in caplog.records if r.name == "kaizen_server.jobs"]
    assert [r.getMessage() for r in relayed] == ["job step 100%"]
    assert (relayed[0].__dict__["step"], relayed[0].__dict__["job_pid"]) == ("x", 4242)
    assert tail[0].startswith(RELAY_PREFIX)  # the other logger's line is output, not a record
    assert tail[1:3] == [RELAY_PREFIX + "{not json", "Traceback (most recent call last):"]
    assert tail[3] == "x" * MAX_LINE_BYTES
    assert tail[4:] == ["RuntimeError: boom"]
