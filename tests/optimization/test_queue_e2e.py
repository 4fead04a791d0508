"""Scaled mode: the API queues jobs in PostgreSQL (procrastinate), a separate worker runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.optimization.job_helpers import create_task, only_job, post_feedback, watch_job
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.postgres import fresh_postgres_database
from tests.support.processes import stop_process

pytestmark = pytest.mark.postgres


@pytest.fixture
def queued_server(tmp_path: Path) -> Iterator[tuple[CTServerProcess, dict[str, str]]]:
    with fresh_postgres_database() as url:
        env = {"KAIZEN_JOB_RUNNER": "procrastinate"}
        with running_ct_server(url, tmp_path, env) as server:
            yield server, {**server.env(), **env}


def _start_worker(env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    with (workdir / "worker.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "kaizen_server", "worker", "--concurrency", "2"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def test_jobs_wait_in_the_queue_until_a_worker_runs_them(
    queued_server: tuple[CTServerProcess, dict[str, str]], tmp_path: Path
) -> None:
    server, env = queued_server
    with server.client() as client:
        task = create_task(client, feedback_threshold=5)
        post_feedback(client, task["id"], 5)
        job = only_job(client, task["id"])
        assert job["triggered_by"] == "threshold"
        assert client.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "PENDING"
        others = [create_task(client, feedback_threshold=1000) for _ in range(2)]
        other_jobs = []
        for other in others:
            post_feedback(client, other["id"], 4)
            other_jobs.append(client.post(f"/api/v1/optimize/{other['id']}").json()["job"]["id"])

        worker = _start_worker(env, tmp_path)
        try:
            finals = [
                watch_job(client, job_id, deadline_s=60).job for job_id in [job["id"], *other_jobs]
            ]
            assert worker.poll() is None
        finally:
            stop_process(worker, grace_s=15)
        log = (tmp_path / "worker.log").read_text()
        assert [final["status"] for final in finals] == ["SUCCESS"] * 3, (finals, log)
        assert finals[0]["job_metadata"]["optimizer"] == "LabeledFewShot"
        versions = client.get(f"/api/v1/prompts/{task['id']}/versions").json()
        assert versions[0]["id"] == finals[0]["prompt_version_id"]
    assert os.environ.get("KAIZEN_JOB_RUNNER") is None
