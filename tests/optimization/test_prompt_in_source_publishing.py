"""Pull requests that edit the prompt where the app keeps it (a local git repository)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kaizen_server.optimization.publishing import (
    PullRequestError,
    PullRequestSpec,
    open_pull_request,
    preview_pull_request,
)
from kaizen_server.optimization.settings import OptimizationSettings

APP_SOURCE = (
    '"""The app."""\r\n'
    "\r\n"
    "TEMPERATURE = 0.2  # sampling\r\n"
    "SUMMARIZE_PROMPT = '''Summarize the ticket.'''\r\n"
    "\r\n"
    "def run() -> None:\r\n"
    "    pass\r\n"
)
NEW_PROMPT = "Summarize the ticket. Start with 'SUMMARY:'."


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository ``repos/app.git`` whose ``app/llm.py`` holds the prompt (CRLF)."""
    work = tmp_path / "work"
    (work / "app").mkdir(parents=True)
    _git(work, "init", "--quiet", "--initial-branch=main")
    _git(work, "config", "core.autocrlf", "false")
    (work / "app" / "llm.py").write_bytes(APP_SOURCE.encode())
    _git(work, "add", ".")
    _git(work, "-c", "user.email=d@x", "-c", "user.name=d", "commit", "--quiet", "-m", "initial")
    bare = tmp_path / "repos" / "app.git"
    bare.parent.mkdir()
    _git(tmp_path, "clone", "--quiet", "--bare", str(work), str(bare))
    return bare


def _spec(**fields: object) -> PullRequestSpec:
    values: dict[str, object] = {
        "repo": "app.git",
        "task_name": "summarize",
        "version_number": 2,
        "prompt_text": NEW_PROMPT,
        "prompt_file": "app/llm.py",
        "prompt_locator": "SUMMARIZE_PROMPT",
        "job_id": "0123456789abcdef",
    }
    values.update(fields)
    return PullRequestSpec(**values)  # type: ignore[arg-type]


def test_the_pull_request_changes_only_the_literal(origin: Path) -> None:
    settings = OptimizationSettings(pr_repo_dir=origin.parent)
    url = open_pull_request(_spec(), settings)
    branch = url.split("#", 1)[1]
    written = subprocess.run(
        ["git", "cat-file", "blob", f"{branch}:app/llm.py"],
        cwd=origin,
        check=True,
        capture_output=True,
    ).stdout
    expected = APP_SOURCE.replace(
        "'''Summarize the ticket.'''", "'''Summarize the ticket. Start with 'SUMMARY:'.'''"
    )
    assert written == expected.encode()
    message = _git(origin, "log", "-1", "--format=%B", branch)
    assert "+SUMMARIZE_PROMPT = '''Summarize the ticket. Start with 'SUMMARY:'.'''" in message


def test_a_bad_locator_writes_nothing_and_names_the_problem(origin: Path) -> None:
    settings = OptimizationSettings(pr_repo_dir=origin.parent)
    refs_before = _git(origin, "for-each-ref")
    with pytest.raises(PullRequestError, match="no module-level assignment of MISSING"):
        open_pull_request(_spec(prompt_locator="MISSING"), settings)
    with pytest.raises(PullRequestError, match="does not exist on the base branch"):
        open_pull_request(_spec(prompt_file="app/absent.py"), settings)
    assert _git(origin, "for-each-ref") == refs_before
    preview = preview_pull_request(_spec(prompt_locator="TEMPERATURE"), settings, old_prompt=None)
    assert preview.warning is not None
    assert "not a plain string literal" in preview.warning
    assert preview.diff == ""
