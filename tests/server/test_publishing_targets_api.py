"""A task's repository, base branch and prompt path cannot choose a host or a file to write.

Over real HTTP, on SQLite and PostgreSQL: every reference that could reach outside
``KAIZEN_PR_REPO_DIR``/GitHub or outside the repository is a 422 naming the field, on create
and on update, and nothing is stored.
"""

from __future__ import annotations

import pytest

from tests.server.helpers import assert_problem, make_task, unique_name
from tests.support.ct_server import CTServerProcess

BAD_REPOSITORIES = [
    "/srv/prompts.git",
    "file:///srv/prompts.git",
    "https://evil.example/acme/app.git",
    "http://169.254.169.254/latest",
    "ssh://git@host/repo.git",
    "git@github.com:acme/app.git",
    "ext::sh -c touch% /tmp/pwned",
    "../outside.git",
    "repos/../../outside.git",
    "-uupload-pack=touch /tmp/pwned",
    "~/repo",
    "acme\\app",
]
BAD_PROMPT_PATHS = [
    "../../../../tmp/x.txt",
    "prompts/../../x.txt",
    "/tmp/x.txt",
    ".git/hooks/pre-commit",
    "prompts\\..\\x.txt",
    "prompts//x.txt",
    "prompts/\x01.txt",
]
BAD_BRANCHES = ["--upload-pack=touch", "main..dev", "main@{1}", "a b", "refs/heads/x.lock", ""]


@pytest.mark.parametrize(
    ("field", "value"),
    [("github_repo", v) for v in BAD_REPOSITORIES]
    + [("prompt_path", v) for v in BAD_PROMPT_PATHS]
    + [("github_base_branch", v) for v in BAD_BRANCHES],
)
def test_unsafe_publishing_targets_are_422_on_create_and_update(
    any_ct_server: CTServerProcess, field: str, value: str
) -> None:
    with any_ct_server.client() as client:
        name = unique_name()
        created = client.post("/api/v1/tasks", json={"name": name, field: value})
        assert_problem(created, 422, field)
        assert client.get(f"/api/v1/tasks/{name}").status_code == 404

        task = make_task(client, github_repo="acme/app", prompt_path="prompts/p.txt")
        updated = client.patch(f"/api/v1/tasks/{task['id']}", json={field: value})
        assert_problem(updated, 422, field)
        stored = client.get(f"/api/v1/tasks/{task['id']}").json()
        assert (stored["github_repo"], stored["prompt_path"]) == ("acme/app", "prompts/p.txt")


def test_safe_publishing_targets_are_stored_normalized(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(
            client,
            github_repo="https://github.com/acme/app.git",
            github_base_branch="release/2026.12",
            prompt_path="config/prompts/summary.yaml",
        )
        assert task["github_repo"] == "acme/app"
        assert task["github_base_branch"] == "release/2026.12"
        assert task["prompt_path"] == "config/prompts/summary.yaml"
        local = make_task(client, github_repo="team/prompts.git")
        assert local["github_repo"] == "team/prompts.git"
