"""Task modes end to end against the real CT server: optimize_only, auto_pr, pr_preview.

Jobs run for real (embedded runner, job processes). Evaluated jobs use a loopback fake LM on
which few-shot demos help, so the candidate is a measured improvement; the others have no LM
(an unevaluated draft, which is published like an improved one). The pull request target is
a local bare repository, so "no PR" is checked on the repository itself: no branch was pushed.
pr_preview approval and rejection run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaizen_sdk import AsyncCTClient, CTClient
from kaizen_sdk.errors import CTConflictError
from kaizen_sdk.models import PullRequestReview
from tests.optimization.job_helpers import create_task, git, post_feedback, unique, watch_job
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.fake_llm import DEFAULT_MARKER, FakeLLM

BASELINE = "Summarize the ticket."
PROMPT_FILE = "prompts/summary.txt"
OLD_FILE = "Summarize the ticket (v1 in the repository).\n"


@pytest.fixture(scope="module")
def helping_lm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture(scope="module")
def modes_server(
    helping_lm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CTServerProcess]:
    """A SQLite CT server whose LM is the helping fake (so improvements can be measured)."""
    workdir = tmp_path_factory.mktemp("modes")
    env = {"KAIZEN_LLM_API_BASE": helping_lm.api_base, "KAIZEN_LLM_NUM_RETRIES": "0"}
    with running_ct_server(f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}", workdir, env) as s:
        yield s


@pytest.fixture(params=["sqlite", "postgres"])
def preview_server(request: pytest.FixtureRequest) -> CTServerProcess:
    """The modes server (SQLite), then the shared PostgreSQL server."""
    name = "modes_server" if request.param == "sqlite" else "ct_server_pg"
    server: CTServerProcess = request.getfixturevalue(name)
    return server


def _repository(tmp_path: Path, repo_dir: Path) -> Path:
    """A bare repository under ``repo_dir`` with :data:`OLD_FILE` at :data:`PROMPT_FILE`."""
    work = tmp_path / unique("work")
    (work / "prompts").mkdir(parents=True)
    git(work, "init", "--quiet", "--initial-branch=main")
    (work / PROMPT_FILE).write_text(OLD_FILE)
    git(work, "add", ".")
    git(work, "-c", "user.email=d@x", "-c", "user.name=d", "commit", "--quiet", "-m", "initial")
    bare = repo_dir / f"{unique('prompts')}.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(bare))
    return bare


def _branches(repo: Path) -> list[str]:
    return sorted(git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())


def _task(
    client: httpx.Client, repo: Path | None, *, evaluated: bool = False, **fields: Any
) -> dict[str, Any]:
    """A task with an active baseline prompt; ``evaluated`` gives it the fake LM."""
    if repo is not None:
        fields.update(github_repo=repo.name, prompt_path=PROMPT_FILE)
    if evaluated:
        fields["teacher_model"] = "fake-teacher"
    task = create_task(client, feedback_threshold=1000, **fields)
    response = client.post(
        f"/api/v1/prompts/{task['id']}/versions", json={"prompt_text": BASELINE, "activate": True}
    )
    assert response.status_code == 201, response.text
    return task


def _run_job(client: httpx.Client, task: dict[str, Any], feedback: int = 4) -> dict[str, Any]:
    post_feedback(client, str(task["id"]), feedback)
    started = client.post(f"/api/v1/optimize/{task['id']}")
    assert started.status_code == 200, started.text
    return watch_job(client, started.json()["job"]["id"]).job


def _versions(client: httpx.Client, task: dict[str, Any]) -> list[dict[str, Any]]:
    versions: list[dict[str, Any]] = client.get(f"/api/v1/prompts/{task['id']}/versions").json()
    return versions


def _conflict(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail


def _sdk(server: CTServerProcess) -> CTClient:
    return CTClient(api_key=server.api_key, base_url=server.base_url)


def test_mode_is_defaulted_validated_patched_and_documented(modes_server: CTServerProcess) -> None:
    with modes_server.client() as client:
        plain = create_task(client)
        assert plain["mode"] == "optimize_only"
        with_repo = create_task(client, github_repo="acme/app")
        assert with_repo["mode"] == "auto_pr"  # what a task with a repository always did
        preview = create_task(client, github_repo="acme/app", mode="pr_preview")
        assert preview["mode"] == "pr_preview"
        assert client.get(f"/api/v1/tasks/{preview['id']}").json()["mode"] == "pr_preview"
        listed = client.get("/api/v1/tasks", params={"name": plain["name"]}).json()
        assert [task["mode"] for task in listed] == ["optimize_only"]

        bad_creations: list[tuple[dict[str, Any], str]] = [
            ({"mode": "sometimes"}, "mode"),
            ({"mode": 3}, "mode"),
            ({"mode": "pr_preview"}, "mode"),  # no repository for the pull request
            ({"mode": "auto_pr", "github_repo": None}, "mode"),
        ]
        for body, field in bad_creations:
            response = client.post("/api/v1/tasks", json={"name": unique("bad"), **body})
            assert response.status_code == 422, (body, response.text)
            assert f"body.{field}" in response.json()["detail"], response.text
            assert response.json()["errors"][0]["loc"] == ["body", field]

        path = f"/api/v1/tasks/{with_repo['id']}"
        bad_patches: list[tuple[dict[str, Any], str]] = [
            ({"mode": "PR_PREVIEW"}, "mode"),
            ({"mode": None}, "mode"),
            ({"github_repo": None}, "github_repo"),  # would leave auto_pr without a repo
            ({"mode": "pr_preview", "github_repo": None}, "mode"),
        ]
        for body, field in bad_patches:
            response = client.patch(path, json=body)
            assert response.status_code == 422, (body, response.text)
            assert f"body.{field}" in response.json()["detail"], response.text
        assert client.get(path).json()["mode"] == "auto_pr"  # nothing half-written
        changed = client.patch(path, json={"mode": "pr_preview"})
        assert changed.status_code == 200, changed.text
        assert changed.json()["mode"] == "pr_preview"
        cleared = client.patch(path, json={"mode": "optimize_only", "github_repo": None})
        assert cleared.status_code == 200, cleared.text
        assert (cleared.json()["mode"], cleared.json()["github_repo"]) == ("optimize_only", None)

        schema = client.get("/openapi.json").json()
    with _sdk(modes_server) as sdk:
        assert sdk.get_task(preview["id"]).mode == "pr_preview"
    paths = schema["paths"]
    for action in ("create-pr", "reject", "retry-pr"):
        operation = paths[f"/api/v1/jobs/{{job_id}}/{action}"]["post"]
        assert operation["description"], action
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Job"
        }
    assert "502" in paths["/api/v1/jobs/{job_id}/create-pr"]["post"]["responses"]
    components = schema["components"]["schemas"]
    assert {"pr_preview", "pr_review"} <= set(components["Job"]["properties"])
    assert "reason" in components["JobRejection"]["properties"]
    mode_schema = json.dumps(components["TaskCreate"]["properties"]["mode"])
    assert all(mode in mode_schema for mode in ("optimize_only", "auto_pr", "pr_preview"))


def test_optimize_only_stores_the_improvement_active_and_never_opens_a_pr(
    modes_server: CTServerProcess, tmp_path: Path
) -> None:
    repo = _repository(tmp_path, modes_server.repo_dir)
    with modes_server.client() as client:
        task = _task(client, repo, evaluated=True, mode="optimize_only", auto_activate=True)
        final = _run_job(client, task, 12)
        assert (final["status"], final["result"]) == ("SUCCESS", "improved"), final
        assert (final["pr_url"], final["pr_preview"], final["pr_review"]) == (None, None, None)
        assert final["job_metadata"]["mode"] == "optimize_only"
        new, old = _versions(client, task)
        assert (new["status"], old["status"]) == ("active", "archived")
        assert new["id"] == final["prompt_version_id"]
        assert DEFAULT_MARKER in client.get(f"/api/v1/prompts/{task['id']}").json()["prompt_text"]
        _conflict(
            client.post(f"/api/v1/jobs/{final['id']}/create-pr"),
            "SUCCESS",
            "result improved",
            "proposes no pull request",
        )
        _conflict(client.post(f"/api/v1/jobs/{final['id']}/reject"), "is active")
    assert _branches(repo) == ["main"]


def test_a_job_without_a_version_has_nothing_to_open_or_reject(
    modes_server: CTServerProcess,
) -> None:
    with modes_server.client() as client:
        task = _task(client, None)
        first = _run_job(client, task)
        (draft, _) = _versions(client, task)
        activated = client.post(
            f"/api/v1/prompts/{task['id']}/activate", json={"version_id": draft["id"]}
        )
        assert activated.status_code == 200, activated.text
        second = client.post(f"/api/v1/optimize/{task['id']}").json()["job"]["id"]
        unchanged = watch_job(client, second).job
        assert (unchanged["result"], unchanged["prompt_version_id"]) == ("unchanged", None)
        _conflict(
            client.post(f"/api/v1/jobs/{second}/reject"), "result unchanged", "no prompt version"
        )
        _conflict(client.post(f"/api/v1/jobs/{second}/create-pr"), "result unchanged")
        assert first["result"] == "unevaluated"


def test_auto_pr_failure_then_create_pr_opens_it_once(
    modes_server: CTServerProcess, tmp_path: Path
) -> None:
    repo = _repository(tmp_path, modes_server.repo_dir)
    hook = repo / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected: pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    with modes_server.client() as client:
        task = _task(client, repo)
        assert task["mode"] == "auto_pr"
        final = _run_job(client, task)
        assert final["status"] == "PR_FAILED", final
        assert final["pr_review"] is None
        job_path = f"/api/v1/jobs/{final['id']}"

        failed = client.post(f"{job_path}/create-pr")
        assert failed.status_code == 502, failed.text
        assert "pushes are frozen" in failed.json()["detail"]
        again = client.get(job_path).json()
        assert (again["status"], again["pr_review"]) == ("PR_FAILED", None)

        hook.unlink()
        opened = client.post(f"{job_path}/create-pr")
        assert opened.status_code == 200, opened.text
        job = opened.json()
        assert (job["status"], job["error_message"], job["pr_review"]) == (
            "SUCCESS",
            None,
            "approved",
        )
        branch = job["pr_url"].split("#", 1)[1]
        assert _branches(repo) == sorted(["main", branch])
        repeated = client.post(f"{job_path}/create-pr")
        assert repeated.status_code == 200, repeated.text
        assert repeated.json()["pr_url"] == job["pr_url"]
        _conflict(client.post(f"{job_path}/retry-pr"), "SUCCESS")
    assert _branches(repo) == sorted(["main", branch])


def test_pr_preview_with_auto_activate_proposes_a_draft_and_approval_opens_exactly_it(
    modes_server: CTServerProcess, tmp_path: Path
) -> None:
    repo = _repository(tmp_path, modes_server.repo_dir)
    with modes_server.client() as client:
        task = _task(client, repo, evaluated=True, mode="pr_preview", auto_activate=True)
        final = _run_job(client, task, 12)
        assert (final["status"], final["result"]) == ("SUCCESS", "improved"), final
        assert (final["pr_url"], final["pr_review"]) == (None, "awaiting_approval")
        assert "previewing the pull request" in [
            entry["step"] for entry in final["job_metadata"]["progress"]
        ]
        preview = final["pr_preview"]
        (change,) = preview["file_changes"]
        assert (change["path"], change["old_content"]) == (PROMPT_FILE, OLD_FILE)
        assert DEFAULT_MARKER in change["new_content"]
        assert preview["file_path"] == PROMPT_FILE
        assert (preview["repo"], preview["base_branch"]) == (repo.name, "main")
        assert preview["old_prompt"] == BASELINE
        assert f"-{OLD_FILE.rstrip()}" in preview["diff"]
        assert preview["diff"] in preview["pr_body"]
        assert preview["warning"] is None
        draft, active = _versions(client, task)
        assert (draft["status"], active["status"]) == ("draft", "active")  # despite auto_activate
        assert draft["version_number"] == preview["version_number"]
        assert client.get(f"/api/v1/prompts/{task['id']}").json()["prompt_text"] == BASELINE
    assert _branches(repo) == ["main"]

    def approve(_: int) -> str | None:
        with _sdk(modes_server) as sdk:
            return sdk.create_pull_request(final["id"]).pr_url

    with ThreadPoolExecutor(max_workers=2) as pool:
        urls = set(pool.map(approve, range(2)))
    (pr_url,) = urls
    assert pr_url is not None
    assert pr_url.endswith(f"#{preview['branch']}")
    assert _branches(repo) == sorted(["main", preview["branch"]])
    assert git(repo, "show", f"{preview['branch']}:{PROMPT_FILE}") + "\n" == change["new_content"]
    with modes_server.client() as client:
        job = client.get(f"/api/v1/jobs/{final['id']}").json()
        assert (job["status"], job["pr_url"], job["pr_review"]) == ("SUCCESS", pr_url, "approved")
        assert _versions(client, task)[0]["status"] == "draft"


def test_pr_preview_approve_and_reject(preview_server: CTServerProcess, tmp_path: Path) -> None:
    repo = _repository(tmp_path, preview_server.repo_dir)
    with preview_server.client() as client:
        approved_task = _task(client, repo, mode="pr_preview")
        rejected_task = _task(client, repo, mode="pr_preview")
        to_approve = _run_job(client, approved_task)
        to_reject = _run_job(client, rejected_task)
    for job in (to_approve, to_reject):
        assert (job["status"], job["pr_review"], job["pr_url"]) == (
            "SUCCESS",
            "awaiting_approval",
            None,
        ), job
    assert _branches(repo) == ["main"]

    async def approve() -> str | None:
        async with AsyncCTClient(
            api_key=preview_server.api_key, base_url=preview_server.base_url
        ) as sdk:
            job = await sdk.create_pull_request(to_approve["id"])
            assert job.pr_review == PullRequestReview.APPROVED
            assert not job.awaiting_approval
            return job.pr_url

    pr_url = asyncio.run(approve())
    branch = to_approve["pr_preview"]["branch"]
    assert pr_url == f"file://{repo.resolve()}#{branch}"

    reason = "Too long for the mobile app's summary box."
    with _sdk(preview_server) as sdk:
        waiting = sdk.get_job(to_reject["id"])
        assert waiting.awaiting_approval
        assert waiting.pr_preview is not None
        rejected = sdk.reject_job(to_reject["id"], reason=reason)
        assert (rejected.status, rejected.pr_review) == ("SUCCESS", "rejected")
        assert not rejected.awaiting_approval
        again = sdk.reject_job(to_reject["id"], reason="another reason")  # changes nothing
        assert again.pr_review == "rejected"
        with pytest.raises(CTConflictError, match="rejected"):
            sdk.create_pull_request(to_reject["id"])
    with preview_server.client() as client:
        version = _versions(client, rejected_task)[0]
        assert version["id"] == to_reject["prompt_version_id"]
        assert (version["status"], version["status_reason"]) == ("rejected", reason)
        _conflict(client.post(f"/api/v1/jobs/{to_reject['id']}/retry-pr"), "SUCCESS")
        approved_version = _versions(client, approved_task)[0]
        assert approved_version["status"] == "draft"

        unknown = str(uuid.uuid4())
        for action in ("create-pr", "reject"):
            for ref in (unknown, "not-a-uuid"):
                missing = client.post(f"/api/v1/jobs/{ref}/{action}")
                assert missing.status_code == 404, missing.text
                assert "not found" in missing.json()["detail"]
        for body in ({"reason": 5}, {"reason": "x" * 2001}, {"why": "no"}, [1]):
            bad = client.post(f"/api/v1/jobs/{to_approve['id']}/reject", json=body)
            assert bad.status_code == 422, (body, bad.text)
        assert _versions(client, approved_task)[0]["status"] == "draft"
    assert _branches(repo) == sorted(["main", branch])
