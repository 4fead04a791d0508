"""Pull requests into a local git repository (under ``KAIZEN_PR_REPO_DIR``): a branch, one commit.

The repository is cloned into a temporary folder, the prompt file is written on a new branch
from the base branch and committed, and the branch is pushed back to the repository. The
``pr_url`` is ``file:///path/to/repo#branch``. Nothing touches the repository's working
tree, so it may be a bare repository or one in use. The prompt file is written only where it
resolves inside the clone (symlinks followed), never elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.spec import BaseFile, PullRequestSpec
from kaizen_server.optimization.publishing.targets import resolve_inside

__all__ = ["GIT_TIMEOUT_S", "publish_to_git", "read_from_git"]

GIT_TIMEOUT_S = 60.0
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Kaizen",
    "GIT_AUTHOR_EMAIL": "kaizen@localhost",
    "GIT_COMMITTER_NAME": "Kaizen",
    "GIT_COMMITTER_EMAIL": "kaizen@localhost",
    "GIT_TERMINAL_PROMPT": "0",
    # Only local repositories: git must not reach out through any transport.
    "GIT_ALLOW_PROTOCOL": "file",
}


def _git(args: list[str], cwd: Path | None, what: str, *, strip: bool = True) -> str:
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**os.environ, **_GIT_ENV},
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PullRequestError(f"{what} failed: {exc}") from exc
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip().replace("\n", " | ")
        raise PullRequestError(f"{what} failed: {detail or f'exit code {completed.returncode}'}")
    return completed.stdout.strip() if strip else completed.stdout


def _blob_exists(repository: Path, revision: str) -> bool:
    try:
        completed = subprocess.run(
            ["git", "cat-file", "-e", revision],
            cwd=repository,
            env={**os.environ, **_GIT_ENV},
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PullRequestError(f"reading {revision} failed: {exc}") from exc
    return completed.returncode == 0


def read_from_git(spec: PullRequestSpec, repository: Path) -> BaseFile:
    """The prompt file of ``spec`` on its base branch of the local ``repository`` (read from
    the object database: nothing is checked out or written)."""
    base = spec.base_branch or _git(
        ["symbolic-ref", "--short", "HEAD"], repository, "reading the default branch"
    )
    _git(
        ["rev-parse", "--verify", "--quiet", f"refs/heads/{base}^{{commit}}"],
        repository,
        f"reading branch {base}",
    )
    revision = f"refs/heads/{base}:{spec.file_path}"
    if not _blob_exists(repository, revision):
        return BaseFile(base, None)
    content = _git(
        ["cat-file", "blob", revision], repository, f"reading {spec.file_path}", strip=False
    )
    return BaseFile(base, content)


def publish_to_git(spec: PullRequestSpec, repository: Path) -> str:
    """Push a branch with the new prompt to the local ``repository``; returns the ``pr_url``."""
    source = str(repository)
    with tempfile.TemporaryDirectory(prefix="kaizen-pr-") as tmp:
        clone = Path(tmp) / "repo"
        _git(
            ["clone", "--quiet", "--no-tags", "--no-local", "--", source, str(clone)],
            None,
            f"git clone of {source}",
        )
        base = spec.base_branch or _git(
            ["symbolic-ref", "--short", "HEAD"], clone, "reading the default branch"
        )
        _git(
            ["checkout", "--quiet", "-B", spec.branch, f"origin/{base}"],
            clone,
            f"creating branch {spec.branch} from {base}",
        )
        try:
            target = resolve_inside(clone, spec.file_path)
        except ValueError as exc:
            raise PullRequestError(f"refusing to write the prompt file: {exc}") from exc
        old_content = None
        if target.is_file():
            with target.open(encoding="utf-8", newline="") as current:
                old_content = current.read()
        target.parent.mkdir(parents=True, exist_ok=True)
        new_content = spec.file_content(old_content)
        with target.open("w", encoding="utf-8", newline="") as written:
            written.write(new_content)
        _git(["add", "--", str(target.relative_to(clone.resolve()))], clone, "git add")
        message = f"{spec.commit_message}\n\n{spec.body(old_content)}"
        _git(["commit", "--quiet", "--allow-empty", "-m", message], clone, "git commit")
        _git(
            ["push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{spec.branch}"],
            clone,
            f"git push of {spec.branch} to {source}",
        )
    return f"file://{repository}#{spec.branch}"
