"""Pull requests on Bitbucket Server (REST 1.0) against a loopback fake of its protocol."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kaizen_server.optimization.publishing import (
    PullRequestError,
    PullRequestSpec,
    open_pull_request,
    preview_pull_request,
)
from kaizen_server.optimization.publishing.credentials import encrypt_git_token
from kaizen_server.optimization.settings import OptimizationSettings
from tests.optimization.fake_bitbucket import FakeBitbucket, running_fake_bitbucket

SECRET = "test-secret-key-" + "x" * 32
PROMPTS_YAML = b"# app prompts\r\nsummarize: |\r\n  Summarize the ticket.\r\nmodel: gpt\r\n"


@pytest.fixture
def bitbucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBitbucket]:
    with running_fake_bitbucket() as fake:
        fake.add_repo("APP", "web", {"config/prompts.yaml": PROMPTS_YAML})
        monkeypatch.setenv("KAIZEN_SECRET_KEY", SECRET)
        monkeypatch.setenv("KAIZEN_GIT_ALLOWED_BASE_URLS", f'["{fake.base_url}/"]')
        yield fake


def _spec(fake: FakeBitbucket, **fields: object) -> PullRequestSpec:
    values: dict[str, object] = {
        "repo": "web",
        "task_name": "summarize",
        "version_number": 2,
        "prompt_text": "Summarize the ticket.\nStart with SUMMARY:.\n",
        "prompt_file": "config/prompts.yaml",
        "prompt_locator": "summarize",
        "git_provider": "bitbucket_server",
        "git_base_url": fake.base_url,
        "git_project": "APP",
        "git_token_encrypted": encrypt_git_token(fake.token, SECRET),
        "job_id": "0123456789abcdef",
    }
    values.update(fields)
    return PullRequestSpec(**values)  # type: ignore[arg-type]


def test_the_pull_request_edits_the_key_on_a_new_branch(bitbucket: FakeBitbucket) -> None:
    url = open_pull_request(_spec(bitbucket), OptimizationSettings())
    repo = bitbucket.repos[("APP", "web")]
    assert url == f"{bitbucket.base_url}/projects/APP/repos/web/pull-requests/1"
    branch = "kaizen/summarize-v2-01234567"
    assert repo.files[(branch, "config/prompts.yaml")] == (
        b"# app prompts\r\nsummarize: |\r\n  Summarize the ticket.\r\n  Start with SUMMARY:.\r\n"
        b"model: gpt\r\n"
    )
    assert repo.files[("main", "config/prompts.yaml")] == PROMPTS_YAML
    (pull,) = repo.pulls
    assert (pull["fromRef"]["id"], pull["toRef"]["id"]) == (
        f"refs/heads/{branch}",
        "refs/heads/main",
    )
    assert "+  Start with SUMMARY:." in pull["description"]
    # a retry writes on top of the branch and finds the open pull request
    assert open_pull_request(_spec(bitbucket), OptimizationSettings()) == url
    assert len(repo.pulls) == 1


def test_the_preview_reads_the_base_branch(bitbucket: FakeBitbucket) -> None:
    preview = preview_pull_request(_spec(bitbucket), OptimizationSettings(), old_prompt=None)
    assert preview.warning is None
    assert preview.base_branch == "main"
    assert "+  Start with SUMMARY:." in preview.diff
    assert all(method == "GET" for method, _ in bitbucket.requests)


def test_a_host_not_allowed_is_never_contacted(
    bitbucket: FakeBitbucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIZEN_GIT_ALLOWED_BASE_URLS", '["https://git.other.test"]')
    with pytest.raises(PullRequestError, match="not one of KAIZEN_GIT_ALLOWED_BASE_URLS"):
        open_pull_request(_spec(bitbucket), OptimizationSettings())
    assert bitbucket.requests == []


def test_token_problems_are_named(bitbucket: FakeBitbucket) -> None:
    with pytest.raises(PullRequestError, match="cannot be decrypted"):
        open_pull_request(
            _spec(bitbucket, git_token_encrypted=encrypt_git_token("t", "another" * 8)),
            OptimizationSettings(),
        )
    with pytest.raises(PullRequestError, match="needs the task's git token"):
        open_pull_request(_spec(bitbucket, git_token_encrypted=None), OptimizationSettings())
    with pytest.raises(PullRequestError, match="HTTP 401 Authentication failed"):
        open_pull_request(
            _spec(bitbucket, git_token_encrypted=encrypt_git_token("wrong", SECRET)),
            OptimizationSettings(),
        )
    assert bitbucket.repos[("APP", "web")].pulls == []
