"""Row 2: requests/s of ``GET /summarize`` with the full plugin vs the same app without it.

The baseline is the app a careful user writes by hand: the same endpoint with one no-op
``async`` dependency (``depends``); the app with no dependency at all (``plain``) is measured
too, for the old ratio. All three run under uvicorn at once for the whole measurement, and the
load alternates between them in short windows, in ABBA order (depends, plugin, plain, plain,
plugin, depends, ...), so that each round's windows are back to back and a slow drift of the
machine hits all alike. The figures are medians of the per-round ratios. Where the machine
has two cores or more, the apps are pinned to one core and the load generator to another, so
the load generator never competes with the app it measures.

Example:
    >>> result = measure(ct, rounds=8, seconds=2.0, connections=32)  # doctest: +SKIP
    >>> round(result.ratio, 2)  # doctest: +SKIP
    0.97
"""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass

from bench.loadgen import LoadSpec, run_load
from bench.plugin_http import plugin_env
from bench.processes import AppProcess, app_process
from tests.support.ct_server import CTServerProcess

__all__ = ["Overhead", "measure"]

_APP_CPU, _LOAD_CPU = 0, 1


@dataclass(frozen=True)
class Overhead:
    plugin_rps: list[float]  # per round
    depends_rps: list[float]  # per round, measured next to the plugin's window of that round
    plain_rps: list[float]  # per round, likewise
    connections: int
    seconds: float
    pinned: bool

    @property
    def ratios(self) -> list[float]:
        """Per round: plugin req/s / baseline (one no-op ``Depends``) req/s."""
        return [p / b for p, b in zip(self.plugin_rps, self.depends_rps, strict=True)]

    @property
    def ratio(self) -> float:
        """Median over rounds of plugin req/s / baseline req/s."""
        return statistics.median(self.ratios)

    @property
    def ratio_to_plain(self) -> float:
        """Median over rounds of plugin req/s / no-dependency app req/s (the old figure)."""
        return statistics.median(
            p / b for p, b in zip(self.plugin_rps, self.plain_rps, strict=True)
        )


def measure(ct: CTServerProcess, rounds: int, seconds: float, connections: int) -> Overhead:
    """Alternate ``rounds`` of ``seconds``-long load windows between the three apps."""
    with (
        app_process("plain", {}) as plain,
        app_process("depends", {}) as depends,
        app_process("plugin", plugin_env(ct.base_url, ct.api_key)) as plugin,
        _pinned(plain, depends, plugin) as pinned,
    ):
        for app in (plain, depends, plugin):  # warm all: imports, caches, connection set-up
            _rps(app, min(1.0, seconds), connections)
        plain_rps: list[float] = []
        depends_rps: list[float] = []
        plugin_rps: list[float] = []
        for index in range(rounds):
            order = [(depends, depends_rps), (plugin, plugin_rps), (plain, plain_rps)]
            for app, results in order if index % 2 == 0 else reversed(order):
                results.append(_rps(app, seconds, connections))
    return Overhead(plugin_rps, depends_rps, plain_rps, connections, seconds, pinned)


def _rps(app: AppProcess, seconds: float, connections: int) -> float:
    result = run_load(
        LoadSpec(
            url=app.base_url + "/summarize",
            seconds=seconds,
            connections=connections,
            warmup_seconds=min(0.5, seconds / 4),
        )
    )
    if result.requests == 0 or result.count("2") != result.requests:
        raise RuntimeError(
            f"{app.base_url}/summarize: not every response was 2xx: "
            f"{result.statuses}, {result.transport_errors} transport errors"
        )
    return result.requests_per_second


@contextlib.contextmanager
def _pinned(*apps: AppProcess) -> Iterator[bool]:
    """Apps on one core, this process (hence the load generators it starts) on another."""
    cpus = os.sched_getaffinity(0)
    if not {_APP_CPU, _LOAD_CPU} <= cpus:
        yield False
        return
    for app in apps:
        os.sched_setaffinity(app.pid, {_APP_CPU})
    os.sched_setaffinity(0, {_LOAD_CPU})
    try:
        yield True
    finally:
        os.sched_setaffinity(0, cpus)
