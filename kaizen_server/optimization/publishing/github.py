"""Pull requests on GitHub through its REST API (httpx), with a configurable API base URL.

Steps: read the base branch head, read the current prompt file (for the diff), create the
branch ref, write the file with the contents API, open the pull request. A retry after a
partial failure reuses the branch and an already open pull request.

Example:
    >>> repository_slug("https://github.com/acme/app.git")
    'acme/app'
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

import httpx

from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.rest_api import RestApi, error_message
from kaizen_server.optimization.publishing.spec import BaseFile, PullRequestSpec

__all__ = ["publish_to_github", "read_from_github", "repository_slug"]

_SLUG = re.compile(r"^(?:https?://[^/]+/)?([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def repository_slug(repo: str) -> str:
    """``owner/name`` from ``owner/name`` or a GitHub web/clone URL."""
    match = _SLUG.match(repo.strip())
    if not match:
        raise PullRequestError(f"'{repo}' is not a GitHub repository (expected owner/name)")
    return f"{match.group(1)}/{match.group(2)}"


class _GitHub(RestApi):
    def __init__(self, client: httpx.Client, slug: str) -> None:
        super().__init__(client, f"/repos/{slug}", "GitHub")


def _client(token: str, api_url: str) -> httpx.Client:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    return httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=30.0)


def _base_branch(github: _GitHub, spec: PullRequestSpec) -> str:
    if spec.base_branch:
        return spec.base_branch
    return str(github.call("GET", "", "reading the repository").json()["default_branch"])


def _decoded(payload: Any) -> str:
    content = payload.get("content", "") if isinstance(payload, dict) else ""
    return base64.b64decode(content).decode("utf-8", "replace")


def read_from_github(spec: PullRequestSpec, token: str, api_url: str) -> BaseFile:
    """The prompt file of ``spec`` on its base branch (two reads; nothing is written)."""
    with _client(token, api_url) as client:
        github = _GitHub(client, repository_slug(spec.repo))
        base = _base_branch(github, spec)
        current = github.call(
            "GET",
            f"/contents/{quote(spec.file_path)}",
            "reading the prompt file",
            ok=(200, 404),
            params={"ref": base},
        )
        if current.status_code == 404:
            github.call("GET", f"/git/ref/heads/{quote(base)}", f"reading branch {base}")
            return BaseFile(base, None)
        return BaseFile(base, _decoded(current.json()))


def publish_to_github(spec: PullRequestSpec, token: str, api_url: str) -> str:
    """Open the pull request; returns its ``html_url``."""
    slug = repository_slug(spec.repo)
    with _client(token, api_url) as client:
        github = _GitHub(client, slug)
        base = _base_branch(github, spec)
        head = github.call("GET", f"/git/ref/heads/{quote(base)}", f"reading branch {base}")
        base_sha = head.json()["object"]["sha"]
        path = quote(spec.file_path)
        current = github.call(
            "GET",
            f"/contents/{path}",
            "reading the prompt file",
            ok=(200, 404),
            params={"ref": base},
        )
        old_content, old_sha = None, None
        if current.status_code == 200:
            payload = current.json()
            old_sha = payload.get("sha")
            old_content = _decoded(payload)
        created = github.call(
            "POST",
            "/git/refs",
            f"creating branch {spec.branch}",
            ok=(201, 422),
            json={"ref": f"refs/heads/{spec.branch}", "sha": base_sha},
        )
        if created.status_code == 422:  # a retry: the branch exists; write on top of it
            on_branch = github.call(
                "GET",
                f"/contents/{path}",
                "reading the prompt file on the branch",
                ok=(200, 404),
                params={"ref": spec.branch},
            )
            old_sha = on_branch.json().get("sha") if on_branch.status_code == 200 else None
        content = base64.b64encode(spec.file_content(old_content).encode()).decode()
        write: dict[str, Any] = {
            "message": spec.commit_message,
            "content": content,
            "branch": spec.branch,
        }
        if old_sha:
            write["sha"] = old_sha
        github.call("PUT", f"/contents/{path}", "writing the prompt file", json=write)
        pull = github.call(
            "POST",
            "/pulls",
            "opening the pull request",
            ok=(201, 422),
            json={
                "title": spec.title,
                "head": spec.branch,
                "base": base,
                "body": spec.body(old_content),
            },
        )
        if pull.status_code == 201:
            return str(pull.json()["html_url"])
        owner = slug.split("/", 1)[0]
        existing = github.call(
            "GET",
            "/pulls",
            "finding the open pull request",
            params={"head": f"{owner}:{spec.branch}", "state": "open"},
        ).json()
        if not existing:
            raise PullRequestError(f"GitHub opening the pull request failed: {error_message(pull)}")
        return str(existing[0]["html_url"])
