"""Pick where a pull request goes and check what it will write, then open it.

A repository found under ``KAIZEN_PR_REPO_DIR`` gets a branch pushed by git; otherwise an
``owner/name`` goes to GitHub when a token is configured. Nothing else is contacted: the
references were checked when the task was stored and are checked again here (see
:mod:`kaizen_server.optimization.publishing.targets`).

Example:
    >>> from kaizen_server.optimization.settings import OptimizationSettings
    >>> destination("acme/app", OptimizationSettings(github_token="t"))
    'github'
    >>> destination("acme/app", OptimizationSettings())
    'none'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal, TypeVar

from kaizen_server.optimization.publishing.bitbucket import (
    publish_to_bitbucket,
    read_from_bitbucket,
)
from kaizen_server.optimization.publishing.credentials import (
    base_url_allowed,
    with_decrypted_git_token,
)
from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.github import publish_to_github, read_from_github
from kaizen_server.optimization.publishing.local_git import publish_to_git, read_from_git
from kaizen_server.optimization.publishing.spec import BaseFile, PullRequestSpec
from kaizen_server.optimization.publishing.targets import (
    normalize_branch,
    normalize_prompt_path,
    normalize_repository,
    resolve_local_repository,
)
from kaizen_server.optimization.settings import OptimizationSettings, get_optimization_settings

__all__ = ["destination", "open_pull_request", "read_base_file"]

T = TypeVar("T")


def destination(repo: str, settings: OptimizationSettings) -> Literal["git", "github", "none"]:
    """``git`` for a repository under ``KAIZEN_PR_REPO_DIR``, ``github`` for ``owner/name``
    with a token configured, ``none`` when neither applies (raises ``ValueError`` for a
    reference that is not allowed at all)."""
    if resolve_local_repository(repo, settings.pr_repo_dir) is not None:
        return "git"
    if settings.github_token and normalize_repository(repo).count("/") == 1:
        return "github"
    return "none"


def _checked(spec: PullRequestSpec) -> PullRequestSpec:
    """``spec`` with its references normalized; refused when they break the rules (e.g. a
    row stored before them)."""
    path, branch, source = spec.prompt_path, spec.base_branch, spec.prompt_file
    try:
        return replace(
            spec,
            repo=spec.repo
            if spec.git_provider == "bitbucket_server"
            else normalize_repository(spec.repo),
            prompt_path=None if path is None else normalize_prompt_path(path),
            prompt_file=None if source is None else normalize_prompt_path(source),
            base_branch=None if branch is None else normalize_branch(branch),
        )
    except ValueError as exc:
        raise PullRequestError(f"refusing to open the pull request: {exc}") from exc


def _through(
    spec: PullRequestSpec,
    settings: OptimizationSettings | None,
    on_git: Callable[[PullRequestSpec, Path], T],
    on_github: Callable[[PullRequestSpec, str, str], T],
    on_bitbucket: Callable[[PullRequestSpec], T],
) -> T:
    """Run ``on_git``, ``on_github`` or ``on_bitbucket`` for the destination of ``spec``
    (checked first)."""
    settings = settings or get_optimization_settings()
    spec = with_decrypted_git_token(_checked(spec))
    if spec.git_provider == "bitbucket_server":
        if not base_url_allowed(spec.git_base_url):
            raise PullRequestError(
                f"refusing to contact {spec.git_base_url!r}: not one of "
                "KAIZEN_GIT_ALLOWED_BASE_URLS"
            )
        return on_bitbucket(spec)
    try:
        local = resolve_local_repository(spec.repo, settings.pr_repo_dir)
    except ValueError as exc:
        raise PullRequestError(f"refusing to open the pull request: {exc}") from exc
    if local is not None:
        return on_git(spec, local)
    token = spec.git_token or settings.github_token
    if token and spec.repo.count("/") == 1:
        return on_github(spec, token, settings.github_api_url)
    where = str(settings.pr_repo_dir) if settings.pr_repo_dir else "KAIZEN_PR_REPO_DIR (not set)"
    raise PullRequestError(
        f"Repository '{spec.repo}' is not a git repository under {where}, and no GitHub token "
        "is configured (KAIZEN_GITHUB_TOKEN)."
    )


def open_pull_request(spec: PullRequestSpec, settings: OptimizationSettings | None = None) -> str:
    """Open the pull request of ``spec``; returns its URL or raises :class:`PullRequestError`."""
    return _through(spec, settings, publish_to_git, publish_to_github, publish_to_bitbucket)


def read_base_file(spec: PullRequestSpec, settings: OptimizationSettings | None = None) -> BaseFile:
    """The prompt file of ``spec`` on its base branch, read from where the pull request would
    go (nothing is written); raises :class:`PullRequestError` when it cannot be read."""
    return _through(spec, settings, read_from_git, read_from_github, read_from_bitbucket)
