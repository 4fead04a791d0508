"""Pull requests on Bitbucket Server / Data Center through its REST API 1.0 (httpx).

Steps: read the base branch (``branches/default`` or ``branches?filterText=``), read the prompt
file (``raw/{path}?at=``), write it with the file edit API (``PUT browse/{path}``, multipart:
``branch``, ``sourceBranch`` creating the new branch from the base, ``sourceCommitId``,
``content``, ``message``), then ``POST pull-requests``. A retry after a partial failure writes
on top of the existing branch and reuses an already open pull request (409).

The host is the task's ``git_base_url``, used only when it is one of
``KAIZEN_GIT_ALLOWED_BASE_URLS``; the token is the task's own (stored encrypted).

Example:
    >>> rest_prefix("https://git.acme.test/", "APP", "web")
    'https://git.acme.test/rest/api/1.0/projects/APP/repos/web'
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.rest_api import RestApi, error_message
from kaizen_server.optimization.publishing.spec import BaseFile, PullRequestSpec

__all__ = ["publish_to_bitbucket", "read_from_bitbucket", "rest_prefix"]


def rest_prefix(base_url: str, project: str, repo: str) -> str:
    """The REST 1.0 URL of repository ``repo`` in ``project``."""
    return (
        f"{base_url.rstrip('/')}/rest/api/1.0/projects/{quote(project, safe='')}"
        f"/repos/{quote(repo, safe='')}"
    )


class _Bitbucket(RestApi):
    def __init__(self, client: httpx.Client, spec: PullRequestSpec) -> None:
        if not spec.git_base_url or not spec.git_project:
            raise PullRequestError("Bitbucket Server needs the task's git_base_url and git_project")
        prefix = rest_prefix(spec.git_base_url, spec.git_project, spec.repo)
        super().__init__(client, prefix, "Bitbucket")
        self.project, self.repo = spec.git_project, spec.repo

    def branch_head(self, branch: str | None) -> tuple[str, str] | None:
        """(display name, latest commit) of ``branch`` (None: the default branch)."""
        if branch is None:
            payload = self.call("GET", "/branches/default", "reading the default branch").json()
            return str(payload["displayId"]), str(payload["latestCommit"])
        listed = self.call(
            "GET", "/branches", f"reading branch {branch}", params={"filterText": branch}
        ).json()
        for value in listed.get("values", []):
            if value.get("displayId") == branch:
                return branch, str(value["latestCommit"])
        return None

    def read(self, path: str, branch: str) -> str | None:
        response = self.call(
            "GET",
            f"/raw/{quote(path)}",
            "reading the prompt file",
            ok=(200, 404),
            params={"at": f"refs/heads/{branch}"},
        )
        return response.text if response.status_code == 200 else None

    def ref(self, branch: str) -> dict[str, Any]:
        return {
            "id": f"refs/heads/{branch}",
            "repository": {"slug": self.repo, "project": {"key": self.project}},
        }


def _client(spec: PullRequestSpec) -> httpx.Client:
    if not spec.git_token:
        raise PullRequestError(
            "Bitbucket Server needs the task's git token (send git_token_raw with the task)"
        )
    headers = {"Authorization": f"Bearer {spec.git_token}", "Accept": "application/json"}
    return httpx.Client(headers=headers, timeout=30.0, follow_redirects=False)


def _base(bitbucket: _Bitbucket, spec: PullRequestSpec) -> tuple[str, str]:
    head = bitbucket.branch_head(spec.base_branch)
    if head is None:
        raise PullRequestError(f"Bitbucket reading branch {spec.base_branch} failed: not found")
    return head


def read_from_bitbucket(spec: PullRequestSpec) -> BaseFile:
    """The prompt file of ``spec`` on its base branch (reads only)."""
    with _client(spec) as client:
        bitbucket = _Bitbucket(client, spec)
        base, _ = _base(bitbucket, spec)
        return BaseFile(base, bitbucket.read(spec.file_path, base))


def publish_to_bitbucket(spec: PullRequestSpec) -> str:
    """Open the pull request; returns its web URL."""
    with _client(spec) as client:
        bitbucket = _Bitbucket(client, spec)
        base, base_commit = _base(bitbucket, spec)
        old_content = bitbucket.read(spec.file_path, base)
        new_content = spec.file_content(old_content)
        on_branch = bitbucket.branch_head(spec.branch)
        form: dict[str, str] = {"branch": spec.branch, "message": spec.commit_message}
        if on_branch is None:  # the edit creates the branch from the base
            form["sourceBranch"] = f"refs/heads/{base}"
            if old_content is not None:
                form["sourceCommitId"] = base_commit
        elif bitbucket.read(spec.file_path, spec.branch) is not None:
            form["sourceCommitId"] = on_branch[1]
        bitbucket.call(
            "PUT",
            f"/browse/{quote(spec.file_path)}",
            "writing the prompt file",
            data=form,
            files={"content": (spec.file_path.rsplit("/", 1)[-1], new_content.encode("utf-8"))},
        )
        pull = bitbucket.call(
            "POST",
            "/pull-requests",
            "opening the pull request",
            ok=(201, 409),
            json={
                "title": spec.title,
                "description": spec.body(old_content),
                "fromRef": bitbucket.ref(spec.branch),
                "toRef": bitbucket.ref(base),
            },
        )
        if pull.status_code == 201:
            return _web_url(pull.json())
        existing = bitbucket.call(
            "GET",
            "/pull-requests",
            "finding the open pull request",
            params={"at": f"refs/heads/{spec.branch}", "direction": "OUTGOING", "state": "OPEN"},
        ).json()
        values = existing.get("values", []) if isinstance(existing, dict) else []
        if not values:
            raise PullRequestError(
                f"Bitbucket opening the pull request failed: {error_message(pull)}"
            )
        return _web_url(values[0])


def _web_url(pull: dict[str, Any]) -> str:
    links = pull.get("links", {}).get("self", [])
    if links and isinstance(links[0], dict) and links[0].get("href"):
        return str(links[0]["href"])
    raise PullRequestError("Bitbucket answered a pull request without its link")
