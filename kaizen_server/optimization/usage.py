"""Count the LLM calls, tokens and cost a run really makes, across DSPy's worker threads.

:class:`UsageTracker` has the interface DSPy calls on ``settings.usage_tracker`` for every LM
call that was not answered from the cache (``add_usage(model, usage)``), guarded by a lock, and
it stays one shared object when DSPy copies settings into its worker threads.

Example:
    >>> tracker = UsageTracker()
    >>> tracker.add_usage("openai/gpt-4o-mini", {"prompt_tokens": 1000, "completion_tokens": 10})
    >>> summary = tracker.summary()
    >>> summary.calls, summary.prompt_tokens, summary.cost_usd > 0
    (1, 1000, True)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kaizen_server.optimization.pricing import ModelPrice, price_for

__all__ = ["ModelUsage", "UsageSummary", "UsageTracker"]


@dataclass
class ModelUsage:
    """Calls and tokens of one model."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class UsageSummary:
    """Totals of a run, and per model."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    by_model: Mapping[str, ModelUsage] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        """JSON-ready form for ``job_metadata``."""
        return {
            "actual_llm_calls": self.calls,
            "actual_prompt_tokens": self.prompt_tokens,
            "actual_completion_tokens": self.completion_tokens,
            "actual_cost_usd": self.cost_usd,
            "actual_calls_by_model": {name: usage.calls for name, usage in self.by_model.items()},
        }


def _token_count(usage: Mapping[str, Any], *names: str) -> int:
    for name in names:
        value = usage.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 0


class UsageTracker:
    """Thread-safe per-model usage counter; install with ``dspy.context(usage_tracker=...)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_model: dict[str, ModelUsage] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> UsageTracker:
        # DSPy's ParallelExecutor deep-copies the tracker into every worker thread, which would
        # lose the workers' calls; all threads must share this one (it is lock-protected).
        return self

    def add_usage(self, lm: str, usage_entry: Mapping[str, Any] | None) -> None:
        """Record one LM call of model ``lm`` (DSPy's tracker interface)."""
        usage = usage_entry or {}
        prompt = _token_count(usage, "prompt_tokens", "input_tokens")
        completion = _token_count(usage, "completion_tokens", "output_tokens")
        with self._lock:
            entry = self._by_model.setdefault(lm, ModelUsage())
            entry.calls += 1
            entry.prompt_tokens += prompt
            entry.completion_tokens += completion

    def get_total_tokens(self) -> dict[str, dict[str, int]]:
        """Per-model token totals (the shape DSPy's own tracker reports)."""
        with self._lock:
            return {
                name: {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                }
                for name, usage in self._by_model.items()
            }

    def summary(self, prices: Mapping[str, ModelPrice] | None = None) -> UsageSummary:
        """Totals priced with the price table (``prices`` overrides the defaults)."""
        with self._lock:
            snapshot = {
                name: ModelUsage(usage.calls, usage.prompt_tokens, usage.completion_tokens)
                for name, usage in self._by_model.items()
            }
        cost = sum(
            price_for(name, prices).cost(usage.prompt_tokens, usage.completion_tokens)
            for name, usage in snapshot.items()
        )
        return UsageSummary(
            calls=sum(usage.calls for usage in snapshot.values()),
            prompt_tokens=sum(usage.prompt_tokens for usage in snapshot.values()),
            completion_tokens=sum(usage.completion_tokens for usage in snapshot.values()),
            cost_usd=round(cost, 6),
            by_model=snapshot,
        )
