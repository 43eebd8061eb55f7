"""Notebook 02's analysis on hand-made histories: post-hoc Tr(F_i), ranks, correlations and
their bootstrap CIs, the per-run and correlation tables, cadence scaling."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fisherlab.config import TrainConfig
from fisherlab.experiments import early_phase as ep
from fisherlab.notebook import NotebookParams
from fisherlab.training import RunResult


def history(loss: dict[int, float], fisher: dict[int, float], spe: int = 10) -> pd.DataFrame:
    rows = [(s, s / spe, "train_loss", v) for s, v in loss.items()]
    rows += [(s, s / spe, "trace_fisher", v) for s, v in fisher.items()]
    return pd.DataFrame(rows, columns=["step", "epoch", "metric", "value"])


def test_trace_fisher_i_is_the_first_measurement_at_or_after_the_crossing():
    h = history({5: 2.3, 10: 1.5, 15: 1.19, 20: 1.3, 25: 1.0}, {0: 1.0, 10: 5.0, 20: 9.0, 30: 4.0})
    e = ep.early_trace_fisher(h, 1.2)
    assert e["crossing_step"] == 15 and e["crossing_epoch"] == 1.5  # the first window below ε
    assert e["trace_fisher_i"] == 9.0 and e["fisher_step"] == 20 and e["lag_steps"] == 5
    at = ep.early_trace_fisher(h, 1.6)  # crosses at step 10, where Tr(F) was measured too
    assert at["trace_fisher_i"] == 5.0 and at["lag_steps"] == 0


def test_trace_fisher_i_is_nan_without_a_crossing_or_a_later_measurement():
    h = history({5: 2.3, 10: 2.0}, {0: 1.0, 10: 5.0})
    assert all(math.isnan(v) for v in ep.early_trace_fisher(h, 1.2).values())
    late = ep.early_trace_fisher(history({5: 2.3, 12: 1.0}, {0: 1.0, 10: 5.0}), 1.2)
    assert late["crossing_step"] == 12 and math.isnan(late["trace_fisher_i"])


def test_ranks_average_ties_and_spearman_is_pearson_of_ranks():
    assert ep.rankdata([10, 30, 20, 20]).tolist() == [1.0, 4.0, 2.5, 2.5]
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert ep.spearman(x, x**3) == pytest.approx(1.0)
    assert ep.pearson(x, x**3) < 1
    assert ep.pearson(x, -2 * x + 1) == pytest.approx(-1.0)
    assert np.isnan(ep.pearson([1, 2], [3, 4])) and np.isnan(ep.pearson([1, 1, 1], [1, 2, 3]))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert ep.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1])


def test_bootstrap_ci_covers_the_estimate_and_shrinks_with_n():
    rng = np.random.default_rng(1)

    def width(n: int) -> tuple[float, float, float]:
        x = rng.normal(size=n)
        y = -x + 0.5 * rng.normal(size=n)
        reps = ep.bootstrap(x, y, lambda a, b, s: ep.pearson(a, b), n=500, seed=0)
        lo, hi = ep.interval(reps)
        return lo, hi, ep.pearson(x, y)

    lo, hi, r = width(20)
    assert lo <= r <= hi < 0
    lo2, hi2, _ = width(400)
    assert hi2 - lo2 < (hi - lo) / 2
    assert ep.interval(np.array([])) != ep.interval(np.array([]))  # NaN, NaN


def test_stratified_bootstrap_keeps_each_stratum_size():
    x = np.arange(9.0)
    strata = np.array(["a"] * 2 + ["b"] * 3 + ["c"] * 4)

    def sizes(a, b, s):
        return float(sum((s == k).sum() * 10**i for i, k in enumerate("abc")))

    reps = ep.bootstrap(x, x, sizes, strata=strata, n=50, seed=0)
    assert set(reps.tolist()) == {2 + 30 + 400}
    xm, ym = ep.group_means(x, 2 * x, strata)
    assert xm.tolist() == [0.5, 3.0, 6.5] and ym.tolist() == [1.0, 6.0, 13.0]


def _run(lr: float, bs: int, seed: int, trace: float, best: float, crosses: bool = True):
    cfg = TrainConfig(dataset="synthetic", lr=lr, batch_size=bs, seed=seed)
    loss = {10: 2.0, 20: 1.0 if crosses else 1.9}
    h = history(loss, {0: 1.0, 20: trace})
    acc = [(20, 2.0, "epoch_train_acc", 0.9), (20, 2.0, "final_train_acc", 0.95)]
    h = pd.concat([h, pd.DataFrame(acc, columns=h.columns)])
    summary = {"status": "finished", "best_test_acc": best, "max_trace_fisher": trace}
    return RunResult(cfg, h, summary)


def test_per_run_and_correlation_tables():
    runs = {}
    for i, lr in enumerate((0.01, 0.03, 0.1)):
        for s in range(3):
            runs[(ep.LR_SWEEP, lr, s)] = _run(lr, 64, s, 100 - 30 * i + s, 0.5 + 0.1 * i + 0.01 * s)
    runs[(ep.BATCH_SWEEP, 64, 0)] = runs[(ep.LR_SWEEP, 0.03, 0)]  # shared setting
    runs[(ep.BATCH_SWEEP, 32, 0)] = _run(0.03, 32, 0, 50.0, 0.8, crosses=False)
    per_run = ep.per_run_table(ep.Study(runs), threshold=1.2)
    assert len(per_run) == 11 and per_run.used.sum() == 10
    row = per_run.iloc[0]
    assert row["Tr(F_i)"] == 100 and row["crossing step"] == 20 and row["Tr(F) lag (steps)"] == 0
    assert row["best test acc (%)"] == pytest.approx(50) and row["max train acc (%)"] == 95
    corr = ep.correlation_table(per_run, n_boot=200)
    c = corr.set_index(["runs of", "accuracy", "over"])
    assert c.loc[("all runs", "test", "runs"), "points"] == 9  # the shared run counts once
    assert c.loc[("learning rate", "test", "setting means"), "points"] == 3
    assert c.loc[("learning rate", "test", "runs"), "pearson"] < -0.9
    assert c.loc[("learning rate", "test", "setting means"), "spearman"] == pytest.approx(-1)
    assert c.loc[("learning rate", "test", "runs"), "pearson CI hi"] < 0
    found = ep.findings(per_run, corr, 1.2)
    assert found["negative_association"] is True
    assert found["pearson_trace_fisher_vs_test"] == pytest.approx(
        c.loc[("all runs", "test", "runs"), "pearson"]
    )
    assert "1 left out" in found["lines"][0]
    groups = ep.group_table(per_run)
    assert groups["runs"].tolist() == [3, 3, 3, 1, 1]
    assert groups["seeds"].tolist() == [3, 3, 3, 1, 0]  # batch 32 never crossed ε
    assert groups["Tr(F_i)"].iloc[0] == pytest.approx(101) and np.isnan(groups["Tr(F_i)"].iloc[4])


def test_cadences_scale_with_the_batch_size():
    p = NotebookParams(
        batch_size=128,
        fisher_every=25,
        fisher_dense_until=600,
        fisher_every_late=None,
        log_every=10,
    )
    assert ep.scaled_cadence(p, 128) == {}
    assert ep.scaled_cadence(p, 32) == {
        "fisher_every": 100,
        "fisher_dense_until": 2400,
        "fisher_every_late": None,
        "log_every": 40,
    }
    assert ep.scaled_cadence(p, 1280)["fisher_every"] == 2
    assert ep.scaled_cadence(p, 12800)["log_every"] == 1


def test_plot_helpers_draw_on_tidy_tables(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from fisherlab import plots

    colours = plots.ramp(["a", "b", "c"], "coolwarm")
    assert colours["a"] != colours["c"] == plots.ramp(["a"])["a"]  # one key: the warm end
    table = pd.DataFrame({"x": [1.0, 2, 3, 4], "y": [4.0, 3, 2, 1], "g": ["a", "a", "b", "b"]})
    fig, (ax1, ax2, ax3) = plots.figure(ncols=3)
    plots.mean_points(table, "x", "y", "g", ax1)
    assert len(ax1.get_legend().get_texts()) == 2
    plots.histograms(table.assign(y=[1.0, np.nan, 2, 3]), "y", "g", ax2, bins=3)
    h = history({1: 2.0, 2: 1.5, 3: 1.0}, {0: 1.0}).assign(run="r")
    plots.lines(h, "train_loss", ax3, {"r": "#000000", "absent": "#ffffff"}, x="step", smooth=2)
    assert len(ax3.get_lines()) == 1
    assert plots.save(fig, tmp_path, "f").exists()
