"""Tracks whether the CT server is reachable and logs each transition once.

Every part of the plugin that talks to the CT server reports what happened; only changes of
state produce a log line (no secrets, no per-request noise).

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

__all__ = ["ConnectivityMonitor"]

logger = logging.getLogger("kaizen_fastapi")


class ConnectivityMonitor:
    """Remembers the last known reachability of the CT server."""

    def __init__(self, base_url: str = "") -> None:
        self._base_url = base_url
        self.reachable = True

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
