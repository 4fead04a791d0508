"""A loopback fake of the GitHub REST API endpoints the pull-request publisher uses.

In-memory repositories with branches, files and pull requests, speaking the real request and
response shapes (refs, contents API with base64 and blob shas, pulls). ``fail_pulls`` makes the
next N ``POST /pulls`` answer 403, to test PR_FAILED and retries.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.support.json_server import JSONFake, LoopbackJSONServer

__all__ = ["FakeGitHub", "FakeRepo", "running_fake_github"]


def _sha(data: str) -> str:
    return hashlib.sha1(data.encode()).hexdigest()


@dataclass
class FakeRepo:
    """One repository: branch -> commit sha, (branch, path) -> content, pull requests."""

    default_branch: str = "main"
    refs: dict[str, str] = field(default_factory=dict)
    files: dict[tuple[str, str], str] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeGitHub(JSONFake):
    token: str = "gh-test-token"
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    fail_pulls: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: LoopbackJSONServer | None = None

    @property
    def api_url(self) -> str:
        return self.base_url

    def add_repo(self, slug: str, files: dict[str, str] | None = None) -> FakeRepo:
        repo = FakeRepo()
        repo.refs["main"] = _sha(f"{slug}:initial")
        for path, content in (files or {}).items():
            repo.files[("main", path)] = content
        self.repos[slug] = repo
        return repo

    def handle(
        self, method: str, url: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        self.requests.append((method, url))
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}
        parsed = urlparse(url)
        query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
        match = re.match(r"^/repos/([^/]+/[^/]+)(/.*)?$", parsed.path)
        if not match or match.group(1) not in self.repos:
            return 404, {"message": "Not Found"}
        slug, rest = match.group(1), unquote(match.group(2) or "")
        repo = self.repos[slug]
        if method == "GET" and rest == "":
            return 200, {"full_name": slug, "default_branch": repo.default_branch}
        if method == "GET" and rest.startswith("/git/ref/heads/"):
            branch = rest.removeprefix("/git/ref/heads/")
            if branch not in repo.refs:
                return 404, {"message": "Not Found"}
            return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": repo.refs[branch]}}
        if method == "POST" and rest == "/git/refs":
            branch = str(body["ref"]).removeprefix("refs/heads/")
            if branch in repo.refs:
                return 422, {"message": "Reference already exists"}
            source = next((b for b, sha in repo.refs.items() if sha == body["sha"]), None)
            if source is None:
                return 422, {"message": "Object does not exist"}
            repo.refs[branch] = body["sha"]
            for (file_branch, path), content in list(repo.files.items()):
                if file_branch == source:
                    repo.files[(branch, path)] = content
            return 201, {"ref": body["ref"], "object": {"sha": body["sha"]}}
        if rest.startswith("/contents/"):
            path = rest.removeprefix("/contents/")
            if method == "GET":
                branch = query.get("ref", repo.default_branch)
                if (branch, path) not in repo.files:
                    return 404, {"message": "Not Found"}
                content = repo.files[(branch, path)]
                encoded = base64.b64encode(content.encode()).decode()
                return 200, {
                    "path": path,
                    "sha": _sha(content),
                    "content": encoded,
                    "encoding": "base64",
                }
            if method == "PUT":
                branch = body["branch"]
                existing = repo.files.get((branch, path))
                if existing is not None and body.get("sha") != _sha(existing):
                    return 409, {"message": f"{path} does not match {body.get('sha')}"}
                content = base64.b64decode(body["content"]).decode()
                repo.files[(branch, path)] = content
                repo.refs[branch] = _sha(f"{branch}:{content}")
                return (200 if existing is not None else 201), {"content": {"path": path}}
        if rest == "/pulls" and method == "POST":
            if self.fail_pulls > 0:
                self.fail_pulls -= 1
                return 403, {"message": "Resource not accessible by integration"}
            if any(p["head"] == body["head"] and p["state"] == "open" for p in repo.pulls):
                return 422, {
                    "message": "Validation Failed",
                    "errors": [{"message": "A pull request already exists"}],
                }
            number = len(repo.pulls) + 1
            pull = {
                **body,
                "number": number,
                "state": "open",
                "html_url": f"https://github.test/{slug}/pull/{number}",
            }
            repo.pulls.append(pull)
            return 201, pull
        if rest == "/pulls" and method == "GET":
            head = query.get("head", "").split(":", 1)[-1]
            return 200, [p for p in repo.pulls if not head or p["head"] == head]
        return 404, {"message": "Not Found"}


@contextmanager
def running_fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()
