"""Rollout decision benchmark (issue 16): thousands of simulated rollouts with known true
rating rates, decided by :mod:`kaizen_server.rollouts.decision` after every rating.

``python -m bench.run --only rollout`` (``--smoke`` for tiny sizes). Each simulated rollout is
a stream of ratings: each goes to the candidate with probability 0.2 (else to the baseline)
and is a thumbs up with its arm's true rate. The sequential test (the default
:class:`~kaizen_server.rollouts.decision.RolloutPolicy`: alpha 0.05, mixing sd 0.05, 100
ratings per arm first) looks after **every** rating and stops at the first decision; the
maximum duration is the scenario's maximum number of ratings (reaching it rolls back). On the
same simulated data, in the same run:

- the **fixed-horizon** baseline: one two-proportion z-test (pooled, two-sided, alpha 0.05) at
  the maximum number of ratings, the sample size a fixed design would have used;
- the **naive peeking** baseline: that z-test looked at after every rating (and every 100
  ratings) from 100 ratings per arm, stopping at the first |z| >= 1.96, which is what "watch
  the dashboard and stop when it is significant" does.

The statistic is vectorised with numpy (installed with the server extra: dspy -> optuna ->
numpy) over a chunk of rollouts at once; the decision module itself is pure Python. To show
the vectorised copy is the module, each scenario replays rollouts through
:func:`~kaizen_server.rollouts.decision.decide` (at the stopping look and the look before, and
at every look for a few) and counts the agreements; a disagreement fails the run.

Example:
    >>> results = rollout_results(SMOKE_SIZES)  # doctest: +SKIP
    >>> write_rollout_table(results, {}, Path("/tmp/r"), ["bench"])  # doctest: +SKIP
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kaizen_server.rollouts import (
    ArmCounts,
    RolloutAction,
    RolloutEvidence,
    RolloutPolicy,
    decide,
)

__all__ = [
    "FULL_SIZES",
    "SCENARIOS",
    "SMOKE_SIZES",
    "RolloutSizes",
    "Scenario",
    "ScenarioResult",
    "rollout_results",
    "write_rollout_table",
]

CANDIDATE_SHARE = 0.2
NAIVE_EVERY = 100  # the coarser naive-peeking schedule, in ratings
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RolloutPolicy()  # the default policy, as a task without settings would get it

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Scenario:
    """True thumbs-up rates of both arms and the rollout's maximum number of ratings."""

    name: str
    baseline_rate: float
    candidate_rate: float
    max_ratings: int

    @property
    def equal(self) -> bool:
        return self.baseline_rate == self.candidate_rate


@dataclass(frozen=True)
class RolloutSizes:
    rollouts: int  # per scenario
    chunk: int  # rollouts simulated at once (memory: ~40 bytes x chunk x max_ratings per array)
    replayed: int  # rollouts per scenario replayed through decide() at the stop and before it
    replayed_fully: int  # of those, replayed at every look
    seed: int = 20260116


FULL_SIZES = RolloutSizes(rollouts=4000, chunk=250, replayed=250, replayed_fully=3)
SMOKE_SIZES = RolloutSizes(rollouts=200, chunk=100, replayed=20, replayed_fully=1)

SCENARIOS = (
    Scenario("equal", 0.60, 0.60, 10_000),
    Scenario("better", 0.60, 0.66, 10_000),
    Scenario("worse", 0.60, 0.54, 10_000),
    Scenario("equal, shorter", 0.60, 0.60, 4_000),
    Scenario("better, shorter", 0.60, 0.66, 4_000),
    Scenario("equal, near 100 %", 0.95, 0.95, 10_000),
)


@dataclass(frozen=True)
class ScenarioResult:
    """What each method decided over the scenario's rollouts (fractions of them), and the
    ratings the sequential test used."""

    scenario: Scenario
    rollouts: int
    promoted: float
    rolled_back_on_loss: float
    reached_max: float
    median_ratings: float  # ratings when the rollout stopped (max_ratings if never decided)
    median_ratings_promoted: float | None
    fixed_promoted: float
    fixed_rolled_back: float
    naive_promoted: float  # z-test after every rating
    naive_rolled_back: float
    naive_coarse_promoted: float  # z-test every NAIVE_EVERY ratings
    replay_checked: int
    replay_agreed: int
    seconds: float


@dataclass
class _Stops:
    """Per rollout of a chunk: the look (1-based rating count) of the first decision and its
    sign (+1 promote, -1 roll back on loss, 0 none by max_ratings)."""

    look: Ints
    sign: Ints


