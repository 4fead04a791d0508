"""What every operation needs besides I/O: settings, retry policy, clock and randomness.

A ``ClientCore`` holds no connection and no cache; the clients own those. Tests may build one
with a fake clock to drive retries and deadlines deterministically.

Example:
    >>> from kaizen_sdk.config import resolve_config
    >>> core = ClientCore.from_config(resolve_config(api_key="sk-test"))
    >>> core.url("/api/v1/tasks")
    'http://localhost:8000/api/v1/tasks'
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from kaizen_sdk.config import ClientConfig
from kaizen_sdk.retry import RetryPolicy

__all__ = ["USER_AGENT", "ClientCore"]

USER_AGENT = "kaizen-sdk/0.1"


@dataclass(frozen=True, slots=True)
class ClientCore:
    """Settings and policies shared by both clients; free of I/O."""

    config: ClientConfig
    retry: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    uniform: Callable[[float, float], float] = field(default=random.uniform)

    @classmethod
    def from_config(cls, config: ClientConfig) -> ClientCore:
        return cls(config=config, retry=RetryPolicy(max_retries=config.max_retries))

    def url(self, path: str) -> str:
        """Absolute URL of an API path."""
        return self.config.base_url + path

    def headers(self) -> dict[str, str]:
        """Headers sent with every request."""
        return {
            "X-API-Key": self.config.api_key,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }

    def with_limits(self, *, deadline: float | None, max_retries: int | None) -> ClientCore:
        """A copy with another overall deadline and/or retry count."""
        config = replace(
            self.config,
            deadline=self.config.deadline if deadline is None else deadline,
            max_retries=self.config.max_retries if max_retries is None else max_retries,
        )
        return replace(
            self, config=config, retry=replace(self.retry, max_retries=config.max_retries)
        )
