"""Statistics over runs: correlations and percentile-bootstrap CIs that resample whole runs.

A training run is the unit of replication: its steps are not independent draws, so every
interval here resamples runs, never the points inside one run. Where runs are nested in settings
(notebook 02: learning rates or batch sizes × seeds; notebook 06: continuations of one phase-1
run) the bootstrap is hierarchical: settings (clusters) are drawn with replacement, then runs
within each drawn cluster. The paper reports point estimates only (Fig. 2, 7; Tables 1–3); these
intervals are what the scorecard (notebook 00) judges its claims by. Everything is numpy only and
deterministic given ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Interval",
    "bootstrap",
    "bootstrap_runs",
    "correlation",
    "difference_of_means",
    "interval",
    "pearson",
    "rankdata",
    "ratio_of_means",
    "spearman",
]


class Interval(NamedTuple):
    """A point estimate and its percentile-bootstrap interval (NaN where undefined)."""

    estimate: float
    lo: float
    hi: float


# -- correlations ------------------------------------------------------------------------------


def rankdata(a: Any) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (as scipy.stats.rankdata 'average')."""
    a = np.asarray(a, dtype=float)
    sorter = np.argsort(a, kind="mergesort")
    inv = np.empty(len(a), dtype=np.intp)
    inv[sorter] = np.arange(len(a))
    s = a[sorter]
    first = np.r_[True, s[1:] != s[:-1]]
    dense = first.cumsum()[inv]
    count = np.r_[np.nonzero(first)[0], len(a)]
    return 0.5 * (count[dense] + count[dense - 1] + 1)


def pearson(x: Any, y: Any) -> float:
    """Pearson's r; NaN with fewer than 3 points or a constant variable."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    den = np.sqrt((dx @ dx) * (dy @ dy))
    return float(dx @ dy / den) if den > 0 else float("nan")


def spearman(x: Any, y: Any) -> float:
    """Spearman's ρ: Pearson's r of the ranks."""
    return pearson(rankdata(x), rankdata(y))


CORRELATIONS: dict[str, Callable[[Any, Any], float]] = {"pearson": pearson, "spearman": spearman}


# -- bootstrap ---------------------------------------------------------------------------------

Stat = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


def bootstrap(
    x: Any,
    y: Any,
    stat: Stat,
    *,
    strata: Any = None,
    n: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """``n`` bootstrap replicates of ``stat(x, y, strata)`` over (x, y, stratum) triples drawn
    with replacement — within each stratum when ``strata`` is given (each keeps its size).
    Replicates where the statistic is undefined (NaN) are dropped."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    strata = np.zeros(len(x), dtype=int) if strata is None else np.asarray(strata)
    groups = [np.nonzero(strata == s)[0] for s in dict.fromkeys(strata.tolist())]
    rng = np.random.default_rng(seed)
    out = np.empty(n)
    for b in range(n):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        out[b] = stat(x[idx], y[idx], strata[idx])
    return out[np.isfinite(out)]


def interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (NaN, NaN when there are none)."""
    if not len(replicates):
        return float("nan"), float("nan")
    lo, hi = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _clusters(n: int, labels: Any) -> list[np.ndarray]:
    """Row indices grouped by cluster label, in order of first appearance (one cluster: all)."""
    if labels is None:
        return [np.arange(n)]
    labels = np.asarray(labels)
    if len(labels) != n:
        raise ValueError(f"clusters has {len(labels)} labels for {n} runs")
    return [np.nonzero(labels == k)[0] for k in dict.fromkeys(labels.tolist())]


def _draws(rng: np.random.Generator, clusters: list[np.ndarray], n_boot: int) -> Sequence[Any]:
    """Row indices of ``n_boot`` replicates: clusters drawn with replacement, then rows with
    replacement within each drawn cluster, each keeping its size (one cluster: a flat draw)."""
    if len(clusters) == 1:
        (c,) = clusters
        return c[rng.integers(len(c), size=(n_boot, len(c)))]
    out = []
    for _ in range(n_boot):
        picks = rng.integers(len(clusters), size=len(clusters))
        out.append(
            np.concatenate(
                [clusters[k][rng.integers(len(clusters[k]), size=len(clusters[k]))] for k in picks]
            )
        )
    return out


def bootstrap_runs(
    arms: Sequence[Any],
    stat: Callable[..., float],
    *,
    clusters: Sequence[Any] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """Replicates of ``stat(*arms)`` with every arm (an array, one row per run) resampled on its
    own, with replacement, keeping its size. ``clusters`` gives, per arm, a label per run (or
    None): clusters are drawn first, then runs within them (the hierarchical bootstrap).
    Non-finite replicates are dropped."""
    data = [np.asarray(a, dtype=float) for a in arms]
    if any(len(a) == 0 for a in data):
        return np.empty(0)
    labels = list(clusters) if clusters is not None else [None] * len(data)
    rng = np.random.default_rng(seed)
    draws = [
        _draws(rng, _clusters(len(a), lab), n_boot) for a, lab in zip(data, labels, strict=True)
    ]
    out = np.array(
        [stat(*(a[d[b]] for a, d in zip(data, draws, strict=True))) for b in range(n_boot)],
        dtype=float,
    )
    return out[np.isfinite(out)]


def _units(arms: Sequence[np.ndarray], clusters: Sequence[Any] | None) -> int:
    """The fewest independent units (clusters, or runs) in any arm."""
    labels = list(clusters) if clusters is not None else [None] * len(arms)
    return min(
        len(_clusters(len(a), lab)) if lab is not None else len(a)
        for a, lab in zip(arms, labels, strict=True)
    )


def _interval(estimate: float, replicates: np.ndarray, level: float, *, enough: bool) -> Interval:
    lo, hi = interval(replicates, level) if enough else (float("nan"), float("nan"))
    return Interval(float(estimate), lo, hi)


def difference_of_means(
    a: Any,
    b: Any,
    *,
    clusters: Sequence[Any] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """mean(a) − mean(b) over runs, CI resampling each arm's runs independently (hierarchically
    with ``clusters``). No CI unless each arm has ≥ 2 independent units (runs, or clusters)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a) or not len(b):
        return Interval(float("nan"), float("nan"), float("nan"))
    reps = bootstrap_runs(
        [a, b], lambda x, y: x.mean() - y.mean(), clusters=clusters, n_boot=n_boot, seed=seed
    )
    return _interval(a.mean() - b.mean(), reps, level, enough=_units([a, b], clusters) >= 2)


