"""Statistics over runs: known values, determinism, coverage, and the hierarchical bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from fisherlab import stats


def test_correlations_on_known_cases():
    x = np.arange(1.0, 8.0)
    assert stats.rankdata([10, 30, 20, 20]).tolist() == [1.0, 4.0, 2.5, 2.5]
    assert stats.spearman(x, x**3) == pytest.approx(1.0)
    assert stats.pearson(x, x**3) < 1
    assert stats.pearson(x, -2 * x + 1) == pytest.approx(-1.0)
    y = np.sin(x)
    assert stats.pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert np.isnan(stats.pearson([1, 2], [3, 4])) and np.isnan(stats.pearson([1, 1, 1], [1, 2, 3]))


def test_difference_and_ratio_of_means():
    a, b = np.array([3.0, 4.0, 5.0]), np.array([1.0, 2.0, 3.0])
    d = stats.difference_of_means(a, b, n_boot=500)
    assert d.estimate == pytest.approx(2.0) and d.lo <= 2.0 <= d.hi and d.lo > 0
    r = stats.ratio_of_means(2 * b, b, n_boot=500)
    assert r.estimate == pytest.approx(2.0) and r.lo < 2.0 < r.hi
    # on the log scale: swapping the arms inverts the interval
    inv = stats.ratio_of_means(b, 2 * b, n_boot=500)
    assert inv.estimate == pytest.approx(0.5)
    assert (inv.lo, inv.hi) == pytest.approx((1 / r.hi, 1 / r.lo), rel=0.05)
    assert np.isnan(stats.difference_of_means([1.0], [2.0]).lo)  # one run per arm: no CI
    assert np.isnan(stats.ratio_of_means([-1.0, 1.0], [1.0, 2.0]).estimate)  # mean ≤ 0


def test_deterministic_given_the_seed():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=8), rng.normal(size=8)
    one = stats.difference_of_means(a, b, n_boot=300, seed=7)
    assert stats.difference_of_means(a, b, n_boot=300, seed=7) == one
    assert stats.difference_of_means(a, b, n_boot=300, seed=8) != one


def test_difference_ci_covers_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    trials, covered = 150, 0
    for t in range(trials):
        a, b = rng.normal(1.0, 1.0, size=20), rng.normal(0.0, 2.0, size=20)
        ci = stats.difference_of_means(a, b, n_boot=300, seed=t)
        covered += ci.lo <= 1.0 <= ci.hi
    assert 0.87 <= covered / trials <= 0.99


def _clustered(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """5 settings × 3 seeds: the settings' means carry the association, seeds barely move."""
    rng = np.random.default_rng(seed)
    mx, my = np.array([0.0, 1, 2, 3, 4]), np.array([0.0, 2, 1, 4, 3])
    settings = np.repeat(np.arange(5), 3)
    x = mx[settings] + 0.05 * rng.normal(size=15)
    y = my[settings] + 0.05 * rng.normal(size=15)
    return x, y, settings


def test_hierarchical_correlation_ci_is_wider_than_the_flat_one_on_clustered_data():
    x, y, settings = _clustered()
    flat = stats.correlation(x, y, n_boot=1000)
    hier = stats.correlation(x, y, clusters=settings, n_boot=1000)
    assert flat.estimate == hier.estimate == pytest.approx(stats.pearson(x, y))
    assert hier.hi - hier.lo > 1.5 * (flat.hi - flat.lo)
    rho = stats.correlation(x, y, method="spearman", clusters=settings, n_boot=300)
    assert rho.estimate == pytest.approx(stats.spearman(x, y))
    with pytest.raises(ValueError, match="method='kendall'"):
        stats.correlation(x, y, method="kendall")


def test_a_correlation_over_fewer_than_3_settings_has_no_ci():
    x, y, settings = _clustered()
    two = settings < 2
    assert np.isnan(stats.correlation(x[two], y[two], clusters=settings[two]).lo)


def test_hierarchical_difference_counts_clusters_not_runs():
    # 4 continuations of one phase-1 run per arm: one independent unit each, so no CI
    a, b = np.array([1.0, 1.1, 0.9, 1.0]), np.array([2.0, 2.1, 1.9, 2.0])
    one = stats.difference_of_means(a, b, clusters=[[0] * 4, [0] * 4])
    assert one.estimate == pytest.approx(-1.0) and np.isnan(one.lo)
    # two phase-1 runs per arm that differ: wider than treating the 4 runs as independent
    a2 = np.array([1.0, 1.1, 3.0, 3.1])
    labels = [[0, 0, 1, 1], [0, 0, 1, 1]]
    flat = stats.difference_of_means(a2, b, n_boot=1000)
    hier = stats.difference_of_means(a2, b, clusters=labels, n_boot=1000)
    assert hier.hi - hier.lo > flat.hi - flat.lo


def test_bootstrap_within_strata_keeps_each_stratum():
    x = np.r_[np.zeros(5), np.ones(5)]
    reps = stats.bootstrap(x, x, lambda a, b, s: a.mean(), strata=x, n=50)
    assert np.allclose(reps, 0.5)  # every replicate keeps 5 zeros and 5 ones
    lo, hi = stats.interval(np.arange(101.0), level=0.9)
    assert (lo, hi) == pytest.approx((5.0, 95.0))
    assert np.isnan(stats.interval(np.empty(0))[0])
