"""The rollout decision rule (kaizen_server.rollouts.decision): the mixture SPRT's figures,
its monotonic behaviour, the guardrails' precedence, edge cases and bad policy values.

Pure functions, no server: the whole file runs in well under a second.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kaizen_server.rollouts import (
    ArmCounts,
    DecisionRule,
    RolloutAction,
    RolloutEvidence,
    RolloutPolicy,
    SequentialTest,
    decide,
    is_success,
    mixture_sprt,
)

STARTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SOON = STARTED + timedelta(hours=6)
POLICY = RolloutPolicy()


def evidence(
    baseline: tuple[int, int], candidate: tuple[int, int], **health: Any
) -> RolloutEvidence:
    return RolloutEvidence(ArmCounts(*baseline), ArmCounts(*candidate), STARTED, **health)


def sprt(
    baseline: tuple[int, int], candidate: tuple[int, int], alpha: float = 0.05
) -> SequentialTest:
    return mixture_sprt(ArmCounts(*baseline), ArmCounts(*candidate), alpha=alpha, mixing_sd=0.05)


# --- the statistic ----------------------------------------------------------------------------


def test_closed_form_equals_the_normal_mixture_integral() -> None:
    """Lambda = integral of N(d; theta, V) / N(d; 0, V) over theta ~ N(0, tau^2), numerically."""
    result = sprt((4000, 2400), (1000, 640))
    assert result.difference is not None
    assert result.variance is not None
    d, v, tau = result.difference, result.variance, 0.05
    step, total = 1e-4, 0.0
    for i in range(-8000, 8001):  # theta over +/- 16 tau
        theta = i * step
        prior = math.exp(-(theta**2) / (2 * tau**2)) / math.sqrt(2 * math.pi * tau**2)
        total += math.exp((2 * d * theta - theta**2) / (2 * v)) * prior * step
    assert result.log_likelihood_ratio == pytest.approx(math.log(total), rel=1e-6)
    assert result.p_value == pytest.approx(1 / total, rel=1e-5)


def test_interval_bounds_are_where_the_shifted_test_reaches_one_over_alpha() -> None:
    result = sprt((4000, 2400), (1000, 640))
    assert result.difference is not None
    assert result.variance is not None
    d, v, tau2 = result.difference, result.variance, 0.05**2
    for bound in result.interval:
        shifted = 0.5 * math.log(v / (v + tau2)) + tau2 * (d - bound) ** 2 / (2 * v * (v + tau2))
        assert shifted == pytest.approx(math.log(1 / 0.05), rel=1e-9)


def test_significant_exactly_when_p_value_reaches_alpha() -> None:
    for candidate_successes in range(0, 201, 5):
        result = sprt((800, 480), (200, candidate_successes))
        assert result.significant == (result.p_value <= 0.05), candidate_successes
        assert result.difference is not None
        assert result.interval[0] <= result.difference <= result.interval[1]


def test_p_value_falls_and_interval_rises_as_the_candidate_wins_more() -> None:
    results = [sprt((2000, 1200), (500, s)) for s in range(300, 501, 10)]  # 60 % .. 100 %
    p_values = [r.p_value for r in results]
    lows = [r.interval[0] for r in results]
    assert p_values == sorted(p_values, reverse=True)
    assert lows == sorted(lows)
    assert p_values[0] == 1.0
    assert p_values[-1] < 1e-10


def test_more_ratings_at_the_same_rates_narrow_the_interval_and_lower_p() -> None:
    results = [sprt((4 * n, int(2.4 * n)), (n, int(0.66 * n))) for n in (100, 400, 1600, 6400)]
    widths = [r.interval[1] - r.interval[0] for r in results]
    assert widths == sorted(widths, reverse=True)
    assert [r.p_value for r in results] == sorted((r.p_value for r in results), reverse=True)


def test_swapping_arms_mirrors_the_result() -> None:
    forward, backward = sprt((900, 500), (300, 200)), sprt((300, 200), (900, 500))
    assert forward.difference is not None
    assert backward.difference == pytest.approx(-forward.difference)
    assert backward.interval[0] == pytest.approx(-forward.interval[1])
    assert backward.p_value == pytest.approx(forward.p_value)


def test_smaller_alpha_widens_the_interval() -> None:
    loose, strict = sprt((900, 500), (300, 200), alpha=0.1), sprt((900, 500), (300, 200), 0.01)
    assert strict.interval[0] < loose.interval[0]
    assert strict.interval[1] > loose.interval[1]
    assert strict.p_value == loose.p_value  # the p-value does not depend on alpha


# --- edge cases -------------------------------------------------------------------------------


def test_zero_ratings_gives_no_evidence() -> None:
    for baseline, candidate in (((0, 0), (0, 0)), ((500, 300), (0, 0)), ((0, 0), (500, 500))):
        result = sprt(baseline, candidate)
        assert (result.difference, result.p_value, result.interval) == (None, 1.0, (-1.0, 1.0))
    decision = decide(evidence((0, 0), (0, 0)), POLICY, now=STARTED)
    assert decision.action is RolloutAction.CONTINUE
    assert decision.rule is DecisionRule.NOT_ENOUGH_RATINGS
    assert decision.baseline_rate is None
    assert decision.candidate_rate is None


def test_all_successes_in_both_arms_is_no_difference() -> None:
    result = sprt((5000, 5000), (1000, 1000))
    assert result.difference == 0.0
    assert result.p_value == 1.0
    assert result.variance is not None
    assert result.variance > 0
    decision = decide(evidence((5000, 5000), (1000, 1000)), POLICY, now=SOON)
    assert decision.rule is DecisionRule.NO_CLEAR_DIFFERENCE


def test_all_successes_against_all_failures_is_decisive_both_ways() -> None:
    win = decide(evidence((400, 0), (100, 100)), POLICY, now=SOON)
    loss = decide(evidence((400, 400), (100, 0)), POLICY, now=SOON)
    assert win.action is RolloutAction.PROMOTE
    assert win.interval[1] == 1.0
    assert loss.action is RolloutAction.ROLL_BACK
    assert loss.interval[0] == -1.0


def test_huge_counts_do_not_overflow() -> None:
    n = 10**12
    tiny_win = decide(evidence((4 * n, int(2.4 * n)), (n, int(0.6001 * n))), POLICY, now=SOON)
    assert tiny_win.action is RolloutAction.PROMOTE
    assert tiny_win.p_value == 0.0
    assert 0 < tiny_win.interval[0] < 1e-4 < tiny_win.interval[1] < 2e-4
    equal = decide(evidence((4 * n, int(2.4 * n)), (n, int(0.6 * n))), POLICY, now=SOON)
    assert equal.action is RolloutAction.CONTINUE
    assert equal.p_value == 1.0
    assert equal.interval[1] - equal.interval[0] < 1e-5


# --- the decision rule ------------------------------------------------------------------------


def test_clear_win_promotes_and_clear_loss_rolls_back() -> None:
    win = decide(evidence((4000, 2400), (1000, 680)), POLICY, now=SOON)
    assert (win.action, win.rule) == (RolloutAction.PROMOTE, DecisionRule.CANDIDATE_BETTER)
    assert win.interval[0] > 0
    assert win.p_value <= 0.05
    assert win.baseline_rate == 0.6
    assert win.candidate_rate == 0.68
    assert "better" in win.reason
    assert "p = " in win.reason
    loss = decide(evidence((4000, 2400), (1000, 520)), POLICY, now=SOON)
    assert (loss.action, loss.rule) == (RolloutAction.ROLL_BACK, DecisionRule.CANDIDATE_WORSE)
    assert loss.interval[1] < 0


def test_a_loss_without_roll_back_on_loss_runs_until_the_maximum_duration() -> None:
    keep = RolloutPolicy(roll_back_on_loss=False)
    losing = evidence((4000, 2400), (1000, 520))
    during = decide(losing, keep, now=SOON)
    assert (during.action, during.rule) == (RolloutAction.CONTINUE, DecisionRule.CANDIDATE_WORSE)
    after = decide(losing, keep, now=STARTED + keep.max_duration)
    assert (after.action, after.rule) == (RolloutAction.ROLL_BACK, DecisionRule.MAX_DURATION)
    assert "worse" in after.reason
    assert "the active version stays" in after.reason


def test_minimum_ratings_per_arm_holds_back_a_decision() -> None:
    # 100 % vs 0 % is decisive by the test, but the candidate has 20 ratings, 100 needed.
    early = evidence((400, 0), (20, 20))
    assert sprt((400, 0), (20, 20)).significant
    decision = decide(early, POLICY, now=SOON)
    assert (decision.action, decision.rule) == (
        RolloutAction.CONTINUE,
        DecisionRule.NOT_ENOUGH_RATINGS,
    )
    assert decide(early, RolloutPolicy(min_ratings_per_arm=20), now=SOON).action is (
        RolloutAction.PROMOTE
    )


def test_maximum_duration_without_evidence_rolls_back() -> None:
    flat = evidence((4000, 2400), (1000, 600))
    just_before = STARTED + POLICY.max_duration - timedelta(seconds=1)
    assert decide(flat, POLICY, now=just_before).action is RolloutAction.CONTINUE
    decision = decide(flat, POLICY, now=STARTED + POLICY.max_duration)
    assert (decision.action, decision.rule) == (RolloutAction.ROLL_BACK, DecisionRule.MAX_DURATION)
    assert "no clear win" in decision.reason
    assert decision.elapsed == POLICY.max_duration
    sparse = decide(evidence((40, 24), (10, 6)), POLICY, now=STARTED + timedelta(days=30))
    assert sparse.rule is DecisionRule.MAX_DURATION
    assert "fewer than 100" in sparse.reason


def test_a_clear_win_at_the_maximum_duration_still_promotes() -> None:
    decision = decide(evidence((4000, 2400), (1000, 680)), POLICY, now=STARTED + timedelta(days=99))
    assert decision.action is RolloutAction.PROMOTE


def test_error_rate_guardrail_overrides_a_clear_win() -> None:
    winning = {"baseline": (4000, 2400), "candidate": (1000, 700)}
    broken = evidence(**winning, candidate_requests=1000, candidate_errors=51)
    decision = decide(broken, POLICY, now=SOON)
    assert (decision.action, decision.rule) == (RolloutAction.ROLL_BACK, DecisionRule.ERROR_RATE)
    assert decision.candidate_error_rate == pytest.approx(0.051)
    assert "5.1 % (51 of 1000 requests)" in decision.reason
    at_limit = evidence(**winning, candidate_requests=1000, candidate_errors=50)
    assert decide(at_limit, POLICY, now=SOON).action is RolloutAction.PROMOTE
    off = RolloutPolicy(max_candidate_error_rate=None)
    assert decide(broken, off, now=SOON).action is RolloutAction.PROMOTE


def test_the_error_limit_follows_a_failing_baseline_by_the_margin() -> None:
    winning = {"baseline": (4000, 2400), "candidate": (1000, 700)}
    flaky = {"baseline_requests": 1000, "baseline_errors": 200}  # the LLM fails 20 % of calls
    within = evidence(**winning, candidate_requests=1000, candidate_errors=240, **flaky)
    assert decide(within, POLICY, now=SOON).action is RolloutAction.PROMOTE
    beyond = evidence(**winning, candidate_requests=1000, candidate_errors=260, **flaky)
    decision = decide(beyond, POLICY, now=SOON)
    assert (decision.action, decision.rule) == (RolloutAction.ROLL_BACK, DecisionRule.ERROR_RATE)
    assert "above the 25.0 % guardrail" in decision.reason
    absolute = RolloutPolicy(error_rate_margin=None)  # the 5 % limit, whatever the baseline
    assert decide(within, absolute, now=SOON).rule is DecisionRule.ERROR_RATE


def test_guardrails_wait_for_enough_requests() -> None:
    first_failures = evidence((40, 24), (10, 6), candidate_requests=49, candidate_errors=49)
    assert decide(first_failures, POLICY, now=SOON).action is RolloutAction.CONTINUE
    fiftieth = evidence((40, 24), (10, 6), candidate_requests=50, candidate_errors=49)
    assert decide(fiftieth, POLICY, now=SOON).rule is DecisionRule.ERROR_RATE


def test_latency_guardrails_ratio_and_absolute() -> None:
    health = {"candidate_requests": 500, "baseline_latency_p95_ms": 800.0}
    slow = evidence((4000, 2400), (1000, 700), candidate_latency_p95_ms=1201.0, **health)
    decision = decide(slow, POLICY, now=SOON)
    assert (decision.action, decision.rule) == (RolloutAction.ROLL_BACK, DecisionRule.LATENCY)
    assert "1.50x" in decision.reason
    assert "800 ms" in decision.reason
    fine = evidence((4000, 2400), (1000, 700), candidate_latency_p95_ms=1200.0, **health)
    assert decide(fine, POLICY, now=SOON).action is RolloutAction.PROMOTE
    ceiling = RolloutPolicy(max_candidate_latency_p95_ms=1000.0)
    capped = decide(fine, ceiling, now=SOON)
    assert capped.rule is DecisionRule.LATENCY
    assert "1,000 ms guardrail" in capped.reason
    no_baseline = evidence(
        (4000, 2400), (1000, 700), candidate_requests=500, candidate_latency_p95_ms=9000.0
    )
    assert decide(no_baseline, POLICY, now=SOON).action is RolloutAction.PROMOTE


def test_a_higher_success_threshold_counts_fewer_thumbs_up() -> None:
    scores = [0.0, 0.3, 0.5, 0.7, 1.0]
    assert ArmCounts.from_scores(scores).successes == 3
    assert ArmCounts.from_scores(scores, threshold=0.7).successes == 2
    assert ArmCounts.from_scores([]) == ArmCounts(0, 0)
    assert is_success(0.5)
    assert not is_success(0.4999)


# --- bad values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("alpha", 0.0),
        ("alpha", 1.0),
        ("alpha", math.nan),
        ("alpha", "0.05"),
        ("alpha", True),
        ("mixing_sd", 0.0),
        ("mixing_sd", -0.1),
        ("mixing_sd", 2.0),
        ("mixing_sd", math.inf),
        ("min_ratings_per_arm", 0),
        ("min_ratings_per_arm", 10.5),
        ("min_ratings_per_arm", True),
        ("max_duration", timedelta(0)),
        ("max_duration", 3600),
        ("success_threshold", 1.5),
        ("success_threshold", -0.1),
        ("max_candidate_error_rate", 1.01),
        ("max_candidate_error_rate", math.nan),
        ("error_rate_margin", -0.1),
        ("max_latency_ratio", 0.0),
        ("max_candidate_latency_p95_ms", -5.0),
        ("min_requests_for_guardrails", 0),
        ("roll_back_on_loss", "yes"),
    ],
)
def test_bad_policy_values_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        RolloutPolicy(**{field: value})


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ArmCounts(-1, 0), "ratings"),
        (lambda: ArmCounts(10, -1), "successes"),
        (lambda: ArmCounts(10, 11), "successes"),
        (lambda: ArmCounts(10.0, 5), "ratings"),  # type: ignore[arg-type]
        (lambda: ArmCounts.from_scores([0.5, math.nan]), "score"),
        (lambda: ArmCounts.from_scores([0.5], threshold=2.0), "threshold"),
        (lambda: evidence((10, 5), (10, 5), candidate_requests=-1), "candidate_requests"),
        (lambda: evidence((10, 5), (10, 5), candidate_errors=1), "candidate_errors"),
        (lambda: evidence((10, 5), (10, 5), baseline_errors=1), "baseline_errors"),
        (lambda: evidence((10, 5), (10, 5), candidate_latency_p95_ms=0.0), "candidate_latency"),
        (lambda: evidence((10, 5), (10, 5), baseline_latency_p95_ms=math.inf), "baseline_latency"),
        (
            lambda: RolloutEvidence(ArmCounts(1, 1), ArmCounts(1, 1), datetime(2026, 1, 1)),
            "started_at",
        ),
        (lambda: RolloutEvidence((1, 1), ArmCounts(1, 1), STARTED), "baseline"),  # type: ignore[arg-type]
        (lambda: decide(evidence((1, 1), (1, 1)), POLICY, now=datetime(2026, 3, 2)), "now"),
        (lambda: decide(evidence((1, 1), (1, 1)), POLICY, now=STARTED - timedelta(1)), "now"),
    ],
)
def test_bad_evidence_names_the_field(make: Any, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}"):
        make()


def test_other_time_zones_compare_by_instant() -> None:
    later_elsewhere = (STARTED + POLICY.max_duration).astimezone(timezone(timedelta(hours=-7)))
    decision = decide(evidence((4000, 2400), (1000, 600)), POLICY, now=later_elsewhere)
    assert decision.rule is DecisionRule.MAX_DURATION
