"""Helpers of the end-to-end job tests: post feedback, find and follow a task's jobs."""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.fake_llm import good_answer

TERMINAL = {"SUCCESS", "FAILURE", "PR_FAILED"}


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def create_task(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("opt"), "schema_json": {"ticket": "string"}, **fields}
    response = client.post("/api/v1/tasks", json=body)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def feedback_items(task_id: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    items = []
    for index in range(start, start + count):
        ticket = f"ticket {index}: printer {index % 5} on floor {index % 3} is broken"
        items.append(
            {
                "task_id": task_id,
                "inputs": {"ticket": ticket},
                "output": good_answer(ticket),
                "score": 0.9,
            }
        )
    return items


def post_feedback(client: httpx.Client, task_id: str, count: int, start: int = 0) -> None:
    response = client.post(
        "/api/v1/feedback/batch", json={"items": feedback_items(task_id, count, start)}
    )
    assert response.status_code == 201, response.text


def jobs_of(client: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/jobs", params={"task_id": task_id})
    assert response.status_code == 200, response.text
    jobs: list[dict[str, Any]] = response.json()
    return jobs


@dataclass
class JobWatch:
    """The job's final state and every (status, progress_step) seen while polling."""

    job: dict[str, Any]
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def statuses(self) -> list[str]:
        return list(dict.fromkeys(status for status, _ in self.seen))

    @property
    def steps(self) -> list[str]:
        return [step for _, step in self.seen if step]


def watch_job(
    client: httpx.Client, job_id: str, *, until: set[str] | None = None, deadline_s: float = 60.0
) -> JobWatch:
    """Poll the job (every 20 ms) until its status is in ``until`` (default: terminal)."""
    wanted = until or TERMINAL
    watch = JobWatch(job={})
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        state = (job["status"], job.get("progress_step"))
        if not watch.seen or watch.seen[-1] != state:
            watch.seen.append(state)
        if job["status"] in wanted:
            watch.job = job
            return watch
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} not in {wanted} after {deadline_s}s: {watch.seen}")


def only_job(client: httpx.Client, task_id: str, deadline_s: float = 10.0) -> dict[str, Any]:
    """The task's single job, waiting (with a deadline) for it to appear."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        jobs = jobs_of(client, task_id)
        if jobs:
            assert len(jobs) == 1, jobs
            return jobs[0]
        time.sleep(0.02)
    raise AssertionError(f"no job for task {task_id} after {deadline_s}s")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def bare_repo(tmp_path: Path, repo_dir: Path) -> Path:
    """A bare repository with one empty commit on ``main``, created under ``repo_dir``."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    git(
        work,
        "-c",
        "user.email=d@x",
        "-c",
        "user.name=d",
        "commit",
        "--quiet",
        "--allow-empty",
        "-m",
        "initial",
    )
    bare = repo_dir / f"{unique('prompts')}.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(bare))
    return bare
