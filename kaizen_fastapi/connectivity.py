"""Tracks whether the CT server is reachable and logs each transition once.

Every part of the plugin that talks to the CT server reports what happened; only changes of
state produce a log line (no secrets, no per-request noise). An answer that a retry cannot
change (the API key rejected, a task missing) is not "unreachable": it is logged once per
cause, by what it means, with the server's own words.

Example:
    >>> monitor = ConnectivityMonitor()
    >>> monitor.report_failure("feedback delivery", ConnectionError("refused"))
    >>> monitor.reachable
    False
    >>> monitor.report_success("prompt stream")
    >>> monitor.reachable
    True
"""

from __future__ import annotations

import logging

from kaizen_sdk.errors import CTAuthError, CTError

__all__ = ["ConnectivityMonitor"]

logger = logging.getLogger("kaizen_fastapi")


class ConnectivityMonitor:
    """Remembers the last known reachability of the CT server."""

    def __init__(self, base_url: str = "") -> None:
        self._base_url = base_url
        self.reachable = True
        self._explained: set[tuple[str, str]] = set()

    def report_rejection(self, operation: str, error: CTError, *, task: str = "") -> None:
        """The CT server answered, refusing for a reason a retry will not fix."""
        self.report_success(operation)
        if isinstance(error, CTAuthError):
            cause = ("api key", "")
            text = (
                "Kaizen: the CT server %s rejected the API key (HTTP %s: %s) during %s; "
                "set KAIZEN_API_KEY to a valid key"
            )
            args: tuple[object, ...] = (self._base_url, error.status_code, error.message, operation)
        else:
            cause = ("not found", task)
            text = "Kaizen: task %r not found on the CT server %s, or it has no active prompt (%s)"
            args = (task, self._base_url, error.message)
        if cause not in self._explained:
            self._explained.add(cause)
            logger.error(text, *args)

    def report_failure(self, operation: str, error: BaseException) -> None:
        """An operation could not reach the CT server."""
        if self.reachable:
            self.reachable = False
            logger.warning(
                "Kaizen CT server %s unreachable (%s: %s); serving cached/fallback prompts "
                "and queueing feedback",
                self._base_url,
                operation,
                type(error).__name__,
            )

    def report_success(self, operation: str) -> None:
        """An operation reached the CT server."""
        if not self.reachable:
            self.reachable = True
            logger.info("Kaizen CT server %s reachable again (%s)", self._base_url, operation)
