"""The error of a failed pull request (its message becomes the job's ``error_message``).

Example:
    >>> str(PullRequestError("git push was refused"))
    'git push was refused'
"""

from __future__ import annotations

__all__ = ["PullRequestError"]


class PullRequestError(Exception):
    """Writing the branch, pushing it or opening the pull request failed."""
