"""Pick where a pull request goes: GitHub when a token is configured, else a git repository.

Example:
    >>> from kaizen_server.optimization.settings import OptimizationSettings
    >>> destination("/srv/prompts.git", OptimizationSettings(github_token="t"))
    'git'
    >>> destination("acme/app", OptimizationSettings(github_token="t"))
    'github'
    >>> destination("acme/app", OptimizationSettings())
    'git'
"""

from __future__ import annotations

from typing import Literal

from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.github import publish_to_github
from kaizen_server.optimization.publishing.local_git import is_local_repository, publish_to_git
from kaizen_server.optimization.publishing.spec import PullRequestSpec
from kaizen_server.optimization.settings import OptimizationSettings, get_optimization_settings

__all__ = ["GITHUB_WEB_URLS", "destination", "open_pull_request"]

GITHUB_WEB_URLS = ("https://github.com/", "http://github.com/", "https://www.github.com/")
"""Repository URLs that mean GitHub (not a plain git remote) when a token is configured."""


def destination(repo: str, settings: OptimizationSettings) -> Literal["git", "github"]:
    """``github`` for ``owner/name`` or ``https://github.com/...`` repositories when a token is
    configured, else ``git``."""
    if not settings.github_token:
        return "git"
    if repo.startswith(GITHUB_WEB_URLS) or not is_local_repository(repo, settings.pr_repo_dir):
        return "github"
    return "git"


def open_pull_request(spec: PullRequestSpec, settings: OptimizationSettings | None = None) -> str:
    """Open the pull request of ``spec``; returns its URL or raises :class:`PullRequestError`."""
    settings = settings or get_optimization_settings()
    token = settings.github_token
    if token and destination(spec.repo, settings) == "github":
        return publish_to_github(spec, token, settings.github_api_url)
    if not is_local_repository(spec.repo, settings.pr_repo_dir) and settings.pr_repo_dir is None:
        raise PullRequestError(
            f"Repository '{spec.repo}' is neither a local path nor a git URL, and no GitHub token "
            "is configured (KAIZEN_GITHUB_TOKEN)."
        )
    return publish_to_git(spec, settings.pr_repo_dir)
