"""The gate, end to end on both databases: only a measured improvement becomes a draft and a PR.

Two loopback fake LMs: on one, few-shot demos help (the candidate must win); on the other they
hurt (the candidate must be ``rejected``, with no pull request). The PR target is a local bare
repository, so "no PR" is checked on the repository itself: no branch was pushed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.optimization.job_helpers import bare_repo, create_task, git, post_feedback, watch_job
from tests.support.ct_server import CTServerProcess
from tests.support.fake_llm import DEFAULT_MARKER, FakeLLM
from tests.support.postgres import PG_HOST, PG_PORT, fresh_postgres_database, postgres_running

BASELINE = "Summarize the ticket."


@pytest.fixture(scope="module")
def helping_lm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture(scope="module")
def hurting_lm() -> Iterator[FakeLLM]:
    with FakeLLM(demos_hurt=True) as fake:
        yield fake


BACKENDS = ["sqlite", "postgres"]


@dataclass(frozen=True)
class GateRun:
    """A backend's server and, per test, what the test set up and the job it started."""

    server: CTServerProcess
    rejected: tuple[dict[str, Any], Path, str]  # task, repository, job id
    improved: tuple[dict[str, Any], Path, str]
    unevaluated: tuple[dict[str, Any], str]  # task, job id


def _start_job(server: CTServerProcess, task: dict[str, Any], feedback: int) -> str:
    with server.client() as client:
        post_feedback(client, str(task["id"]), feedback)
        started = client.post(f"/api/v1/optimize/{task['id']}")
        assert started.status_code == 200, started.text
        job_id: str = started.json()["job"]["id"]
    return job_id


def _finished(server: CTServerProcess, job_id: str) -> dict[str, Any]:
    with server.client() as client:
        final = watch_job(client, job_id).job
    assert final["status"] == "SUCCESS", final
    return final


@pytest.fixture(scope="module")
def gate_runs(
    helping_lm: FakeLLM, hurting_lm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, GateRun]]:
    """The server of each backend (PostgreSQL's when it runs), started side by side, with the
    first job of every test already queued: the two servers work their queues (one job at a
    time each) at the same time while the tests read the results in turn."""
    env = {
        "KAIZEN_LLM_API_BASE": helping_lm.api_base,
        "KAIZEN_LLM_NUM_RETRIES": "0",
        "KAIZEN_LLM_ALLOWED_API_BASES": json.dumps([hurting_lm.api_base]),
    }
    backends = BACKENDS if postgres_running() else ["sqlite"]
    with contextlib.ExitStack() as stack:
        servers = {}
        for backend in backends:
            workdir = tmp_path_factory.mktemp(f"gate-{backend}")
            url = (
                f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}"
                if backend == "sqlite"
                else stack.enter_context(fresh_postgres_database())
            )
            server = CTServerProcess(database_url=url, workdir=workdir, extra_env=env)
            stack.callback(server.stop)
            servers[backend] = server
        with ThreadPoolExecutor(max_workers=len(servers)) as pool:
            for started in [pool.submit(server.start) for server in servers.values()]:
                started.result()
        runs = {}
        for backend, server in servers.items():
            rejected_repo = bare_repo(tmp_path_factory.mktemp("rejected"), server.repo_dir)
            rejected = _task_with_repo(server, rejected_repo, hurting_lm.api_base)
            improved_repo = bare_repo(tmp_path_factory.mktemp("improved"), server.repo_dir)
            improved = _task_with_repo(server, improved_repo)
            with server.client() as client:
                unevaluated = create_task(client, feedback_threshold=1000)  # no teacher: no LM
            runs[backend] = GateRun(
                server,
                (rejected, rejected_repo, _start_job(server, rejected, 12)),
                (improved, improved_repo, _start_job(server, improved, 12)),
                (unevaluated, _start_job(server, unevaluated, 4)),
            )
        yield runs


@pytest.fixture(params=BACKENDS)
def gate_run(request: pytest.FixtureRequest, gate_runs: dict[str, GateRun]) -> GateRun:
    if request.param not in gate_runs:
        pytest.skip(
            f"PostgreSQL is not running on {PG_HOST}:{PG_PORT} "
            "(scripts/services.sh starts it where it is installed)"
        )
    return gate_runs[request.param]


