"""Errors of an optimization run; their messages are shown to users as the job's error_message.

Example:
    >>> str(NotEnoughFeedbackError("no usable feedback"))
    'no usable feedback'
"""

from __future__ import annotations

__all__ = ["LMUnavailableError", "NotEnoughFeedbackError", "OptimizationError"]


class OptimizationError(Exception):
    """An optimization run failed for a reason worth telling the user in plain words."""


class NotEnoughFeedbackError(OptimizationError):
    """The task's feedback holds no example the optimizer can learn from."""


class LMUnavailableError(OptimizationError):
    """A configured LM (teacher or judge) could not be reached or answered with an error."""
