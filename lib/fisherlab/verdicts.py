"""Verdicts on the paper's claims: a criterion fixed before the runs, judged on an effect's CI.

A claim's criterion (``params/claims.yaml``) gives the paper's direction, the smallest effect
that matters and the CI level; the evidence is an effect estimated over runs with its interval
(``fisherlab.stats``). ``judge`` is a pure function of the two:

- **reproduced**: the paper's direction, the CI excludes the null (0, or 1 for a ratio), and
  the effect is at least the smallest effect that matters;
- **contradicted**: the CI excludes the null on the opposite side;
- **not shown**: the CI excludes the smallest effect — a null result that had the power to see
  the effect (a significant effect below the smallest that matters is also "not shown");
- **inconclusive**: the CI is too wide to decide, or fewer than ``min_runs`` usable runs in an
  arm (default 3), or no finite CI;
- **not run**: no evidence.

An equivalence claim (``direction: equal``, e.g. Supplement C's "f = 1 ≈ f = 10") is
reproduced when the CI lies inside ±smallest and contradicted when it lies wholly outside.
Ratios (``scale: log``) are judged on the log scale: a smallest effect of 2 means ≥ 2× (or
≤ 0.5× for ``direction: less``). Runs that diverged or gave a non-finite value are dropped
before the estimate and named (``usable_runs``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, NamedTuple

from fisherlab import stats

__all__ = [
    "Criterion",
    "Estimate",
    "Judgement",
    "RunValue",
    "Verdict",
    "compare_arms",
    "judge",
    "usable_runs",
    "verdict",
]

DIRECTIONS = ("greater", "less", "equal")
SCALES = ("linear", "log")


class Verdict(StrEnum):
    REPRODUCED = "reproduced"
    CONTRADICTED = "contradicted"
    NOT_SHOWN = "not shown"
    INCONCLUSIVE = "inconclusive"
    NOT_RUN = "not run"


@dataclass(frozen=True)
class Criterion:
    """What would count as reproducing a claim, fixed before the runs.

    ``direction``: the paper's sign of the effect (``greater`` than the null, ``less``, or
    ``equal`` within ±smallest); ``smallest``: the smallest effect that matters, > 0, in the
    statistic's units (a factor > 1 when ``scale`` is ``log``); ``level``: of the CI.
    """

    direction: Literal["greater", "less", "equal"]
    smallest: float
    level: float = 0.95
    scale: Literal["linear", "log"] = "linear"
    min_runs: int = 3

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"direction={self.direction!r} is not valid; accepted values: {DIRECTIONS}"
            )
        if self.scale not in SCALES:
            raise ValueError(f"scale={self.scale!r} is not valid; accepted values: {SCALES}")
        if not self.smallest > (1 if self.scale == "log" else 0):
            bound = "a factor > 1 for scale 'log'" if self.scale == "log" else "> 0"
            raise ValueError(f"smallest={self.smallest!r} must be {bound}")
        if not 0 < self.level < 1:
            raise ValueError(f"level={self.level!r} must be in (0, 1)")


@dataclass(frozen=True)
class Estimate:
    """An effect over runs and its CI; ``runs``: usable runs per arm (or per setting);
    ``excluded``: the runs left out (diverged, non-finite), by name."""

    effect: float
    lo: float
    hi: float
    runs: Mapping[str, int]
    level: float = 0.95
    excluded: tuple[str, ...] = field(default=())


class Judgement(NamedTuple):
    verdict: Verdict
    reason: str


def _oriented(c: Criterion, e: Estimate) -> tuple[float, float, float, float]:
    """(effect, lo, hi, smallest) moved to a scale where the null is 0 and the paper's
    direction is positive."""
    f = math.log if c.scale == "log" else float
    effect, lo, hi, smallest = f(e.effect), f(e.lo), f(e.hi), f(c.smallest)
    if c.direction == "less":
        effect, lo, hi = -effect, -hi, -lo
    return effect, lo, hi, smallest


def _finite_positive(c: Criterion, e: Estimate) -> bool:
    values = (e.effect, e.lo, e.hi)
    if not all(math.isfinite(v) for v in values):
        return False
    return c.scale != "log" or all(v > 0 for v in values)


def judge(criterion: Criterion, estimate: Estimate | None) -> Judgement:
    """The verdict on one claim and the reason, in words (see the module docstring)."""
    c, e = criterion, estimate
    if e is None:
        return Judgement(Verdict.NOT_RUN, "no results")
    if not math.isclose(e.level, c.level):
        raise ValueError(
            f"the estimate's CI level {e.level} differs from the criterion's {c.level}"
        )
    few = {arm: n for arm, n in e.runs.items() if n < c.min_runs}
    if not e.runs or few:
        counts = ", ".join(f"{arm} {n}" for arm, n in (few or {"any arm": 0}).items())
        return Judgement(Verdict.INCONCLUSIVE, f"n < {c.min_runs} runs ({counts})")
    if not _finite_positive(c, e):
        return Judgement(Verdict.INCONCLUSIVE, "no finite CI")
    effect, lo, hi, smallest = _oriented(c, e)
    pct = f"{100 * c.level:g}% CI"
    if c.direction == "equal":
        if -smallest < lo and hi < smallest:
            return Judgement(Verdict.REPRODUCED, f"{pct} inside ±smallest effect")
        if lo >= smallest or hi <= -smallest:
            return Judgement(Verdict.CONTRADICTED, f"{pct} wholly outside ±smallest effect")
        return Judgement(Verdict.INCONCLUSIVE, f"{pct} overlaps the ±smallest-effect bound")
    if hi < 0:
        return Judgement(Verdict.CONTRADICTED, f"{pct} excludes the null, opposite side")
    if lo > 0 and effect >= smallest:
        return Judgement(Verdict.REPRODUCED, f"{pct} excludes the null, effect ≥ smallest")
    if hi < smallest:
        return Judgement(Verdict.NOT_SHOWN, f"{pct} excludes the smallest effect")
    return Judgement(Verdict.INCONCLUSIVE, f"{pct} too wide to decide")


def verdict(criterion: Criterion, estimate: Estimate | None) -> Verdict:
    """``judge``'s verdict alone."""
    return judge(criterion, estimate).verdict