def ratio_of_means(
    a: Any,
    b: Any,
    *,
    clusters: Sequence[Any] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """mean(a) / mean(b) of positive quantities (e.g. Tr(F) of two arms), its CI taken on the
    log scale (percentiles of log replicates, exponentiated), so that 2× and 0.5× are equally
    far from 1. NaN unless both means are positive."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a) or not len(b) or a.mean() <= 0 or b.mean() <= 0:
        return Interval(float("nan"), float("nan"), float("nan"))

    def log_ratio(x: np.ndarray, y: np.ndarray) -> float:
        mx, my = x.mean(), y.mean()
        return float(np.log(mx / my)) if mx > 0 and my > 0 else float("nan")

    reps = bootstrap_runs([a, b], log_ratio, clusters=clusters, n_boot=n_boot, seed=seed)
    est, lo, hi = _interval(log_ratio(a, b), reps, level, enough=_units([a, b], clusters) >= 2)
    return Interval(*(float(np.exp(v)) for v in (est, lo, hi)))


def correlation(
    x: Any,
    y: Any,
    *,
    method: str = "pearson",
    clusters: Any = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Pearson or Spearman correlation of (x, y) over runs, with a bootstrap CI resampling
    (x, y) pairs of whole runs; with ``clusters`` (e.g. each run's setting) hierarchically:
    settings first, then seeds within them — the interval for "does it hold across settings",
    wider than the flat one when seeds of a setting resemble each other."""
    if method not in CORRELATIONS:
        raise ValueError(f"method={method!r} is not valid; accepted values: {list(CORRELATIONS)}")
    f = CORRELATIONS[method]
    xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    keep = np.isfinite(xy).all(axis=1)
    xy, labels = xy[keep], None if clusters is None else np.asarray(clusters)[keep]
    reps = bootstrap_runs(
        [xy], lambda s: f(s[:, 0], s[:, 1]), clusters=[labels], n_boot=n_boot, seed=seed
    )
    return _interval(f(xy[:, 0], xy[:, 1]), reps, level, enough=_units([xy], [labels]) >= 3)


# -- added for notebook 04 ---------------------------------------------------------------------

__all__ += ["slope"]


def _ols_slope(x: np.ndarray, y: np.ndarray) -> float:
    dx = x - x.mean()
    den = dx @ dx
    return float(dx @ (y - y.mean()) / den) if len(x) >= 3 and den > 0 else float("nan")


def slope(
    x: Any,
    y: Any,
    *,
    clusters: Any = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Least-squares slope of ``y`` on ``x`` over runs (notebook 04: test accuracy per epoch of
    delay of FP, over start epochs × seeds), with a bootstrap CI resampling (x, y) pairs of whole
    runs (with ``clusters``, hierarchically). NaN with fewer than 3 runs or a constant ``x``;
    replicates that draw a constant ``x`` are dropped."""
    xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    keep = np.isfinite(xy).all(axis=1)
    xy, labels = xy[keep], None if clusters is None else np.asarray(clusters)[keep]
    reps = bootstrap_runs(
        [xy], lambda s: _ols_slope(s[:, 0], s[:, 1]), clusters=[labels], n_boot=n_boot, seed=seed
    )
    return _interval(
        _ols_slope(xy[:, 0], xy[:, 1]), reps, level, enough=_units([xy], [labels]) >= 3
    )
