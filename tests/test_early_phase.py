"""Notebook 02's tables on hand-made runs: post-hoc Tr(F_i), the per-run table (test accuracy at
the best validation point, matched fit, diverged runs left out and named), correlations with a
hierarchical bootstrap over settings, Supplement E's rows, cadence scaling, its parameters, and
the plot helpers it draws with."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fisherlab import stats
from fisherlab.config import ConfigError, TrainConfig
from fisherlab.experiments import early_phase as ep
from fisherlab.notebook import resolve_params
from fisherlab.training import RunResult

COLUMNS = ["step", "epoch", "metric", "value"]


def history(loss: dict[int, float], fisher: dict[int, float], spe: int = 10) -> pd.DataFrame:
    rows = [(s, s / spe, "train_loss", v) for s, v in loss.items()]
    rows += [(s, s / spe, "trace_fisher", v) for s, v in fisher.items()]
    return pd.DataFrame(rows, columns=COLUMNS)


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


def _run(
    lr: float,
    bs: int,
    seed: int,
    trace: float,
    at_val: float,
    *,
    crosses: bool = True,
    status: str = "finished",
) -> RunResult:
    """A run crossing ε at step 20 (Tr(F_i) = ``trace``), evaluated at steps 10 and 20: running
    train accuracy 0.6 then 0.9, test accuracy ``at_val`` − 0.1 then ``at_val`` (the last on the
    test subset is 0.99, which the best-test column must read)."""
    cfg = TrainConfig(dataset="synthetic", lr=lr, batch_size=bs, seed=seed)
    h = history({10: 2.0, 20: 1.0 if crosses else 1.9}, {0: 1.0, 20: trace})
    evals = [(10, 1.0, "epoch_train_acc", 0.6), (20, 2.0, "epoch_train_acc", 0.9)]
    evals += [(10, 1.0, "test_subset_acc", at_val - 0.1), (20, 2.0, "test_subset_acc", 0.99)]
    evals += [(20, 2.0, "final_train_acc", 0.95)]
    h = pd.concat([h, pd.DataFrame(evals, columns=COLUMNS)], ignore_index=True)
    summary = {
        "status": status,
        "test_acc_at_best_val": at_val,
        "final_test_acc": at_val - 0.05,
        "final_train_acc": 0.95,
        "max_trace_fisher": trace,
    }
    return RunResult(cfg, h, summary)


def _grid(rows: list[tuple[str, float, int, int]]) -> pd.DataFrame:
    grid = pd.DataFrame(rows, columns=["sweep", "lr", "batch size", "seed"])
    grid.insert(1, "setting", [f"lr={r[1]:g}, batch={r[2]}" for r in rows])
    return grid


def _study() -> tuple[pd.DataFrame, list[RunResult]]:
    """Three learning rates × 3 seeds (higher Tr(F_i), lower accuracy), one of them shared with
    the batch-size sweep, a batch-32 run that never crosses ε and a diverged one."""
    rows, results = [], []
    for i, lr in enumerate((0.01, 0.03, 0.1)):
        for s in range(3):
            rows.append((ep.LR_SWEEP, lr, 64, s))
            results.append(_run(lr, 64, s, 100 - 30 * i + s, 0.5 + 0.1 * i + 0.01 * s))
    rows.append((ep.BATCH_SWEEP, 0.03, 64, 0))
    results.append(results[3])  # the shared setting: the same run
    rows.append((ep.BATCH_SWEEP, 0.03, 32, 0))
    results.append(_run(0.03, 32, 0, 50.0, 0.8, crosses=False))
    rows.append((ep.BATCH_SWEEP, 0.03, 128, 0))
    results.append(_run(0.03, 128, 0, 1.0, 0.99, status="diverged"))
    return _grid(rows), results


def test_per_run_table_reads_test_at_best_val_and_matched_fit():
    grid, results = _study()
    per_run = ep.per_run_table(grid, results, threshold=1.2)
    assert len(per_run) == 12 and per_run.used.sum() == 10
    row = per_run.iloc[0]
    assert (row.sweep, row.setting, row.seed) == (ep.LR_SWEEP, "lr=0.01, batch=64", 0)
    assert row["Tr(F_i)"] == 100 and row["crossing step"] == 20 and row["Tr(F) lag (steps)"] == 0
    assert row["test acc at best val (%)"] == pytest.approx(50)  # not the best test evaluation
    assert row["best test acc (%)"] == pytest.approx(99)  # the paper's axis, on the subset
    assert row["max train acc (%)"] == pytest.approx(95)
    # every finished run reached 90% running train accuracy at step 20: test read there
    assert row["matched train acc (%)"] == pytest.approx(90)
    assert row["test acc at matched train acc (%)"] == pytest.approx(99)


def test_a_diverged_run_is_left_out_of_every_statistic_and_named():
    grid, results = _study()
    per_run = ep.per_run_table(grid, results, threshold=1.2)
    diverged = per_run[per_run.status == "diverged"]
    assert len(diverged) == 1 and not diverged.used.any()
    assert np.isfinite(diverged["Tr(F_i)"]).all()  # its numbers exist, and are not used
    assert ep.excluded(per_run) == [
        "lr=0.03, batch=32 seed 0 (loss never below ε)",
        "lr=0.03, batch=128 seed 0 (diverged)",
    ]
    corr = ep.correlation_table(per_run, n_boot=200).set_index(["runs of", "accuracy"])
    test = ep.ACCURACIES["test acc at best val (%)"]
    assert corr.loc[("all runs", test), "runs"] == 9  # the shared run once, the two left out
    assert corr.loc[(ep.BATCH_SWEEP, test), "runs"] == 1
    groups = ep.group_table(per_run)
    assert groups["runs"].tolist() == [3, 3, 3, 1, 1, 1]
    assert groups["used"].tolist() == [3, 3, 3, 1, 0, 0]
    assert np.isnan(groups["Tr(F_i)"].iloc[5])


def test_correlations_resample_settings_then_seeds():
    grid, results = _study()
    per_run = ep.per_run_table(grid, results, threshold=1.2)
    corr = ep.correlation_table(per_run, n_boot=200, seed=1).set_index(["runs of", "accuracy"])
    row = corr.loc[(ep.LR_SWEEP, ep.ACCURACIES["test acc at best val (%)"])]
    lr = per_run[per_run.sweep == ep.LR_SWEEP]
    x, y = lr["Tr(F_i)"], lr["test acc at best val (%)"]
    nested = stats.correlation(x, y, clusters=lr.setting.to_numpy(), n_boot=200, seed=1)
    flat = stats.correlation(x, y, n_boot=200, seed=1)
    assert (row.pearson, row["pearson lo"], row["pearson hi"]) == pytest.approx(tuple(nested))
    assert row["pearson hi"] - row["pearson lo"] > flat.hi - flat.lo  # settings are the units
    assert row.pearson < -0.9 and row["spearman"] < 0 and row.settings == 3
    assert row["pearson over setting means"] == pytest.approx(
        stats.pearson([101, 71, 41], [51, 61, 71])
    )


def test_supplement_e_rows_carry_the_arms_the_scorecard_reads():
    grid = pd.DataFrame(
        [("small_batch", 0.04, 16, 0.0, 0), ("large_batch_fp", 0.02, 128, 0.01, 0)],
        columns=["arm", "lr", "batch size", "alpha", "seed"],
    )
    runs = [_run(0.04, 16, 0, 10.0, 0.6), _run(0.02, 128, 0, 30.0, 0.7, status="diverged")]
    table = ep.supplement_e_table(grid, runs)
    assert table.arm.tolist() == ["small_batch", "large_batch_fp"]
    assert table.status.tolist() == ["finished", "diverged"]
    assert table["max Tr(F)"].tolist() == [10.0, 30.0]
    assert table["test acc at best val (%)"].tolist() == pytest.approx([60, 70])
    assert table["final train acc (%)"].tolist() == pytest.approx([95, 95])
    empty = ep.supplement_e_table(grid.iloc[:0], [])
    assert len(empty) == 0 and "test acc at best val (%)" in empty


def test_cadences_scale_with_the_batch_size():
    p = {
        "batch_size": 128,
        "fisher_every": 25,
        "fisher_dense_until": 600,
        "fisher_every_late": None,
        "log_every": 10,
    }
    assert ep.scaled_cadence(p, 128) == {}
    assert ep.scaled_cadence(p, 32) == {
        "fisher_every": 100,
        "fisher_dense_until": 2400,
        "fisher_every_late": None,
        "log_every": 40,
    }
    assert ep.scaled_cadence(p, 1280)["fisher_every"] == 2
    assert ep.scaled_cadence(p, 12800)["log_every"] == 1


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"lr_grid": [0.1, "abc"]}, ["lr_grid", "list of numbers"]),
        ({"lr_grid": [0.1, -0.1]}, ["lr_grid", "> 0"]),
        ({"lr_grid": [0.1, 0.1]}, ["lr_grid", "repeated"]),
        ({"batch_sizes": [32.5]}, ["batch_sizes", "integer"]),
        ({"seeds": [0, -1]}, ["seeds", "≥ 0"]),
        ({"loss_threshold": 0}, ["loss_threshold", "> 0"]),
        ({"bootstrap": 10}, ["bootstrap", "≥ 100"]),
        ({"supplement_e": "yes"}, ["supplement_e", "true/false"]),
        ({"e_batch_sizes": [128]}, ["e_batch_sizes", "two"]),
        ({"e_alphas": []}, ["e_alphas"]),
        ({"e_changes": {"nosuch": 1}}, ["e_changes", "nosuch"]),
        ({"e_changes": {"fisher_every": 0}}, ["e_changes", "fisher_every"]),
    ],
)
def test_bad_parameters_are_refused_before_data_naming_themselves(tmp_path, changes, words):
    given = {"profile": "smoke", "output_dir": str(tmp_path / "out"), **changes}
    with pytest.raises(ConfigError) as err:
        resolve_params("02_early_phase_correlation", given)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert not (tmp_path / "out").exists()


def test_plot_helpers_draw_on_tidy_tables_with_legends_off_the_data(tmp_path):
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
    ax3.plot([1, 2], [1, 2], color="k", label="r")  # a second artist, same label: one entry
    plots.legend_outside(ax3)
    assert [t.get_text() for t in ax3.get_legend().get_texts()] == ["r"]
    fig.canvas.draw()
    for ax in (ax1, ax2, ax3):
        assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1
    assert plots.save(fig, tmp_path, "f").exists()
