"""What a pull request of a new prompt version contains: file, branch, title and body.

Example:
    >>> spec = PullRequestSpec(repo="acme/app", task_name="Summarize Ticket", version_number=3,
    ...                        prompt_text="Summarize.", prompt_format="json", job_id="1234abcd-x")
    >>> spec.file_path, spec.branch
    ('prompts/summarize-ticket.json', 'kaizen/summarize-ticket-v3-1234abcd')
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.prompt_in_source import (
    PromptLocationError,
    detect_format,
    replace_prompt,
)

__all__ = ["PROMPT_FORMATS", "BaseFile", "PullRequestSpec", "render_prompt_file"]

PROMPT_FORMATS = {"text": "txt", "json": "json", "yaml": "yaml"}
"""Supported ``prompt_format`` values and their default file extension."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "task"


def render_prompt_file(prompt_text: str, prompt_format: str, fields: dict[str, Any]) -> str:
    """The file content: the bare text, or a JSON / YAML document with ``prompt_text`` and
    ``fields`` (task, version, scores...).

    Example:
        >>> print(render_prompt_file("Hi", "yaml", {"task": "t"}), end="")
        task: t
        prompt_text: Hi
    """
    document = {**fields, "prompt_text": prompt_text}
    if prompt_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if prompt_format == "yaml":
        rendered: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        return rendered
    return prompt_text.rstrip("\n") + "\n"


def _score(value: float | None) -> str:
    return "not evaluated" if value is None else f"{value:.3f}"


@dataclass(frozen=True)
class BaseFile:
    """The prompt file as it is on the branch a pull request targets."""

    branch: str
    """The base branch (the repository's default branch when the task names none)."""
    content: str | None
    """The file's text; None when the file does not exist on that branch."""


@dataclass(frozen=True)
class PullRequestSpec:
    """A new prompt version to propose in the task's repository."""

    repo: str
    """A repository name under ``KAIZEN_PR_REPO_DIR``, ``owner/name`` on GitHub, or the
    repository slug in ``git_project`` on Bitbucket Server."""
    task_name: str
    version_number: int
    prompt_text: str
    base_branch: str | None = None
    """None -> the repository's default branch."""
    prompt_path: str | None = None
    prompt_format: str | None = None
    eval_score: float | None = None
    baseline_score: float | None = None
    optimizer: str | None = None
    job_id: str = ""
    prompt_file: str | None = None
    """Upstream's source file holding the prompt (``.py``, ``.yaml``/``.yml``, ``.json``,
    ``.txt``): when set, the pull request edits the prompt there, at ``prompt_locator``,
    instead of writing ``prompt_path`` whole."""
    prompt_locator: str | None = None
    """A Python variable name or a dotted YAML/JSON key path inside ``prompt_file``."""
    git_provider: str | None = None
    """``bitbucket_server`` -> the pull request goes to Bitbucket Server (``git_base_url``,
    ``git_project``); anything else -> GitHub or a local repository, as before."""
    git_base_url: str | None = None
    git_project: str | None = None
    git_token: str | None = field(default=None, repr=False, compare=False)
    """The task's own token (decrypted), used instead of the server's; never shown."""
    git_token_encrypted: str | None = field(default=None, repr=False, compare=False)
    """The task's stored token (Fernet ciphertext), decrypted right before it is used."""

    @property
    def format(self) -> str:
        """The prompt format (``text`` unless ``json`` or ``yaml``)."""
        return self.prompt_format if self.prompt_format in PROMPT_FORMATS else "text"

    @property
    def file_path(self) -> str:
        """Where the prompt goes in the repository."""
        if self.prompt_file:
            return self.prompt_file
        if self.prompt_path:
            return self.prompt_path
        return f"prompts/{_slug(self.task_name)}.{PROMPT_FORMATS[self.format]}"

    @property
    def branch(self) -> str:
        """The new branch (unique per job)."""
        suffix = f"-{self.job_id[:8]}" if self.job_id else ""
        return f"kaizen/{_slug(self.task_name)}-v{self.version_number}{suffix}"

    @property
    def title(self) -> str:
        return f"Kaizen: optimized prompt v{self.version_number} for {self.task_name}"

    @property
    def commit_message(self) -> str:
        return f"{self.title}\n\nOptimizer: {self.optimizer or 'n/a'}; job {self.job_id or 'n/a'}."

    def file_content(self, old_content: str | None = None) -> str:
        """The new content of :attr:`file_path`; with :attr:`prompt_file`, ``old_content``
        (the file on the base branch) with only the prompt at :attr:`prompt_locator`
        replaced (:class:`PullRequestError` when the file or the locator is unusable)."""
        if self.prompt_file:
            if old_content is None:
                raise PullRequestError(
                    f"prompt_file {self.prompt_file!r} does not exist on the base branch: "
                    "the pull request edits the prompt in place"
                )
            try:
                fmt = detect_format(self.prompt_file)
                return replace_prompt(old_content, fmt, self.prompt_locator, self.prompt_text)
            except PromptLocationError as exc:
                raise PullRequestError(
                    f"cannot edit the prompt in {self.prompt_file!r} "
                    f"(prompt_locator {self.prompt_locator!r}): {exc}"
                ) from exc
        fields = {
            "task": self.task_name,
            "version": self.version_number,
            "eval_score": self.eval_score,
            "optimizer": self.optimizer,
        }
        return render_prompt_file(self.prompt_text, self.format, fields)

    def diff(self, old_content: str | None) -> str:
        """Unified diff of :attr:`file_path` from ``old_content`` (None: a new file).

        Example:
            >>> spec = PullRequestSpec(repo="r", task_name="t", version_number=2, prompt_text="B")
            >>> print(spec.diff("A\\n"), end="")
            --- a/prompts/t.txt
            +++ b/prompts/t.txt
            @@ -1 +1 @@
            -A
            +B
        """
        return "".join(
            difflib.unified_diff(
                (old_content or "").splitlines(keepends=True),
                self.file_content(old_content).splitlines(keepends=True),
                fromfile=f"a/{self.file_path}" if old_content is not None else "/dev/null",
                tofile=f"b/{self.file_path}",
            )
        )

    def body(self, old_content: str | None) -> str:
        """The PR description: score comparison, then the diff against the base branch."""
        diff = self.diff(old_content)
        if self.eval_score is not None and self.baseline_score is not None:
            change = f"{self.eval_score - self.baseline_score:+.3f}"
        else:
            change = "n/a"
        return "\n".join(
            [
                f"Kaizen optimized the prompt of task **{self.task_name}** from rated feedback.",
                "",
                "| | score on held-out feedback |",
                "| --- | --- |",
                f"| active prompt (baseline) | {_score(self.baseline_score)} |",
                f"| this version (v{self.version_number}) | {_score(self.eval_score)} |",
                f"| change | {change} |",
                "",
                f"Optimizer: {self.optimizer or 'n/a'}. Job: `{self.job_id or 'n/a'}`.",
                "",
                "```diff",
                diff.rstrip("\n") or "(no change)",
                "```",
                "",
            ]
        )
