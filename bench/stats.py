"""Percentiles and latency summaries shared by every benchmark.

Example:
    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    >>> LatencySummary.of([1.0, 2.0, 3.0]).p50
    2.0
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LatencySummary", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) with linear interpolation (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class LatencySummary:
    """p50, p99 and max of a latency sample, in the sample's unit (ms everywhere here)."""

    count: int
    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> LatencySummary:
        return cls(
            count=len(values),
            p50=percentile(values, 0.5),
            p99=percentile(values, 0.99),
            max=max(values),
            mean=statistics.fmean(values),
        )

    def describe(self) -> str:
        return f"n={self.count} p50={self.p50:.2f} ms p99={self.p99:.2f} ms max={self.max:.2f} ms"
