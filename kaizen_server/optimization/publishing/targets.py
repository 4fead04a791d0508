"""Where a pull request may go and which file it may write: checked before anything is stored.

A task names its repository (``github_repo``), base branch and prompt file; all three come
from a client, so none may choose a host to contact or a file outside the repository:

* ``github_repo`` is ``owner/name`` on GitHub (the API URL comes from settings only; a
  ``https://github.com/owner/name`` link is accepted and stored as ``owner/name``) or the
  relative name of a repository under ``KAIZEN_PR_REPO_DIR``. No URL, no absolute path, no
  ``..``.
* ``prompt_path`` is a relative path inside the repository: no ``..``, no ``.git``, no
  backslash or control character.
* ``github_base_branch`` is a valid git branch name that cannot be read as an option.

The same checks run again, with the path resolved on disk, right before a file is written
(see :func:`resolve_inside`), so a row stored before these rules (or a symlink in the
repository) cannot lead a write elsewhere.

Example:
    >>> normalize_repository("https://github.com/acme/app.git")
    'acme/app'
    >>> normalize_prompt_path("../etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: must be a relative path inside the repository ('..' is not allowed)
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

__all__ = [
    "normalize_branch",
    "normalize_prompt_path",
    "normalize_repository",
    "resolve_inside",
    "resolve_local_repository",
]

_GITHUB_LINK = re.compile(r"^https://(?:www\.)?github\.com/([^/]+/[^/]+?)(?:\.git)?/?$")
_PATH_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_BRANCH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")
MAX_PATH_LENGTH = 255


def _relative_parts(value: str, what: str) -> list[str]:
    if not value or len(value) > MAX_PATH_LENGTH:
        raise ValueError(f"must be 1 to {MAX_PATH_LENGTH} characters")
    if _CONTROL.search(value):
        raise ValueError(f"must be a {what} without backslashes or control characters")
    if value.startswith("/") or "://" in value or value.startswith("~"):
        raise ValueError(f"must be a relative {what} (no URL, no absolute path)")
    parts = value.split("/")
    if ".." in parts:
        raise ValueError(f"must be a relative path inside the {what} ('..' is not allowed)")
    if any(part in ("", ".") for part in parts):
        raise ValueError(f"must be a normalized relative {what} (no empty or '.' parts)")
    return parts


def normalize_repository(value: str) -> str:
    """The repository reference to store: ``owner/name`` or a relative name under
    ``KAIZEN_PR_REPO_DIR``; raises ``ValueError`` naming the problem otherwise."""
    link = _GITHUB_LINK.match(value)
    if link:
        value = link.group(1)
    if value.startswith("git@") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", value):
        raise ValueError(
            "must be 'owner/name' on GitHub or a repository name under KAIZEN_PR_REPO_DIR "
            "(URLs are not accepted)"
        )
    parts = _relative_parts(value, "repository name")
    for part in parts:
        if not _PATH_PART.match(part):
            raise ValueError(
                f"part {part!r} may hold letters, digits, '.', '_' and '-' only, "
                "and must not start with '.' or '-'"
            )
    return value


def normalize_prompt_path(value: str) -> str:
    """The prompt file's path inside the repository; raises ``ValueError`` naming the problem."""
    parts = _relative_parts(value, "repository")
    if any(part.lower() == ".git" for part in parts):
        raise ValueError("must not point into the repository's .git folder")
    if any(part.startswith("-") for part in parts):
        raise ValueError("parts must not start with '-'")
    return str(PurePosixPath(*parts))


def normalize_branch(value: str) -> str:
    """A base branch name git accepts and no command reads as an option."""
    if not _BRANCH.match(value) or len(value) > MAX_PATH_LENGTH:
        raise ValueError(
            "must be a git branch name: letters, digits, '.', '_', '-' and '/', "
            "not starting with '-' or '.'"
        )
    parts = value.split("/")
    if (
        ".." in value
        or "@{" in value
        or any(not part or part.startswith(".") or part.endswith(".lock") for part in parts)
        or value.endswith(".")
    ):
        raise ValueError("must be a valid git branch name (see git check-ref-format)")
    return value


def resolve_inside(root: Path, relative: str) -> Path:
    """``root / relative`` resolved on disk (symlinks followed), refused unless inside ``root``.

    Example:
        >>> resolve_inside(Path("/srv/repo"), "prompts/a.txt")
        PosixPath('/srv/repo/prompts/a.txt')
    """
    base = root.resolve()
    target = (base / normalize_prompt_path(relative)).resolve()
    if not target.is_relative_to(base) or target == base:
        raise ValueError(f"{relative!r} resolves outside {base}")
    if target.relative_to(base).parts[0].lower() == ".git":
        raise ValueError(f"{relative!r} resolves into the .git folder")
    return target


def resolve_local_repository(repo: str, base_dir: Path | None) -> Path | None:
    """The local repository ``repo`` names under ``base_dir``, or ``None`` when there is none
    (no ``base_dir``, nothing there). Raises ``ValueError`` when ``repo`` is not a valid
    reference or resolves (through a symlink) outside ``base_dir``."""
    name = normalize_repository(repo)
    if base_dir is None:
        return None
    base = base_dir.resolve()
    candidate = base / name
    if not candidate.exists():
        return None
    resolved = candidate.resolve()
    if not resolved.is_relative_to(base):
        raise ValueError(f"repository {repo!r} resolves outside KAIZEN_PR_REPO_DIR")
    return resolved