def _streams(
    rng: np.random.Generator, scenario: Scenario, rollouts: int
) -> tuple[Ints, Ints, Ints, Ints]:
    """Cumulative ratings and successes per arm after each rating, shape (rollouts, looks)."""
    shape = (rollouts, scenario.max_ratings)
    to_candidate = rng.random(shape) < CANDIDATE_SHARE
    rate = np.where(to_candidate, scenario.candidate_rate, scenario.baseline_rate)
    success = rng.random(shape) < rate
    n_c = np.cumsum(to_candidate, axis=1, dtype=np.int64)
    n_b = np.arange(1, scenario.max_ratings + 1, dtype=np.int64)[None, :] - n_c
    s_c = np.cumsum(success & to_candidate, axis=1, dtype=np.int64)
    s_b = np.cumsum(success & ~to_candidate, axis=1, dtype=np.int64)
    return n_b, s_b, n_c, s_c


def _first(crossed: Bools, direction: Floats) -> _Stops:
    """The first crossed look of each row and the sign of ``direction`` there."""
    rows = np.arange(crossed.shape[0])
    any_crossed = crossed.any(axis=1)
    index = np.where(any_crossed, crossed.argmax(axis=1), crossed.shape[1] - 1)
    sign = np.where(any_crossed, np.sign(direction[rows, index]), 0).astype(np.int64)
    return _Stops(look=index + 1, sign=sign)


def _sequential(
    n_b: Ints, s_b: Ints, n_c: Ints, s_c: Ints, policy: RolloutPolicy
) -> tuple[_Stops, Floats]:
    """The mixture SPRT of ``decision.mixture_sprt``, at every look at once (same formula)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        nb, nc = np.maximum(n_b, 1).astype(np.float64), np.maximum(n_c, 1).astype(np.float64)
        difference = s_c / nc - s_b / nb
        q_b, q_c = (s_b + 0.5) / (n_b + 1), (s_c + 0.5) / (n_c + 1)
        unpooled = q_b * (1 - q_b) / nb + q_c * (1 - q_c) / nc
        del q_b, q_c
        q = (s_b + s_c + 0.5) / (n_b + n_c + 1)
        variance = np.maximum(unpooled, q * (1 - q) * (1 / nb + 1 / nc))
        del unpooled, q
        tau2 = policy.mixing_sd**2
        log_lr = 0.5 * np.log(variance / (variance + tau2)) + tau2 * difference**2 / (
            2 * variance * (variance + tau2)
        )
    enough = (n_b >= policy.min_ratings_per_arm) & (n_c >= policy.min_ratings_per_arm)
    crossed = enough & (log_lr >= math.log(1 / policy.alpha))
    if not policy.roll_back_on_loss:
        crossed &= difference > 0
    return _first(crossed, difference), difference


def _z_scores(n_b: Ints, s_b: Ints, n_c: Ints, s_c: Ints) -> Floats:
    """The pooled two-proportion z statistic (candidate minus baseline); 0 where undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (s_b + s_c) / (n_b + n_c)
        z = (s_c / n_c - s_b / n_b) / np.sqrt(pooled * (1 - pooled) * (1 / n_b + 1 / n_c))
    finite: Floats = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
    return finite


def _decide_at(
    n_b: Ints, s_b: Ints, n_c: Ints, s_c: Ints, row: int, look: int, scenario: Scenario
) -> RolloutAction:
    """``decide()`` on one rollout after ``look`` ratings, the policy's maximum duration
    standing for ``scenario.max_ratings`` ratings (time advances evenly per rating)."""
    column = look - 1
    evidence = RolloutEvidence(
        baseline=ArmCounts(int(n_b[row, column]), int(s_b[row, column])),
        candidate=ArmCounts(int(n_c[row, column]), int(s_c[row, column])),
        started_at=STARTED,
    )
    now = STARTED + POLICY.max_duration * look / scenario.max_ratings
    return decide(evidence, POLICY, now=now).action


def _replay(
    arrays: tuple[Ints, Ints, Ints, Ints], stops: _Stops, scenario: Scenario, sizes: RolloutSizes
) -> tuple[int, int]:
    """(looks checked, looks where ``decide()`` agreed with the vectorised stop)."""
    expected = {1: RolloutAction.PROMOTE, -1: RolloutAction.ROLL_BACK, 0: RolloutAction.ROLL_BACK}
    checked = agreed = 0
    for row in range(min(sizes.replayed, len(stops.look))):
        stop = int(stops.look[row])
        looks = range(1, stop + 1) if row < sizes.replayed_fully else (stop - 1, stop)
        for look in looks:
            if look < 1:
                continue
            want = expected[int(stops.sign[row])] if look == stop else RolloutAction.CONTINUE
            checked += 1
            agreed += _decide_at(*arrays, row, look, scenario) is want
    return checked, agreed


