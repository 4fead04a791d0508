"""A loopback fake of the Bitbucket Server REST API 1.0 endpoints the publisher uses.

One in-memory repository per (project, slug): branches with their latest commit, files per
branch, pull requests. It speaks the real shapes: ``branches/default``, ``branches?filterText``,
``raw/{path}?at=`` (text), the multipart file edit ``PUT browse/{path}`` (``branch``,
``sourceBranch``, ``sourceCommitId`` checked like the server does), ``pull-requests``
(409 with ``existingPullRequest`` for a duplicate).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

__all__ = ["FakeBitbucket", "running_fake_bitbucket"]

_PREFIX = re.compile(r"^/rest/api/1\.0/projects/([^/]+)/repos/([^/]+)(/.*)?$")


def _commit(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


@dataclass
class FakeBitbucketRepo:
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeBitbucket:
    token: str = "bb-test-token"
    repos: dict[tuple[str, str], FakeBitbucketRepo] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_repo(self, project: str, slug: str, files: dict[str, bytes]) -> FakeBitbucketRepo:
        repo = FakeBitbucketRepo()
        repo.branches["main"] = _commit(f"{project}/{slug}")
        for path, content in files.items():
            repo.files[("main", path)] = content
        self.repos[(project, slug)] = repo
        return repo

    def handle(self, method: str, url: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        self.requests.append((method, url))
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"errors": [{"message": "Authentication failed"}]}
        parsed = urlparse(url)
        query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
        match = _PREFIX.match(parsed.path)
        repo = self.repos.get((match.group(1), match.group(2))) if match else None
        if match is None or repo is None:
            return 404, {"errors": [{"message": "Repository does not exist"}]}
        project, slug, rest = match.group(1), match.group(2), unquote(match.group(3) or "")
        if method == "GET" and rest == "/branches/default":
            name = repo.default_branch
            return 200, {"displayId": name, "latestCommit": repo.branches[name]}
        if method == "GET" and rest == "/branches":
            text = query.get("filterText", "")
            values = [
                {"id": f"refs/heads/{b}", "displayId": b, "latestCommit": c}
                for b, c in repo.branches.items()
                if text in b
            ]
            return 200, {"values": values, "isLastPage": True}
        if method == "GET" and rest.startswith("/raw/"):
            branch = query.get("at", "").removeprefix("refs/heads/") or repo.default_branch
            content = repo.files.get((branch, rest.removeprefix("/raw/")))
            if content is None:
                return 404, {"errors": [{"message": "The path does not exist"}]}
            return 200, content
        if method == "PUT" and rest.startswith("/browse/"):
            return self._edit(repo, rest.removeprefix("/browse/"), headers, raw)
        if rest == "/pull-requests" and method == "POST":
            body = json.loads(raw)
            from_id = body["fromRef"]["id"]
            for pull in repo.pulls:
                if pull["fromRef"]["id"] == from_id and pull["state"] == "OPEN":
                    return 409, {
                        "errors": [
                            {
                                "message": "Only one pull request may be open for a given "
                                "source and target branch",
                                "existingPullRequest": pull,
                            }
                        ]
                    }
            number = len(repo.pulls) + 1
            pull = {
                **body,
                "id": number,
                "state": "OPEN",
                "links": {
                    "self": [
                        {
                            "href": f"{self.base_url}/projects/{project}/repos/{slug}"
                            f"/pull-requests/{number}"
                        }
                    ]
                },
            }
            repo.pulls.append(pull)
            return 201, pull
        if rest == "/pull-requests" and method == "GET":
            at = query.get("at")
            values = [p for p in repo.pulls if p["fromRef"]["id"] == at and p["state"] == "OPEN"]
            return 200, {"values": values, "isLastPage": True}
        return 404, {"errors": [{"message": f"no fake for {method} {rest}"}]}

    def _edit(
        self, repo: FakeBitbucketRepo, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + raw
        )
        form: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            form[str(name)] = payload if isinstance(payload, bytes) else b""
        branch = form["branch"].decode()
        if branch not in repo.branches:
            source = form.get("sourceBranch", b"").decode().removeprefix("refs/heads/")
            if source not in repo.branches:
                return 400, {"errors": [{"message": f"branch {branch} does not exist"}]}
            repo.branches[branch] = repo.branches[source]
            for (file_branch, file_path), content in list(repo.files.items()):
                if file_branch == source:
                    repo.files[(branch, file_path)] = content
        existing = repo.files.get((branch, path))
        if (
            existing is not None
            and form.get("sourceCommitId", b"").decode() != (repo.branches[branch])
        ):
            return 409, {"errors": [{"message": "sourceCommitId is not the file's latest"}]}
        repo.files[(branch, path)] = form["content"]
        repo.branches[branch] = _commit(f"{branch}:{form['content']!r}")
        return 200, {"id": repo.branches[branch], "message": form["message"].decode()}


@contextmanager
def running_fake_bitbucket() -> Iterator[FakeBitbucket]:
    """A started :class:`FakeBitbucket` on a free loopback port."""
    fake = FakeBitbucket()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, payload = fake.handle(self.command, self.path, headers, raw)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            kind = "text/plain" if isinstance(payload, bytes) else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake._server = server
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
