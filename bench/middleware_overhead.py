"""Row 2: requests/s of ``GET /summarize`` with the full plugin vs the same app without it.

The baseline is the app a careful user writes by hand: the same endpoint with one no-op
``async`` dependency (``depends``); the app with no dependency at all (``plain``) is measured
too, for the old ratio. All three run under uvicorn at once for the whole measurement, and the
load alternates between them in short windows, in ABBA order (depends, plugin, plain, plain,
plugin, depends, ...), so that each round's windows are back to back and a slow drift of the
machine hits all alike. The figures are medians of the per-round ratios; their spread
(quartiles, range) and the load average before and after say how much to trust them: on a
shared 2-core machine one round's ratio can land anywhere from 0.6 to 1.4, so it takes many
short rounds for the median to settle. Where the machine has two cores or more, the apps are
pinned to one core and the load generator to another, so the load generator never competes
with the app it measures.

Example:
    >>> result = measure(ct, rounds=16, seconds=1.5, connections=32)  # doctest: +SKIP
    >>> round(result.ratio, 2), spread(result.ratios)  # doctest: +SKIP
    (0.97, 'quartiles 0.91-1.02, range 0.74-1.31')
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

__all__ = ["Overhead", "measure", "spread"]

_APP_CPU, _LOAD_CPU = 0, 1


@dataclass(frozen=True)
class Overhead:
    plugin_rps: list[float]  # per round
    depends_rps: list[float]  # per round, measured next to the plugin's window of that round
    plain_rps: list[float]  # per round, likewise
    connections: int
    seconds: float
    pinned: bool
    load_before: tuple[float, float, float]  # os.getloadavg() when the rounds started
    load_after: tuple[float, float, float]  # and when they ended

    @property
    def ratios(self) -> list[float]:
        """Per round: plugin req/s / baseline (one no-op ``Depends``) req/s."""
        return [p / b for p, b in zip(self.plugin_rps, self.depends_rps, strict=True)]

    @property
    def ratio(self) -> float:
        """Median over rounds of plugin req/s / baseline req/s."""
        return statistics.median(self.ratios)

    @property
    def ratios_to_plain(self) -> list[float]:
        """Per round: plugin req/s / no-dependency app req/s (the old figure)."""
        return [p / b for p, b in zip(self.plugin_rps, self.plain_rps, strict=True)]

    @property
    def ratio_to_plain(self) -> float:
        """Median over rounds of plugin req/s / no-dependency app req/s."""
        return statistics.median(self.ratios_to_plain)


def spread(ratios: list[float]) -> str:
    """Quartiles and range of per-round ratios, e.g. ``quartiles 0.91-1.02, range 0.74-1.31``.

    Example:
        >>> spread([0.8, 0.9, 1.0, 1.1, 1.2])
        'quartiles 0.90-1.10, range 0.80-1.20'
    """
    if len(ratios) < 2:
        return f"one round ({ratios[0]:.2f})" if ratios else "no rounds"
    low, _, high = statistics.quantiles(ratios, n=4, method="inclusive")
    return f"quartiles {low:.2f}-{high:.2f}, range {min(ratios):.2f}-{max(ratios):.2f}"


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
        load_before = os.getloadavg()
        for index in range(rounds):
            order = [(depends, depends_rps), (plugin, plugin_rps), (plain, plain_rps)]
            for app, results in order if index % 2 == 0 else reversed(order):
                results.append(_rps(app, seconds, connections))
        load_after = os.getloadavg()
    return Overhead(
        plugin_rps, depends_rps, plain_rps, connections, seconds, pinned, load_before, load_after
    )


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