def simulate(scenario: Scenario, sizes: RolloutSizes, stream: int = 0) -> ScenarioResult:
    """Run ``sizes.rollouts`` rollouts of ``scenario`` (random stream ``stream`` of
    ``sizes.seed``) and tally every method's decisions."""
    started = time.monotonic()
    policy = POLICY
    rng = np.random.default_rng([sizes.seed, stream])
    critical = statistics.NormalDist().inv_cdf(1 - policy.alpha / 2)
    looks, signs = [], []
    fixed, naive, coarse = [], [], []
    checked = agreed = 0
    for first in range(0, sizes.rollouts, sizes.chunk):
        count = min(sizes.chunk, sizes.rollouts - first)
        arrays = _streams(rng, scenario, count)
        stops, _ = _sequential(*arrays, policy)
        looks.append(stops.look)
        signs.append(stops.sign)
        z = _z_scores(*arrays)
        fixed.append(np.where(np.abs(z[:, -1]) >= critical, np.sign(z[:, -1]), 0))
        n_b, _, n_c, _ = arrays
        enough = (n_b >= policy.min_ratings_per_arm) & (n_c >= policy.min_ratings_per_arm)
        crossed = enough & (np.abs(z) >= critical)
        naive.append(_first(crossed, z).sign)
        every = crossed[:, NAIVE_EVERY - 1 :: NAIVE_EVERY]
        coarse.append(_first(every, z[:, NAIVE_EVERY - 1 :: NAIVE_EVERY]).sign)
        if first == 0:
            checked, agreed = _replay(arrays, stops, scenario, sizes)
        del arrays, z, crossed, every
    look, sign = np.concatenate(looks), np.concatenate(signs)
    fixed_sign, naive_sign = np.concatenate(fixed), np.concatenate(naive)
    coarse_sign = np.concatenate(coarse)
    promoted_looks = look[sign > 0]
    return ScenarioResult(
        scenario=scenario,
        rollouts=sizes.rollouts,
        promoted=float(np.mean(sign > 0)),
        rolled_back_on_loss=float(np.mean(sign < 0)),
        reached_max=float(np.mean(sign == 0)),
        median_ratings=float(np.median(look)),
        median_ratings_promoted=float(np.median(promoted_looks)) if promoted_looks.size else None,
        fixed_promoted=float(np.mean(fixed_sign > 0)),
        fixed_rolled_back=float(np.mean(fixed_sign < 0)),
        naive_promoted=float(np.mean(naive_sign > 0)),
        naive_rolled_back=float(np.mean(naive_sign < 0)),
        naive_coarse_promoted=float(np.mean(coarse_sign > 0)),
        replay_checked=checked,
        replay_agreed=agreed,
        seconds=time.monotonic() - started,
    )


def rollout_results(sizes: RolloutSizes) -> list[ScenarioResult]:
    """Every scenario of :data:`SCENARIOS`, in order."""
    return [simulate(scenario, sizes, index) for index, scenario in enumerate(SCENARIOS)]


def _wilson(share: float, n: int) -> tuple[float, float]:
    """The 95 % Wilson interval of a binomial proportion."""
    z = 1.959963984540054
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _pct(share: float) -> str:
    return f"{share * 100:.1f} %"


def _pct_ci(share: float, n: int) -> str:
    low, high = _wilson(share, n)
    return f"{_pct(share)} ({low * 100:.1f}-{high * 100:.1f})"