def _task_with_repo(
    server: CTServerProcess, repo: Path, api_base: str | None = None
) -> dict[str, Any]:
    with server.client() as client:
        task = create_task(
            client,
            teacher_model="fake-teacher",
            feedback_threshold=1000,
            github_repo=repo.name,
            prompt_path="prompts/summary.txt",
            evaluator_config={"api_base": api_base} if api_base else None,
        )
        response = client.post(
            f"/api/v1/prompts/{task['id']}/versions",
            json={"prompt_text": BASELINE, "activate": True},
        )
        assert response.status_code == 201, response.text
        assert response.json()["evaluated"] is False
    return task


def _branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def _versions(server: CTServerProcess, task: dict[str, Any]) -> list[dict[str, Any]]:
    with server.client() as client:
        versions: list[dict[str, Any]] = client.get(f"/api/v1/prompts/{task['id']}/versions").json()
    return versions


def test_a_candidate_that_scores_below_the_active_prompt_is_rejected_without_a_pr(
    gate_run: GateRun,
) -> None:
    gate_server = gate_run.server
    task, repo, job_id = gate_run.rejected
    final = _finished(gate_server, job_id)

    assert final["result"] == "no_improvement"
    assert final["pr_url"] is None
    assert _branches(repo) == ["main"]
    evaluation = final["job_metadata"]["evaluation"]
    assert evaluation["split_size"] == 4 == len(evaluation["examples"])
    assert evaluation["candidate_score"] < evaluation["baseline_score"]
    for example in evaluation["examples"]:
        assert example["expected"].startswith(DEFAULT_MARKER)
        assert example["baseline_output"].startswith(DEFAULT_MARKER)
        assert not example["candidate_output"].startswith(DEFAULT_MARKER)
        assert example["candidate_score"] < example["baseline_score"]
        assert example["inputs"]["ticket"] in example["expected"]

    rejected, active = _versions(gate_server, task)
    assert (rejected["status"], active["status"]) == ("rejected", "active")
    assert rejected["id"] == final["prompt_version_id"]
    assert rejected["job_id"] == final["id"]
    assert rejected["evaluated"] is True
    assert rejected["eval_score"] == evaluation["candidate_score"]
    assert rejected["baseline_score"] == evaluation["baseline_score"]
    assert "not better by more than the activation margin" in rejected["status_reason"]
    with gate_server.client() as client:
        assert client.get(f"/api/v1/prompts/{task['id']}").json()["prompt_text"] == BASELINE


def test_a_candidate_that_beats_the_active_prompt_is_a_draft_with_a_pr(
    gate_run: GateRun,
) -> None:
    gate_server = gate_run.server
    task, repo, job_id = gate_run.improved
    final = _finished(gate_server, job_id)

    assert final["result"] == "improved"
    branch = final["pr_url"].split("#", 1)[1]
    assert sorted(_branches(repo)) == sorted(["main", branch])
    evaluation = final["job_metadata"]["evaluation"]
    assert evaluation["candidate_score"] > evaluation["baseline_score"]
    assert evaluation["candidate_better"] == evaluation["split_size"] == 4
    draft, active = _versions(gate_server, task)
    assert (draft["status"], active["status"]) == ("draft", "active")
    assert draft["evaluated"] is True
    assert draft["status_reason"] is None
    assert (draft["eval_score"], draft["baseline_score"]) == (
        evaluation["candidate_score"],
        evaluation["baseline_score"],
    )
    assert DEFAULT_MARKER in git(repo, "show", f"{branch}:prompts/summary.txt")


def test_an_unevaluated_draft_says_so_and_an_identical_candidate_makes_no_version(
    gate_run: GateRun,
) -> None:
    gate_server = gate_run.server
    task, job_id = gate_run.unevaluated  # no teacher model: no LM
    first = _finished(gate_server, job_id)
    assert first["result"] == "unevaluated"
    assert first["job_metadata"]["evaluation"] is None
    (draft,) = _versions(gate_server, task)
    assert (draft["status"], draft["evaluated"], draft["eval_score"]) == ("draft", False, None)
    with gate_server.client() as client:
        activated = client.post(
            f"/api/v1/prompts/{task['id']}/activate", json={"version_id": draft["id"]}
        )
        assert activated.status_code == 200, activated.text
        again = client.post(f"/api/v1/optimize/{task['id']}")
        assert again.status_code == 200, again.text
        second = watch_job(client, again.json()["job"]["id"]).job
    assert second["status"] == "SUCCESS", second
    assert second["result"] == "unchanged"
    assert second["prompt_version_id"] is None
    assert "equals the active prompt" in second["job_metadata"]["decision"]
    assert [v["id"] for v in _versions(gate_server, task)] == [draft["id"]]
