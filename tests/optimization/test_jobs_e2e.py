"""Optimization jobs end to end over HTTP against the real CT server (embedded job runner)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.optimization.job_helpers import (
    bare_repo,
    create_task,
    feedback_items,
    git,
    jobs_of,
    only_job,
    post_feedback,
    unique,
    watch_job,
)
from tests.support.ct_server import CTServerProcess


def test_threshold_job_runs_to_a_draft_that_can_be_activated_and_served(
    ct_server: CTServerProcess,
) -> None:
    with ct_server.client() as client:
        task = create_task(client, feedback_threshold=6)
        client.post(
            f"/api/v1/prompts/{task['id']}/versions",
            json={"prompt_text": "Summarize the ticket.", "activate": True},
        )
        post_feedback(client, task["id"], 5)
        assert jobs_of(client, task["id"]) == []
        post_feedback(client, task["id"], 1, start=5)
        job = only_job(client, task["id"])
        assert job["triggered_by"] == "threshold"
        watch = watch_job(client, job["id"])
        final = watch.job
        assert final["status"] == "SUCCESS", final
        assert watch.statuses[-2:] == ["RUNNING", "SUCCESS"]
        metadata = final["job_metadata"]
        steps = [entry["step"] for entry in metadata["progress"]]
        assert steps == [
            "preparing the dataset",
            "compiling with LabeledFewShot (6 train / 0 validation examples)",
            "saving the prompt version",
        ]
        assert metadata["estimated_llm_calls"] == metadata["actual_llm_calls"] == 0
        assert metadata["cost_estimate"]["train_size"] == 6
        assert metadata["evaluated"] is False
        assert metadata["duration_s"] > 0

        versions = client.get(f"/api/v1/prompts/{task['id']}/versions").json()
        new = versions[0]
        assert new["id"] == final["prompt_version_id"]
        assert (new["status"], new["eval_score"], new["optimizer"]) == (
            "draft",
            None,
            "LabeledFewShot",
        )
        assert new["prompt_text"].startswith("Summarize the ticket.\n\n### Examples")
        served = client.get(f"/api/v1/prompts/{task['id']}").json()
        assert served["prompt_text"] == "Summarize the ticket."

        activated = client.post(
            f"/api/v1/prompts/{task['id']}/activate", json={"version_id": new["id"]}
        )
        assert activated.status_code == 200, activated.text
        assert client.get(f"/api/v1/prompts/{task['name']}").json()["id"] == new["id"]
        # The count restarts after a successful optimization: no second job yet.
        post_feedback(client, task["id"], 2, start=10)
        assert len(jobs_of(client, task["id"])) == 1


def test_fifty_concurrent_posts_crossing_the_threshold_queue_one_job(
    any_ct_server: CTServerProcess,
) -> None:
    with any_ct_server.client() as client:
        task = create_task(client, feedback_threshold=50)
        post_feedback(client, task["id"], 40)
    items = feedback_items(task["id"], 50, start=40)

    def send(item: dict[str, object]) -> int:
        with any_ct_server.client() as own:
            return own.post("/api/v1/feedback", json=item).status_code

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(send, items))
    assert statuses == [201] * 50
    with any_ct_server.client() as client:
        jobs = jobs_of(client, task["id"])
        assert len(jobs) == 1
        assert watch_job(client, jobs[0]["id"]).job["status"] == "SUCCESS"


def test_push_refused_is_pr_failed_with_the_version_saved_then_retry_succeeds(
    ct_server: CTServerProcess, tmp_path: Path
) -> None:
    bare = bare_repo(tmp_path, ct_server.repo_dir)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected: pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    with ct_server.client() as client:
        task = create_task(
            client,
            feedback_threshold=1000,
            github_repo=bare.name,
            prompt_path="prompts/summary.yaml",
            prompt_format="yaml",
        )
        post_feedback(client, task["id"], 4)
        started = client.post(f"/api/v1/optimize/{task['name']}")
        assert started.status_code == 200, started.text
        job_id = started.json()["job"]["id"]
        final = watch_job(client, job_id).job
        assert final["status"] == "PR_FAILED", final
        assert "pushes are frozen" in final["error_message"]
        assert final["pr_url"] is None
        versions = client.get(f"/api/v1/prompts/{task['id']}/versions").json()
        assert [v["id"] for v in versions] == [final["prompt_version_id"]]

        hook.unlink()
        retried = client.post(f"/api/v1/jobs/{job_id}/retry-pr")
        assert retried.status_code == 200, retried.text
        job = retried.json()
        assert job["status"] == "SUCCESS"
        assert job["error_message"] is None
        branch = job["pr_url"].split("#", 1)[1]
        assert job["pr_url"] == f"file://{bare.resolve()}#{branch}"
        content = git(bare, "show", f"{branch}:prompts/summary.yaml")
        assert "prompt_text:" in content
        again = client.post(f"/api/v1/jobs/{job_id}/retry-pr")
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")


def test_retry_that_fails_again_keeps_pr_failed(ct_server: CTServerProcess, tmp_path: Path) -> None:
    with ct_server.client() as client:
        task = create_task(client, feedback_threshold=1000, github_repo=f"{unique('missing')}.git")
        post_feedback(client, task["id"], 3)
        job_id = client.post(f"/api/v1/optimize/{task['id']}").json()["job"]["id"]
        assert watch_job(client, job_id).job["status"] == "PR_FAILED"
        retried = client.post(f"/api/v1/jobs/{job_id}/retry-pr")
        assert retried.status_code == 502
        assert "is not a git repository under" in retried.json()["detail"]
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        assert job["status"] == "PR_FAILED"
        assert "is not a git repository under" in job["error_message"]


def test_scored_traces_count_toward_the_threshold(ct_server: CTServerProcess) -> None:
    with ct_server.client() as client:
        task = create_task(client, feedback_threshold=3)
        for index in range(3):
            trace = client.post(
                "/api/v1/traces",
                json={
                    "task_id": task["id"],
                    "inputs": {"ticket": f"t{index}"},
                    "response_text": f"SUMMARY: t{index}",
                },
            ).json()
            assert jobs_of(client, task["id"]) == []
            scored = client.post(f"/api/v1/traces/{trace['id']}/score", json={"score": 0.9})
            assert scored.status_code == 200, scored.text
        job = only_job(client, task["id"])
        assert job["triggered_by"] == "threshold"
        assert watch_job(client, job["id"]).job["status"] == "SUCCESS"


def test_a_prompt_path_through_a_symlink_out_of_the_repository_writes_nothing(
    ct_server: CTServerProcess, tmp_path: Path
) -> None:
    """The path is checked again, resolved in the clone, right before the job and retry-pr write."""
    outside = tmp_path / "outside"
    outside.mkdir()
    bare = bare_repo(tmp_path, ct_server.repo_dir)
    work = tmp_path / "linked-work"
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    (work / "prompts").symlink_to(outside)
    git(work, "add", "prompts")
    git(work, "-c", "user.email=d@x", "-c", "user.name=d", "commit", "--quiet", "-m", "link")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    with ct_server.client() as client:
        task = create_task(
            client, feedback_threshold=1000, github_repo=bare.name, prompt_path="prompts/x.txt"
        )
        post_feedback(client, task["id"], 3)
        job_id = client.post(f"/api/v1/optimize/{task['id']}").json()["job"]["id"]
        final = watch_job(client, job_id).job
        assert final["status"] == "PR_FAILED", final
        assert "resolves outside" in final["error_message"]
        retried = client.post(f"/api/v1/jobs/{job_id}/retry-pr")
        assert retried.status_code == 502
        assert "resolves outside" in retried.json()["detail"]
    assert list(outside.iterdir()) == []