def _row(result: ScenarioResult) -> str:
    s = result.scenario
    n = result.rollouts
    if s.equal:
        what = "false promotion"
        kaizen = _pct_ci(result.promoted, n)
        fixed = _pct_ci(result.fixed_promoted, n)
        naive = f"{_pct_ci(result.naive_promoted, n)}; every {NAIVE_EVERY}: " + _pct(
            result.naive_coarse_promoted
        )
        target, met = "≤ 5 %", ("yes" if result.promoted <= 0.05 else "**NO**")
    elif s.candidate_rate > s.baseline_rate:
        what = "power (promoted)"
        kaizen = _pct_ci(result.promoted, n)
        fixed = _pct_ci(result.fixed_promoted, n)
        naive = _pct(result.naive_promoted)
        target, met = "report", "—"
    else:
        what = "power (rolled back on loss)"
        kaizen = _pct_ci(result.rolled_back_on_loss, n)
        fixed = _pct_ci(result.fixed_rolled_back, n)
        naive = _pct(result.naive_rolled_back)
        target, met = "report", "—"
    promoted = (
        "—" if result.median_ratings_promoted is None else f"{result.median_ratings_promoted:,.0f}"
    )
    ratio = result.median_ratings / s.max_ratings
    other = (
        f"promoted {_pct(result.promoted)}, rolled back on loss "
        f"{_pct(result.rolled_back_on_loss)}, reached the maximum {_pct(result.reached_max)}"
    )
    cells = [
        s.name,
        f"{s.baseline_rate:.2f} → {s.candidate_rate:.2f}",
        f"{s.max_ratings:,}",
        what,
        kaizen,
        fixed,
        naive,
        f"{result.median_ratings:,.0f} (promoted: {promoted}) vs {s.max_ratings:,}: {ratio:.2f}x",
        target,
        met,
        f"{other}; decide() replay {result.replay_agreed:,}/{result.replay_checked:,} looks "
        f"agree; {result.seconds:.1f} s",
    ]
    return "| " + " | ".join(cells) + " |"


def _summary(results: Sequence[ScenarioResult]) -> list[str]:
    """The table's figures in two sentences (computed, not written by hand)."""
    equal = [r for r in results if r.scenario.equal]
    better = [r for r in results if r.scenario.candidate_rate > r.scenario.baseline_rate]
    lines = []
    if equal:
        lines.append(
            "Equal versions: the sequential test, looked at after every rating, promoted in at "
            f"most {_pct(max(r.promoted for r in equal))} of rollouts (any wrong decision, "
            "promotion or roll-back: at most "
            f"{_pct(max(r.promoted + r.rolled_back_on_loss for r in equal))}); peeking at the "
            "fixed-horizon z-test as often promoted in "
            f"{_pct(min(r.naive_promoted for r in equal))}-"
            f"{_pct(max(r.naive_promoted for r in equal))} (its nominal one-sided rate is "
            f"{_pct(POLICY.alpha / 2)}), which is why a rollout cannot just watch a z-test."
        )
    for r in better:
        lines.append(
            f"{r.scenario.baseline_rate:.2f} vs {r.scenario.candidate_rate:.2f} with at most "
            f"{r.scenario.max_ratings:,} ratings: the sequential test promoted "
            f"{_pct(r.promoted)} of rollouts after a median {r.median_ratings:,.0f} ratings "
            f"({r.median_ratings / r.scenario.max_ratings:.2f}x the fixed design's "
            f"{r.scenario.max_ratings:,}); the fixed-horizon test at "
            f"{r.scenario.max_ratings:,} ratings promoted {_pct(r.fixed_promoted)}."
        )
    return [line for text in lines for line in (text, "")]


def write_rollout_table(
    results: Sequence[ScenarioResult],
    machine: dict[str, str],
    out: Path,
    command: Sequence[str],
) -> Path:
    """``out/rollout.md``: one row per scenario, the machine and the command."""
    policy = POLICY
    rollouts = results[0].rollouts if results else 0
    lines = [
        "# Rollout decision: always-valid sequential test vs fixed-horizon z-test",
        "",
        f"{rollouts:,} simulated rollouts per scenario, {CANDIDATE_SHARE * 100:.0f} % of ratings "
        "to the "
        "candidate, known true thumbs-up rates. Kaizen: `kaizen_server.rollouts.decide` with "
        f"the default policy (mixture SPRT, alpha {policy.alpha:g}, mixing sd "
        f"{policy.mixing_sd:g}, {policy.min_ratings_per_arm} ratings per arm first), looked at "
        "after **every** rating, stopping at its first decision; the maximum duration is the "
        "scenario's maximum ratings (reaching it rolls back). Baselines on the same simulated "
        "ratings: the fixed-horizon pooled two-proportion z-test (two-sided, alpha 0.05) at the "
        "maximum ratings, and the same z-test peeked at after every rating from "
        f"{policy.min_ratings_per_arm} ratings per arm (stop at the first |z| ≥ 1.96). "
        "Rates with their 95 % Wilson interval over the rollouts.",
        "",
        "| scenario | true rates (baseline → candidate) | max ratings | figure | Kaizen "
        "(sequential) | fixed-horizon z-test (same data) | naive peeking z-test | median "
        "ratings to stop, Kaizen vs fixed | target | met? | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_row(result) for result in results),
        "",
        *_summary(results),
        "Machine: " + "; ".join(f"{key}: {value}" for key, value in machine.items()),
        "",
        "Command: `" + " ".join(command) + "`",
    ]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "rollout.md"
    path.write_text("\n".join(lines) + "\n")
    return path
