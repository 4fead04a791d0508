"""Per-task git settings through the real server: a Bitbucket Server task with its own token
(stored encrypted, never returned) whose job edits the prompt in the app's YAML file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

import kaizen_sdk as kaizen
from tests.optimization.fake_bitbucket import FakeBitbucket, running_fake_bitbucket
from tests.optimization.job_helpers import create_task, post_feedback, watch_job
from tests.support.ct_server import CTServerProcess, running_ct_server

SECRET = "e2e-secret-key-" + "y" * 32
PROMPTS_YAML = b"prompts:\n  summarize: 'Summarize the ticket.'  # tuned by Kaizen\nmodel: gpt\n"


@pytest.fixture(scope="module")
def bitbucket() -> Iterator[FakeBitbucket]:
    with running_fake_bitbucket() as fake:
        fake.add_repo("APP", "web", {"config/prompts.yaml": PROMPTS_YAML})
        yield fake


@pytest.fixture(scope="module")
def git_server(
    bitbucket: FakeBitbucket, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CTServerProcess]:
    workdir = tmp_path_factory.mktemp("git-settings")
    env = {
        "KAIZEN_SECRET_KEY": SECRET,
        "KAIZEN_GIT_ALLOWED_BASE_URLS": f'["{bitbucket.base_url}"]',
    }
    with running_ct_server(f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}", workdir, env) as s:
        yield s


def _bitbucket_fields(fake: FakeBitbucket, **fields: Any) -> dict[str, Any]:
    return {
        "git_provider": "bitbucket_server",
        "git_base_url": fake.base_url,
        "git_project": "APP",
        "git_repo": "web",
        "prompt_file": "config/prompts.yaml",
        "prompt_locator": "prompts.summarize",
        "git_token_raw": fake.token,
        **fields,
    }


def test_a_bitbucket_job_edits_the_yaml_key_with_the_tasks_token(
    git_server: CTServerProcess, bitbucket: FakeBitbucket
) -> None:
    with git_server.client() as client:
        task = create_task(
            client, feedback_threshold=1000, **_bitbucket_fields(bitbucket, mode="auto_pr")
        )
        baseline = client.post(
            f"/api/v1/prompts/{task['id']}/versions",
            json={"prompt_text": "Summarize the ticket.", "activate": True},
        )
        assert baseline.status_code == 201, baseline.text
        post_feedback(client, str(task["id"]), 4)
        started = client.post(f"/api/v1/optimize/{task['id']}")
        assert started.status_code == 200, started.text
        job = watch_job(client, started.json()["job"]["id"]).job
        assert job["status"] == "SUCCESS", job
        assert job["pr_url"].startswith(f"{bitbucket.base_url}/projects/APP/repos/web/")
        fetched = client.get(f"/api/v1/tasks/{task['id']}")
    (pull,) = bitbucket.repos[("APP", "web")].pulls
    branch = pull["fromRef"]["id"].removeprefix("refs/heads/")
    written = bitbucket.repos[("APP", "web")].files[(branch, "config/prompts.yaml")]
    before, after = PROMPTS_YAML.split(b"'Summarize the ticket.'")
    assert written.startswith(before)
    assert written.endswith(after)
    stored = _stored_ciphertext(git_server, task["id"])
    assert stored
    assert bitbucket.token not in stored
    for text in (fetched.text, str(task), started.text, str(job)):
        assert bitbucket.token not in text
        assert stored not in text
    assert "git_token" not in fetched.json()


def _stored_ciphertext(server: CTServerProcess, task_id: str) -> str:
    database = server.database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(database) as connection:
        (value,) = connection.execute(
            "SELECT git_token_encrypted FROM tasks WHERE id = ? OR id = ?",
            (task_id, task_id.replace("-", "")),
        ).fetchone()
    return str(value)


def test_a_host_outside_the_allow_list_is_a_422(
    git_server: CTServerProcess, bitbucket: FakeBitbucket
) -> None:
    with git_server.client() as client:
        response = client.post(
            "/api/v1/tasks",
            json={
                "name": "bb_bad_host",
                **_bitbucket_fields(bitbucket, git_base_url="http://169.254.169.254"),
            },
        )
        assert response.status_code == 422, response.text
        assert "git_base_url" in response.json()["detail"]
        assert client.get("/api/v1/tasks", params={"name": "bb_bad_host"}).json() == []
    assert not any("169.254" in url for _, url in bitbucket.requests)


def test_a_token_without_a_server_secret_is_accepted_and_not_stored(
    ct_server: CTServerProcess,
) -> None:
    """Upstream's SDK sends its token with every call: a server that cannot store it keeps
    the call (and the feedback) and says so in its log."""
    with ct_server.client() as client:
        response = client.post(
            "/api/v1/tasks",
            json={"name": "token_no_secret", "github_repo": "acme/app", "git_token_raw": "t0k"},
        )
        assert response.status_code == 201, response.text
        assert "t0k" not in response.text
    assert _stored_ciphertext(ct_server, response.json()["id"]) == "None"
    assert "git token not stored: body.git_token_raw" in ct_server.read_log()


def test_clearing_a_bitbucket_tasks_repository_under_auto_pr_is_a_422(
    git_server: CTServerProcess, bitbucket: FakeBitbucket
) -> None:
    with git_server.client() as client:
        task = create_task(client, **_bitbucket_fields(bitbucket, mode="auto_pr"))
        cleared = client.patch(f"/api/v1/tasks/{task['id']}", json={"git_repo": None})
        assert cleared.status_code == 422, cleared.text
        assert "body.git_repo" in cleared.json()["detail"]
        switched = client.patch(f"/api/v1/tasks/{task['id']}", json={"git_provider": "github"})
        assert switched.status_code == 422, switched.text
        assert "body.git_provider" in switched.json()["detail"]
        kept = client.get(f"/api/v1/tasks/{task['id']}").json()
    assert (kept["git_provider"], kept["git_repo"], kept["mode"]) == (
        "bitbucket_server",
        "web",
        "auto_pr",
    )


def test_upstreams_init_with_bitbucket_creates_the_task_with_its_token(
    git_server: CTServerProcess, bitbucket: FakeBitbucket
) -> None:
    kaizen.init(
        api_key=git_server.api_key,
        base_url=git_server.base_url,
        git_provider="bitbucket_server",
        git_base_url=bitbucket.base_url,
        git_project="APP",
        git_repo="web",
        git_token=bitbucket.token,
        mode="pr_preview",
    )
    try:
        kaizen.trace_sync("bb_first_use", lambda inputs: "answer", {"q": "x"})
        kaizen.flush_sync(score=1.0)
    finally:
        kaizen.close_sync()
    with git_server.client() as client:
        fetched = client.get("/api/v1/tasks/bb_first_use")
    assert fetched.status_code == 200, fetched.text
    task = fetched.json()
    assert (task["git_provider"], task["git_project"], task["git_repo"], task["mode"]) == (
        "bitbucket_server",
        "APP",
        "web",
        "pr_preview",
    )
    assert bitbucket.token not in fetched.text
    assert _stored_ciphertext(git_server, task["id"])
