"""Pull requests: a local git repository (plain and bare, push refused) and a fake GitHub."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kaizen_server.optimization.publishing import PullRequestError, PullRequestSpec
from kaizen_server.optimization.publishing.publisher import open_pull_request
from kaizen_server.optimization.settings import OptimizationSettings
from tests.optimization.fake_github import FakeGitHub, running_fake_github

OLD_PROMPT = "Summarize the ticket.\n"
NEW_PROMPT = "Summarize the ticket. Start with SUMMARY:."


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def work_repo(tmp_path: Path) -> Path:
    """A non-bare repository with the old prompt committed on ``main``."""
    repo = tmp_path / "app"
    repo.mkdir()
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    (repo / "prompts").mkdir()
    (repo / "prompts" / "summarize.txt").write_text(OLD_PROMPT)
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "initial")
    return repo


@pytest.fixture
def bare_repo(work_repo: Path, tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    _git(tmp_path, "clone", "--quiet", "--bare", str(work_repo), str(bare))
    return bare


def _spec(repo: str, **fields: object) -> PullRequestSpec:
    values: dict[str, object] = {
        "repo": repo,
        "task_name": "summarize",
        "version_number": 2,
        "prompt_text": NEW_PROMPT,
        "prompt_path": "prompts/summarize.txt",
        "eval_score": 0.95,
        "baseline_score": 0.8,
        "optimizer": "MIPROv2",
        "job_id": "0123456789abcdef",
    }
    values.update(fields)
    return PullRequestSpec(**values)  # type: ignore[arg-type]


def _local(repo: Path) -> OptimizationSettings:
    """Settings whose ``KAIZEN_PR_REPO_DIR`` holds ``repo``."""
    return OptimizationSettings(pr_repo_dir=repo.parent)


def test_local_repository_gets_a_branch_with_the_new_prompt(work_repo: Path) -> None:
    url = open_pull_request(_spec(work_repo.name), _local(work_repo))
    branch = "kaizen/summarize-v2-01234567"
    assert url == f"file://{work_repo.resolve()}#{branch}"
    assert _git(work_repo, "show", f"{branch}:prompts/summarize.txt") == NEW_PROMPT
    message = _git(work_repo, "log", "-1", "--format=%B", branch)
    assert "| active prompt (baseline) | 0.800 |" in message
    assert "| change | +0.150 |" in message
    assert f"-{OLD_PROMPT.strip()}" in message
    assert f"+{NEW_PROMPT}" in message
    # The user's checkout is untouched.
    assert _git(work_repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert (work_repo / "prompts" / "summarize.txt").read_text() == OLD_PROMPT


@pytest.mark.parametrize("prompt_format", ["json", "yaml"])
def test_structured_prompt_formats(work_repo: Path, prompt_format: str) -> None:
    spec = _spec(work_repo.name, prompt_path=None, prompt_format=prompt_format, base_branch="main")
    open_pull_request(spec, _local(work_repo))
    content = _git(work_repo, "show", f"{spec.branch}:prompts/summarize.{prompt_format}")
    document = json.loads(content) if prompt_format == "json" else yaml.safe_load(content)
    assert document["prompt_text"] == NEW_PROMPT
    assert document["version"] == 2
    assert document["eval_score"] == 0.95


def test_push_refused_then_retry_succeeds(bare_repo: Path) -> None:
    hook = bare_repo / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(PullRequestError) as refused:
        open_pull_request(_spec(bare_repo.name), _local(bare_repo))
    assert "git push" in str(refused.value)
    assert "pushes are frozen" in str(refused.value)
    assert "kaizen/" not in _git(bare_repo, "branch", "--list")
    hook.unlink()
    url = open_pull_request(_spec(bare_repo.name), _local(bare_repo))
    assert url.endswith("#kaizen/summarize-v2-01234567")
    assert (
        _git(bare_repo, "show", "kaizen/summarize-v2-01234567:prompts/summarize.txt") == NEW_PROMPT
    )


def test_missing_repository_is_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(PullRequestError, match="not a git repository under"):
        open_pull_request(_spec("nope"), OptimizationSettings(pr_repo_dir=tmp_path))
    with pytest.raises(PullRequestError, match="KAIZEN_GITHUB_TOKEN"):
        open_pull_request(_spec("acme/app"), OptimizationSettings())


@pytest.mark.parametrize(
    "repo",
    [
        "/abs/path/repo.git",
        "file:///srv/repo.git",
        "ssh://host/repo.git",
        "git@github.com:acme/app.git",
        "https://evil.example/acme/app.git",
        "../outside",
        "app/../../outside",
        "-uupload-pack=touch",
    ],
)
def test_stored_repository_references_that_are_not_allowed_are_refused(
    work_repo: Path, repo: str
) -> None:
    with pytest.raises(PullRequestError, match="refusing to open the pull request"):
        open_pull_request(_spec(repo), _local(work_repo))


@pytest.mark.parametrize("prompt_path", ["../../x.txt", "/tmp/x.txt", ".git/hooks/post-commit"])
def test_stored_prompt_paths_outside_the_repository_are_refused(
    work_repo: Path, prompt_path: str
) -> None:
    with pytest.raises(PullRequestError, match="refusing to open the pull request"):
        open_pull_request(_spec(work_repo.name, prompt_path=prompt_path), _local(work_repo))
    assert "kaizen/" not in _git(work_repo, "branch", "--list")


def _symlink(link: Path, target: Path) -> None:
    """``link`` -> ``target``, creating the folders of both as needed."""
    target.mkdir(parents=True, exist_ok=True)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def test_a_symlink_in_the_repository_cannot_lead_the_write_outside(
    work_repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    _symlink(work_repo / "linked", outside)
    _git(work_repo, "add", "linked")
    _git(work_repo, "commit", "--quiet", "-m", "a symlink out of the repository")
    with pytest.raises(PullRequestError, match="resolves outside"):
        open_pull_request(_spec(work_repo.name, prompt_path="linked/x.txt"), _local(work_repo))
    assert list(outside.iterdir()) == []


def test_a_repository_symlinked_from_outside_the_folder_is_refused(
    work_repo: Path, tmp_path: Path
) -> None:
    base = tmp_path / "repos"
    _symlink(base / "app", work_repo)
    with pytest.raises(PullRequestError, match="outside KAIZEN_PR_REPO_DIR"):
        open_pull_request(_spec("app"), OptimizationSettings(pr_repo_dir=base))


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with running_fake_github() as fake:
        fake.add_repo("acme/app", {"prompts/summarize.txt": OLD_PROMPT})
        yield fake


def _github_settings(fake: FakeGitHub, token: str | None = None) -> OptimizationSettings:
    return OptimizationSettings(github_token=token or fake.token, github_api_url=fake.api_url)


def test_github_pull_request_with_scores_and_diff(github: FakeGitHub) -> None:
    url = open_pull_request(_spec("https://github.com/acme/app.git"), _github_settings(github))
    assert url == "https://github.test/acme/app/pull/1"
    repo = github.repos["acme/app"]
    branch = "kaizen/summarize-v2-01234567"
    assert repo.files[(branch, "prompts/summarize.txt")] == NEW_PROMPT + "\n"
    assert repo.files[("main", "prompts/summarize.txt")] == OLD_PROMPT
    pull = repo.pulls[0]
    assert (pull["head"], pull["base"]) == (branch, "main")
    assert "| this version (v2) | 0.950 |" in pull["body"]
    assert "```diff" in pull["body"]
    assert f"+{NEW_PROMPT}" in pull["body"]


def test_github_failure_then_retry_reuses_the_branch(github: FakeGitHub) -> None:
    github.fail_pulls = 1
    with pytest.raises(PullRequestError, match="403 Resource not accessible"):
        open_pull_request(_spec("acme/app"), _github_settings(github))
    url = open_pull_request(_spec("acme/app"), _github_settings(github))
    assert url.endswith("/pull/1")
    # A third call finds the already open pull request instead of failing.
    assert open_pull_request(_spec("acme/app"), _github_settings(github)) == url
    assert len(github.repos["acme/app"].pulls) == 1


def test_github_bad_token(github: FakeGitHub) -> None:
    with pytest.raises(PullRequestError, match="401 Bad credentials"):
        open_pull_request(_spec("acme/app"), _github_settings(github, token="wrong"))


def test_github_new_file_in_yaml(github: FakeGitHub) -> None:
    spec = _spec("acme/app", prompt_path="config/prompt.yaml", prompt_format="yaml")
    open_pull_request(spec, _github_settings(github))
    content = github.repos["acme/app"].files[(spec.branch, "config/prompt.yaml")]
    assert yaml.safe_load(content)["prompt_text"] == NEW_PROMPT
    assert "--- /dev/null" in github.repos["acme/app"].pulls[0]["body"]
