"""Pull requests into a git repository reachable by path or URL: a branch with one commit.

The repository is cloned into a temporary folder, the prompt file is written on a new branch
from the base branch and committed, and the branch is pushed back to the repository. The
``pr_url`` is ``file:///path/to/repo#branch`` (or ``<git url>#branch``). Nothing touches the
repository's working tree, so it may be a bare repository or one in use.

Example:
    >>> repository_location("relative/repo", base_dir=Path("/srv/repos"))
    '/srv/repos/relative/repo'
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.spec import PullRequestSpec

__all__ = ["GIT_TIMEOUT_S", "is_local_repository", "publish_to_git", "repository_location"]

GIT_TIMEOUT_S = 60.0
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Kaizen",
    "GIT_AUTHOR_EMAIL": "kaizen@localhost",
    "GIT_COMMITTER_NAME": "Kaizen",
    "GIT_COMMITTER_EMAIL": "kaizen@localhost",
    "GIT_TERMINAL_PROMPT": "0",
}
_URL_SCHEMES = ("file://", "http://", "https://", "ssh://", "git://", "git@")


def is_local_repository(repo: str, base_dir: Path | None = None) -> bool:
    """True when ``repo`` names a git repository by path or git URL (not GitHub ``owner/name``)."""
    if repo.startswith(_URL_SCHEMES) or os.path.isabs(repo):
        return True
    return base_dir is not None and (base_dir / repo).exists()


def repository_location(repo: str, base_dir: Path | None = None) -> str:
    """The clone source: URLs and absolute paths as given, relative names under ``base_dir``."""
    if repo.startswith(_URL_SCHEMES) or os.path.isabs(repo):
        return repo
    return str((base_dir or Path.cwd()) / repo)


def _git(args: list[str], cwd: Path | None, what: str) -> str:
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
    return completed.stdout.strip()


def publish_to_git(spec: PullRequestSpec, base_dir: Path | None = None) -> str:
    """Push a branch with the new prompt to the repository; returns the ``pr_url``."""
    source = repository_location(spec.repo, base_dir)
    with tempfile.TemporaryDirectory(prefix="kaizen-pr-") as tmp:
        clone = Path(tmp) / "repo"
        _git(["clone", "--quiet", "--no-tags", source, str(clone)], None, f"git clone of {source}")
        base = spec.base_branch or _git(
            ["symbolic-ref", "--short", "HEAD"], clone, "reading the default branch"
        )
        _git(
            ["checkout", "--quiet", "-B", spec.branch, f"origin/{base}"],
            clone,
            f"creating branch {spec.branch} from {base}",
        )
        target = clone / spec.file_path
        old_content = target.read_text(encoding="utf-8") if target.is_file() else None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(spec.file_content(), encoding="utf-8")
        _git(["add", "--", spec.file_path], clone, "git add")
        message = f"{spec.commit_message}\n\n{spec.body(old_content)}"
        _git(["commit", "--quiet", "--allow-empty", "-m", message], clone, "git commit")
        _git(
            ["push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{spec.branch}"],
            clone,
            f"git push of {spec.branch} to {source}",
        )
    location = source if source.startswith(_URL_SCHEMES) else f"file://{Path(source).resolve()}"
    return f"{location}#{spec.branch}"
