"""The verdict logic on synthetic summaries: one test per verdict class, and the edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fisherlab.verdicts import (
    Criterion,
    Estimate,
    RunValue,
    Verdict,
    compare_arms,
    judge,
    usable_runs,
    verdict,
)

# "FP beats the baseline by ≥ 1 point of test accuracy"
ONE_POINT = Criterion(direction="greater", smallest=1.0)


def _arms(fp: list[float], baseline: list[float], **status: str) -> dict[str, list[RunValue]]:
    def runs(arm: str, values: list[float]) -> list[RunValue]:
        return [
            RunValue(f"{arm} seed {i}", v, status.get(f"{arm}{i}", "finished"))
            for i, v in enumerate(values)
        ]

    return {"fp": runs("fp", fp), "baseline": runs("baseline", baseline)}


def _verdict(fp: list[float], baseline: list[float], c: Criterion = ONE_POINT) -> Verdict:
    return verdict(c, compare_arms(_arms(fp, baseline), n_boot=1000))


def test_a_strong_effect_is_reproduced():
    assert _verdict([55.1, 55.4, 54.9, 55.2], [51.0, 51.3, 50.8, 51.1]) == Verdict.REPRODUCED


def test_a_significant_opposite_effect_is_contradicted():
    assert _verdict([49.0, 49.3, 48.8, 49.1], [51.0, 51.3, 50.8, 51.1]) == Verdict.CONTRADICTED


def test_a_tight_null_is_not_shown():
    assert _verdict([51.1, 51.0, 51.2, 50.9], [51.0, 51.1, 50.9, 51.0]) == Verdict.NOT_SHOWN


def test_a_noisy_effect_is_inconclusive():
    assert _verdict([58.0, 49.0, 55.0, 47.0], [51.0, 56.0, 46.0, 50.0]) == Verdict.INCONCLUSIVE


def test_missing_evidence_is_not_run():
    assert judge(ONE_POINT, None).verdict == Verdict.NOT_RUN


def test_a_significant_effect_below_the_smallest_that_matters_is_not_shown():
    # +0.3 points, tightly measured: real, but smaller than the 1 point that matters
    assert _verdict([51.3, 51.35, 51.25, 51.3], [51.0, 51.05, 50.95, 51.0]) == Verdict.NOT_SHOWN


def test_direction_less_and_log_scale_ratios():
    # "the small learning rate's Tr(F) is ≥ 2× η*'s" and its mirror, "≤ 0.5×"
    big = Criterion(direction="greater", smallest=2.0, scale="log")
    small = Criterion(direction="less", smallest=2.0, scale="log")
    runs = {"a": 3}
    assert verdict(big, Estimate(3.0, 2.5, 3.6, runs)) == Verdict.REPRODUCED
    assert verdict(big, Estimate(1.5, 1.2, 1.8, runs)) == Verdict.NOT_SHOWN
    assert verdict(big, Estimate(0.5, 0.4, 0.6, runs)) == Verdict.CONTRADICTED
    assert verdict(small, Estimate(0.3, 0.25, 0.4, runs)) == Verdict.REPRODUCED
    assert verdict(small, Estimate(3.0, 2.5, 3.6, runs)) == Verdict.CONTRADICTED
    # a negative correlation claim
    neg = Criterion(direction="less", smallest=0.3)
    assert verdict(neg, Estimate(-0.7, -0.9, -0.4, runs)) == Verdict.REPRODUCED
    assert verdict(neg, Estimate(0.55, 0.25, 0.74, runs)) == Verdict.CONTRADICTED
    assert verdict(neg, Estimate(-0.1, -0.5, 0.3, runs)) == Verdict.INCONCLUSIVE


def test_equivalence_claims():
    eq = Criterion(direction="equal", smallest=1.0)
    runs = {"a": 3}
    assert verdict(eq, Estimate(0.2, -0.5, 0.8, runs)) == Verdict.REPRODUCED
    assert verdict(eq, Estimate(2.5, 1.5, 3.5, runs)) == Verdict.CONTRADICTED
    assert verdict(eq, Estimate(0.5, -0.5, 1.5, runs)) == Verdict.INCONCLUSIVE


def test_fewer_than_3_runs_per_arm_is_inconclusive_however_tight():
    j = judge(ONE_POINT, Estimate(5.0, 4.9, 5.1, {"fp": 2, "baseline": 3}))
    assert j.verdict == Verdict.INCONCLUSIVE and j.reason == "n < 3 runs (fp 2)"
    assert _verdict([55.1, 55.4], [51.0, 51.3]) == Verdict.INCONCLUSIVE
    # no finite CI (e.g. one setting): inconclusive, never a guess
    assert verdict(ONE_POINT, Estimate(5.0, math.nan, math.nan, {"a": 3})) == Verdict.INCONCLUSIVE


def test_a_diverged_or_non_finite_run_is_excluded_and_named():
    arms = _arms([55.1, 55.4, 54.9, 55.2], [51.0, 51.3, 50.8, 51.1], fp3="diverged")
    arms["baseline"][0] = RunValue("baseline seed 0", float("nan"))
    e = compare_arms(arms, n_boot=500)
    assert e.excluded == ("fp seed 3 (diverged)", "baseline seed 0 (non-finite value)")
    assert dict(e.runs) == {"fp": 3, "baseline": 3}
    assert e.effect == pytest.approx(np.mean([55.1, 55.4, 54.9]) - np.mean([51.3, 50.8, 51.1]))
    assert verdict(ONE_POINT, e) == Verdict.REPRODUCED


def test_exclusions_that_leave_fewer_than_3_runs_make_it_inconclusive():
    arms = _arms([55.1, 55.4, 54.9], [51.0, 51.3, 50.8], fp0="diverged")
    e = compare_arms(arms, n_boot=500)
    assert e.runs["fp"] == 2 and e.excluded == ("fp seed 0 (diverged)",)
    assert verdict(ONE_POINT, e) == Verdict.INCONCLUSIVE


def test_runs_sharing_a_phase_1_run_count_once():
    # notebook 06: 4 continuations each of ONE phase-1 run per start → 1 unit per arm
    arms = {
        arm: [RunValue(f"{arm} {i}", v + 0.01 * i, cluster="p0") for i in range(4)]
        for arm, v in (("low", 1.0), ("high", 2.0))
    }
    e = compare_arms(arms, n_boot=200)
    assert dict(e.runs) == {"low": 1, "high": 1}
    assert verdict(ONE_POINT, e) == Verdict.INCONCLUSIVE


def test_usable_runs_and_bad_criteria():
    kept, dropped = usable_runs([RunValue("a", 1.0), RunValue("b", math.inf, "finished")])
    assert [r.name for r in kept] == ["a"] and dropped == ["b (non-finite value)"]
    with pytest.raises(ValueError, match="direction='up'"):
        Criterion(direction="up", smallest=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="factor > 1"):
        Criterion(direction="greater", smallest=0.5, scale="log")
    with pytest.raises(ValueError, match="level"):
        judge(ONE_POINT, Estimate(1.0, 0.5, 1.5, {"a": 3}, level=0.9))
    with pytest.raises(ValueError, match="statistic='median'"):
        compare_arms(_arms([1.0], [2.0]), "median")
