"""What a pull request would contain, without opening it (``pr_preview`` tasks).

The prompt file is read from the base branch where the pull request would go, so the preview
shows the real diff; when it cannot be read (repository missing, no token) the preview is still
made, against an empty file, with a ``warning`` saying why.

Example:
    >>> from kaizen_server.optimization.settings import OptimizationSettings
    >>> spec = PullRequestSpec(repo="acme/app", task_name="t", version_number=2, prompt_text="Hi")
    >>> preview = preview_pull_request(spec, OptimizationSettings(), old_prompt=None)
    >>> preview.branch, preview.file_changes[0].new_content, preview.warning is not None
    ('kaizen/t-v2', 'Hi\\n', True)
"""

from __future__ import annotations

from kaizen_sdk.models import FileChange, PullRequestPreview
from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.publisher import read_base_file
from kaizen_server.optimization.publishing.spec import BaseFile, PullRequestSpec
from kaizen_server.optimization.settings import OptimizationSettings

__all__ = ["preview_differences", "preview_pull_request"]


def preview_pull_request(
    spec: PullRequestSpec, settings: OptimizationSettings | None, *, old_prompt: str | None
) -> PullRequestPreview:
    """The pull request ``spec`` would open, against its base branch as it is now."""
    warning = None
    try:
        base = read_base_file(spec, settings)
    except PullRequestError as exc:
        base = BaseFile(spec.base_branch or "", None)
        warning = (
            f"Could not read {spec.file_path} on the base branch ({exc}); the diff is against "
            "an empty file. Opening the pull request will likely fail the same way."
        )
    try:
        new_content, diff = spec.file_content(base.content), spec.diff(base.content)
        body = spec.body(base.content)
    except PullRequestError as exc:  # the prompt cannot be edited where the app keeps it
        new_content, diff = base.content or "", ""
        warning = body = f"{exc}. Opening the pull request will fail the same way."
    return PullRequestPreview(
        repo=spec.repo,
        base_branch=base.branch or None,
        branch=spec.branch,
        pr_title=spec.title,
        pr_body=body,
        file_path=spec.file_path,
        old_prompt=old_prompt,
        new_prompt=spec.prompt_text,
        version_number=spec.version_number,
        file_changes=[
            FileChange(path=spec.file_path, old_content=base.content, new_content=new_content)
        ],
        diff=diff,
        warning=warning,
    )


def preview_differences(preview: PullRequestPreview, spec: PullRequestSpec) -> list[str]:
    """What differs between a stored preview and the pull request ``spec`` would open now
    (empty when they agree): the repository, base branch, branch, file or its new text.

    Example:
        >>> spec = PullRequestSpec(repo="a/b", task_name="t", version_number=2, prompt_text="Hi")
        >>> from kaizen_server.optimization.settings import OptimizationSettings
        >>> preview = preview_pull_request(spec, OptimizationSettings(), old_prompt=None)
        >>> preview_differences(preview, spec)
        []
    """
    changes = []
    if preview.repo != spec.repo:
        changes.append(f"repository {preview.repo!r} -> {spec.repo!r}")
    if spec.base_branch is not None and preview.base_branch != spec.base_branch:
        changes.append(f"base branch {preview.base_branch!r} -> {spec.base_branch!r}")
    if preview.file_path != spec.file_path:
        changes.append(f"file {preview.file_path!r} -> {spec.file_path!r}")
    if preview.branch != spec.branch:
        changes.append(f"branch {preview.branch!r} -> {spec.branch!r}")
    proposed = [change.new_content for change in preview.file_changes]
    old = preview.file_changes[0].old_content if preview.file_changes else None
    try:
        current = spec.file_content(old)
    except PullRequestError as exc:
        return [str(exc)]
    if proposed and proposed[0] != current:
        changes.append(f"the new text of {spec.file_path!r}")
    return changes
