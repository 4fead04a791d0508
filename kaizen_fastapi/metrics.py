"""Counters of the plugin, readable in code and exported to Prometheus when available.

Read them with ``runtime.metrics_snapshot()`` (see :func:`kaizen_fastapi.get_kaizen_runtime`),
which merges the plugin's counters with the SDK prompt cache statistics. When
``prometheus-client`` is installed, the lifespan registers a collector exposing every counter
as ``kaizen_<name>_total``.

Example:
    >>> metrics = KaizenMetrics()
    >>> metrics.inc("feedback_queued", 2)
    >>> metrics.as_dict()["feedback_queued"]
    2
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["KaizenMetrics", "PrometheusExport"]

logger = logging.getLogger("kaizen_fastapi")


@dataclasses.dataclass(slots=True)
class KaizenMetrics:
    """Monotonic counters of one app's plugin runtime."""

    feedback_queued: int = 0
    feedback_sent: int = 0
    feedback_retried: int = 0
    feedback_dropped: int = 0
    traces_queued: int = 0
    traces_sent: int = 0
    traces_retried: int = 0
    traces_dropped: int = 0
    prompts_served: int = 0
    prompt_fallback_serves: int = 0
    prompt_unavailable: int = 0
    prompt_events_received: int = 0
    prompt_stream_reconnects: int = 0
    tokens_rejected: int = 0
    requests_rate_limited: int = 0

    def inc(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``."""
        setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return dataclasses.asdict(self)


class PrometheusExport:
    """Exposes a snapshot function as Prometheus counters while registered.

    Collected at scrape time, so nothing is double-counted and two apps in one process only
    need distinct ``namespace`` values (the second registration with the same names is skipped
    with a log line rather than crashing the app).
    """

    def __init__(
        self, snapshot: Callable[[], Mapping[str, int]], namespace: str = "kaizen"
    ) -> None:
        self._snapshot = snapshot
        self._namespace = namespace
        self._registry: Any = None

    def collect(self) -> Iterator[Any]:
        """Yield one counter family per counter (called by prometheus-client on scrape)."""
        from prometheus_client.core import CounterMetricFamily

        for name, value in self._snapshot().items():
            yield CounterMetricFamily(
                f"{self._namespace}_{name}", f"Kaizen plugin counter {name}.", value=value
            )

    def register(self, registry: Any = None) -> bool:
        """Register with ``registry`` (default: the global one); False if not possible."""
        try:
            from prometheus_client import REGISTRY
        except ImportError:
            return False
        target = registry if registry is not None else REGISTRY
        try:
            target.register(self)
        except ValueError as exc:  # the same names already exported by another app
            logger.info("Kaizen Prometheus counters not registered: %s", exc)
            return False
        self._registry = target
        return True

    def unregister(self) -> None:
        """Remove the collector again (at shutdown)."""
        if self._registry is not None:
            self._registry.unregister(self)
            self._registry = None