class RunValue(NamedTuple):
    """One run's value of a statistic, with its name and the run store's status; ``cluster``
    names the independent unit it belongs to when runs share one (notebook 06: continuations
    of one phase-1 run), else None (the run is its own unit)."""

    name: str
    value: float
    status: str = "finished"
    cluster: str | None = None


def usable_runs(runs: Sequence[RunValue]) -> tuple[list[RunValue], list[str]]:
    """The runs that finished with a finite value, and the names of the others with why
    (``"fp seed 2 (diverged)"``)."""
    kept, dropped = [], []
    for r in runs:
        if r.status != "finished":
            dropped.append(f"{r.name} ({r.status})")
        elif r.value is None or not math.isfinite(r.value):
            dropped.append(f"{r.name} (non-finite value)")
        else:
            kept.append(r)
    return kept, dropped


STATISTICS = {"difference": stats.difference_of_means, "ratio": stats.ratio_of_means}


def compare_arms(
    arms: Mapping[str, Sequence[RunValue]],
    statistic: str = "difference",
    *,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Estimate:
    """The first arm's mean minus (``difference``) or over (``ratio``) the second's, with a
    bootstrap CI resampling each arm's runs (hierarchically when runs carry a ``cluster``).
    Unusable runs are dropped and named; ``runs`` counts the independent units per arm."""
    if statistic not in STATISTICS:
        raise ValueError(
            f"statistic={statistic!r} is not valid; accepted values: {list(STATISTICS)}"
        )
    if len(arms) != 2:
        raise ValueError(f"compare_arms takes two arms, got {list(arms)}")
    kept, excluded = {}, []
    for arm, runs in arms.items():
        kept[arm], dropped = usable_runs(runs)
        excluded += dropped
    clustered = [any(r.cluster is not None for r in k) for k in kept.values()]
    labels = [
        [r.cluster if r.cluster is not None else r.name for r in k] if c else None
        for k, c in zip(kept.values(), clustered, strict=True)
    ]
    values = [[r.value for r in k] for k in kept.values()]
    est = STATISTICS[statistic](*values, clusters=labels, level=level, n_boot=n_boot, seed=seed)
    units = {
        arm: len({*lab}) if lab is not None else len(k)
        for (arm, k), lab in zip(kept.items(), labels, strict=True)
    }
    return Estimate(est.estimate, est.lo, est.hi, units, level, tuple(excluded))
