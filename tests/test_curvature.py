"""Notebook 06's analysis on hand-made histories: Tr(H_f) at the best test accuracy, the
bootstrap difference of means, Tr(H)/Tr(F) pairing and correlation, configs of both phases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fisherlab.config import ConfigError, TrainConfig
from fisherlab.experiments import curvature as cv
from fisherlab.notebook import NotebookParams
from fisherlab.training import RunResult

COLUMNS = ["step", "epoch", "metric", "value"]


def history(**series: dict[int, float]) -> pd.DataFrame:
    rows = [(s, s / 10, m, v) for m, values in series.items() for s, v in values.items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_trace_hessian_f_is_taken_at_the_first_best_test_accuracy():
    h = history(
        test_acc={0: 0.1, 10: 0.5, 20: 0.7, 30: 0.7, 40: 0.6},
        trace_hessian={0: 5.0, 10: 50.0, 20: 80.0, 30: 90.0, 40: 70.0},
    )
    c = cv.final_curvature(h)
    assert c == {"best_test_acc": 0.7, "best_step": 20, "best_epoch": 2.0, "trace_hessian_f": 80.0}
    no_h = cv.final_curvature(history(test_acc={0: 0.1, 10: 0.5}, trace_hessian={0: 1.0}))
    assert no_h["best_step"] == 10 and math.isnan(no_h["trace_hessian_f"])
    assert math.isnan(cv.final_curvature(history(train_loss={1: 2.0}))["best_test_acc"])


def test_mean_difference_and_its_bootstrap_ci():
    rng = np.random.default_rng(0)
    a, b = rng.normal(10, 1, size=8), rng.normal(14, 1, size=8)
    d, lo, hi = cv.mean_difference(a, b, n_boot=500)
    assert d == pytest.approx(a.mean() - b.mean()) and lo <= d <= hi < 0
    d, lo, hi = cv.mean_difference([1.0, np.nan, 3.0], [2.0, 2.0], n_boot=200)
    assert d == 0 and lo <= 0 <= hi  # NaNs dropped
    assert np.isnan(cv.mean_difference([1.0], [2.0])[1])  # one value each: no CI
    assert np.isnan(cv.mean_difference([], [2.0])[0])


def test_pairs_match_the_nearest_fisher_measurement_and_correlate_over_runs():
    parts = []
    for k, scale in enumerate((1.0, 2.0, 4.0)):
        h = history(
            trace_hessian={0: 10 * scale, 20: 30 * scale, 40: 20 * scale},
            trace_fisher={0: 9 * scale, 19: 28 * scale, 40: 21 * scale, 55: 1.0},
        )
        parts.append(h.assign(run=f"r{k}"))
    pairs = cv.hessian_fisher_pairs(pd.concat(parts, ignore_index=True))
    assert len(pairs) == 9 and pairs["step gap"].tolist()[:3] == [0, 1, 0]
    assert pairs["Tr(F)"].tolist()[:3] == [9.0, 28.0, 21.0]
    c = cv.hessian_fisher_correlation(pairs, n_boot=200)
    assert c["points"] == 9 and c["runs"] == 3
    assert c["pearson"] > 0.95 and c["spearman"] > 0.9 and c["median_per_run_pearson"] > 0.9
    lo, hi = c["pearson_ci"]
    assert lo <= c["pearson"] <= hi
    empty = cv.hessian_fisher_pairs(history(trace_fisher={0: 1.0}).assign(run="x"))
    assert len(empty) == 0 and cv.hessian_fisher_correlation(empty)["points"] == 0


def params(**changes) -> NotebookParams:
    values = dict(
        profile="smoke",
        dataset="synthetic",
        data_options={},
        model="simplecnn",
        seed=0,
        seeds=[1, 2],
        phase1_epochs=2,
        epochs=10,
        high_reg={"lr": 0.1},
        low_reg={"lr": 0.01},
        hessian_probes=3,
        grid_param="batch_size",
        grid_a=[256],
        grid_b=[32],
        grid_seeds=[0],
        bootstrap=200,
        batch_size=64,
        lr=0.01,
        lr_milestones=[1, 6],
        fisher_every=5,
        fisher_dense_until=100,
        fisher_every_late=None,
        log_every=10,
    )
    p = NotebookParams({**values, **changes})
    p.notebook, p.run_keys = "06_curvature_histograms", []
    return p


def test_phase_configs_shift_the_schedule_and_start_from_phase_one():
    p = params()
    cv.check(p)
    first = cv.phase1_configs(p)
    assert first[cv.HIGH].lr == 0.1 and first[cv.LOW].lr == 0.01
    assert first[cv.HIGH].epochs == 2 and first[cv.HIGH].lr_milestones == (1.0,)
    assert first[cv.HIGH].seed == first[cv.LOW].seed == 0 and first[cv.HIGH].hessian_probes == 3
    second = cv.phase2_config(p, first[cv.HIGH], 2)
    assert second.init_from == first[cv.HIGH].key() and second.lr == 0.01 and second.seed == 2
    assert second.epochs == 8 and second.lr_milestones == (4.0,)
    grid = cv.grid_configs(p)
    assert list(grid) == [("A", 256, 0), ("B", 32, 0)]
    assert grid[("A", 256, 0)].fisher_every == 1 and grid[("B", 32, 0)].fisher_every == 10


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"phase1_epochs": 10}, "phase1_epochs"),
        ({"low_reg": {"lr": 0.1}}, "same setting"),
        ({"high_reg": {"nosuch": 1}}, "nosuch"),
        ({"grid_param": "momentum"}, "grid_param"),
        ({"grid_a": [0.5]}, "grid_a"),
        ({"seeds": []}, "seeds"),
        ({"bootstrap": 10}, "bootstrap"),
    ],
)
def test_bad_parameters_name_themselves(changes, word):
    with pytest.raises(ConfigError, match=word):
        cv.check(params(**changes))


def _run(hessians: list[float], accs: list[float]) -> RunResult:
    steps = range(0, 10 * len(accs), 10)
    h = history(
        test_acc=dict(zip(steps, accs, strict=True)),
        trace_hessian=dict(zip(steps, hessians, strict=True)),
        trace_fisher={0: 1.0, 30: 2.0},
    )
    return RunResult(TrainConfig(dataset="synthetic"), h, {"status": "finished"})


def test_tables_and_findings_pick_the_low_trace_fisher_start():
    study = cv.Study(
        starts={cv.HIGH: _run([1, 2], [0.1, 0.2]), cv.LOW: _run([1, 4], [0.1, 0.2])},
        continuations={
            (cv.HIGH, 1): _run([5, 10, 20], [0.3, 0.6, 0.5]),
            (cv.HIGH, 2): _run([5, 12, 20], [0.3, 0.65, 0.5]),
            (cv.LOW, 1): _run([5, 30, 20], [0.3, 0.5, 0.4]),
            (cv.LOW, 2): _run([5, 34, 20], [0.3, 0.55, 0.4]),
        },
    )
    starts = cv.starts_table(study, params())
    assert starts["Tr(F_i)"].tolist() == [2.0, 2.0]  # the last Tr(F) measurement
    starts.loc[1, "Tr(F_i)"] = 8.0
    cont = cv.continuation_table(study, starts)
    assert cont["Tr(H_f)"].tolist() == [10, 12, 30, 34]
    assert cont["Tr(F_i) of start"].tolist() == [2, 2, 8, 8]
    found = cv.findings(starts, cont, None, n_boot=200)
    assert found["low_trace_fisher_start"] == cv.HIGH
    assert found["trace_hessian_difference"] == pytest.approx(11 - 32)
    assert found["best_test_difference_pts"] == pytest.approx(62.5 - 52.5)
    assert found["low_start_flatter"] is True and len(found["lines"]) == 4
