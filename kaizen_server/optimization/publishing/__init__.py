"""Pull requests of optimized prompts: to a local git repository or to GitHub, or previewed.

Example:
    >>> from kaizen_server.optimization.publishing import PullRequestSpec
    >>> PullRequestSpec(repo="acme/prompts", task_name="t", version_number=2,
    ...                 prompt_text="Hi").file_path
    'prompts/t.txt'
"""

from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.preview import preview_differences, preview_pull_request
from kaizen_server.optimization.publishing.publisher import open_pull_request, read_base_file
from kaizen_server.optimization.publishing.spec import BaseFile, PullRequestSpec

__all__ = [
    "BaseFile",
    "PullRequestError",
    "PullRequestSpec",
    "open_pull_request",
    "preview_differences",
    "preview_pull_request",
    "read_base_file",
]
