"""Pull request previews: read the base branch (local git, fake GitHub), write nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaizen_server.optimization.publishing import (
    PullRequestSpec,
    preview_differences,
    preview_pull_request,
)
from kaizen_server.optimization.settings import OptimizationSettings
from tests.optimization.fake_github import FakeGitHub, running_fake_github

OLD_FILE = "Summarize the ticket.\n"
NEW_PROMPT = "Summarize the ticket. Start with SUMMARY:."


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository under ``tmp_path / "repos"`` with the old prompt on ``main``."""
    work = tmp_path / "work"
    (work / "prompts").mkdir(parents=True)
    _git(work, "init", "--quiet", "--initial-branch=main")
    (work / "prompts" / "summarize.txt").write_text(OLD_FILE)
    _git(work, "add", ".")
    _git(work, "-c", "user.email=d@x", "-c", "user.name=d", "commit", "--quiet", "-m", "initial")
    bare = tmp_path / "repos" / "app.git"
    bare.parent.mkdir()
    _git(tmp_path, "clone", "--quiet", "--bare", str(work), str(bare))
    return bare


def _spec(repo: str, **fields: object) -> PullRequestSpec:
    values: dict[str, object] = {
        "repo": repo,
        "task_name": "summarize",
        "version_number": 2,
        "prompt_text": NEW_PROMPT,
        "prompt_path": "prompts/summarize.txt",
        "eval_score": 0.9,
        "baseline_score": 0.7,
        "job_id": "0123456789abcdef",
    }
    values.update(fields)
    return PullRequestSpec(**values)  # type: ignore[arg-type]


def test_a_local_preview_diffs_against_the_base_branch_and_pushes_nothing(origin: Path) -> None:
    refs_before = _git(origin, "for-each-ref")
    spec = _spec("app.git")
    preview = preview_pull_request(
        spec, OptimizationSettings(pr_repo_dir=origin.parent), old_prompt="Summarize the ticket."
    )
    assert preview.warning is None
    assert (preview.repo, preview.base_branch, preview.branch) == (
        "app.git",
        "main",
        "kaizen/summarize-v2-01234567",
    )
    (change,) = preview.file_changes
    assert (change.path, change.old_content, change.new_content) == (
        "prompts/summarize.txt",
        OLD_FILE,
        NEW_PROMPT + "\n",
    )
    assert f"-{OLD_FILE}" in preview.diff
    assert f"+{NEW_PROMPT}" in preview.diff
    assert preview.diff in preview.pr_body
    assert "| change | +0.200 |" in preview.pr_body
    assert preview.pr_title == spec.title
    assert (preview.old_prompt, preview.new_prompt) == ("Summarize the ticket.", NEW_PROMPT)
    assert preview_differences(preview, spec) == []
    assert _git(origin, "for-each-ref") == refs_before


def test_a_local_preview_of_a_new_file_on_a_named_branch(origin: Path) -> None:
    spec = _spec("app.git", prompt_path="config/new.txt", base_branch="main")
    preview = preview_pull_request(
        spec, OptimizationSettings(pr_repo_dir=origin.parent), old_prompt=None
    )
    assert preview.warning is None
    assert preview.file_changes[0].old_content is None
    assert preview.diff.startswith("--- /dev/null\n+++ b/config/new.txt")


def test_an_unreadable_base_branch_is_a_preview_with_a_warning(origin: Path) -> None:
    spec = _spec("app.git", base_branch="no-such-branch")
    preview = preview_pull_request(
        spec, OptimizationSettings(pr_repo_dir=origin.parent), old_prompt=None
    )
    assert preview.warning is not None
    assert "no-such-branch" in preview.warning
    assert preview.base_branch == "no-such-branch"
    assert preview.file_changes[0].old_content is None


def test_differences_name_what_changed_since_the_preview(origin: Path) -> None:
    settings = OptimizationSettings(pr_repo_dir=origin.parent)
    preview = preview_pull_request(_spec("app.git"), settings, old_prompt=None)
    moved = _spec("other.git", prompt_path="prompts/other.txt", base_branch="develop")
    changes = preview_differences(preview, moved)
    assert any("repository 'app.git' -> 'other.git'" in change for change in changes)
    assert any("base branch 'main' -> 'develop'" in change for change in changes)
    assert any("file 'prompts/summarize.txt'" in change for change in changes)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with running_fake_github() as fake:
        fake.add_repo("acme/app", {"prompts/summarize.txt": OLD_FILE})
        yield fake


def test_a_github_preview_only_reads(github: FakeGitHub) -> None:
    settings = OptimizationSettings(github_token=github.token, github_api_url=github.api_url)
    preview = preview_pull_request(_spec("acme/app"), settings, old_prompt=None)
    assert preview.warning is None
    assert preview.base_branch == "main"
    assert preview.file_changes[0].old_content == OLD_FILE
    assert f"+{NEW_PROMPT}" in preview.diff
    assert {method for method, _ in github.requests} == {"GET"}
    assert github.repos["acme/app"].pulls == []

    missing = preview_pull_request(
        _spec("acme/app", prompt_path="prompts/new.txt"), settings, old_prompt=None
    )
    assert missing.warning is None
    assert missing.file_changes[0].old_content is None


def test_a_github_preview_with_a_bad_token_warns(github: FakeGitHub) -> None:
    settings = OptimizationSettings(github_token="wrong", github_api_url=github.api_url)
    preview = preview_pull_request(_spec("acme/app"), settings, old_prompt=None)
    assert preview.warning is not None
    assert "401 Bad credentials" in preview.warning
