"""Notebook 06's tables on hand-made runs: Tr(H_f) at the best validation point (the paper's best
test reading beside), Tr(H) at matched train accuracy, diverged runs left out and named, the
phase-1 run as the unit of the comparison, Fig. 14's rows and means, Tr(H)/Tr(F) pairing and
correlation, and notebook 06's parameters refused before any data is read."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fisherlab import analysis, stats
from fisherlab.config import ConfigError, TrainConfig
from fisherlab.experiments import curvature as cv
from fisherlab.notebook import resolve_params
from fisherlab.training import RunResult

COLUMNS = ["step", "epoch", "metric", "value"]


def history(**series: dict[int, float]) -> pd.DataFrame:
    rows = [(s, s / 10, m, v) for m, values in series.items() for s, v in values.items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_trace_hessian_f_is_taken_at_the_first_best_validation_point():
    h = history(
        val_acc={0: 0.1, 10: 0.5, 20: 0.7, 30: 0.7, 40: 0.6},
        test_subset_acc={0: 0.1, 10: 0.4, 20: 0.6, 30: 0.6, 40: 0.8},
        trace_hessian={0: 5.0, 10: 50.0, 20: 80.0, 30: 90.0, 40: 70.0},
    )
    c = cv.curvature_at_best(h)
    assert c == {"trace_hessian_f": 80, "step": 20, "epoch": 2, "trace_hessian_at_best_test": 70}
    no_h = cv.curvature_at_best(history(val_acc={0: 0.1, 10: 0.5}, trace_hessian={0: 1.0}))
    assert no_h["step"] == 10 and math.isnan(no_h["trace_hessian_f"])
    assert all(math.isnan(v) for v in cv.curvature_at_best(history(train_loss={1: 2.0})).values())


def _run(
    hessians: list[float],
    val: list[float],
    train: list[float],
    *,
    status: str = "finished",
    final_fisher: float = 2.0,
) -> RunResult:
    """Evaluations at steps 0, 10, 20…: Tr(H), validation and test accuracy (test = val − 0.1),
    and the running train accuracy at each (none at step 0)."""
    steps = list(range(0, 10 * len(val), 10))
    h = history(
        val_acc=dict(zip(steps, val, strict=True)),
        test_acc={s: v - 0.1 for s, v in zip(steps, val, strict=True)},
        trace_hessian=dict(zip(steps, hessians, strict=True)),
        epoch_train_acc=dict(zip(steps[1:], train, strict=True)),
        trace_fisher={0: 1.0, steps[-1]: final_fisher},
    )
    best = steps[int(np.argmax(val))]
    summary = {
        "status": status,
        "test_acc_at_best_val": val[steps.index(best)] - 0.1,
        "final_train_acc": train[-1],
        "final_test_acc": val[-1] - 0.1,
        "final_trace_fisher": final_fisher,
        "epochs": steps[-1] / 10,
    }
    return RunResult(TrainConfig(dataset="synthetic"), h, summary)


def _continuations() -> tuple[pd.DataFrame, list[RunResult]]:
    """Two phase-1 runs per start, two continuations each. The low-Tr(F_i) (high-reg.) start's
    continuations fit to 99%, Tr(H) 10 at 80% train accuracy and 12 or 13 at their best val;
    the other start's reach 80% only, Tr(H) 31 or 32 there — and one of them diverged."""
    rows, runs = [], []
    for start, f_i in ((cv.HIGH, 2.0), (cv.LOW, 8.0)):
        for p1 in (0, 1):
            for seed in (1, 2):
                rows.append((start, p1, seed, f_i))
                if start == cv.HIGH:
                    runs.append(_run([5, 10, 12 + p1], [0.3, 0.6, 0.65], [0.8, 0.99]))
                elif (p1, seed) == (1, 2):
                    runs.append(_run([5, 1e6, 1e6], [0.3, 0.9, 0.9], [0.8, 0.8], status="diverged"))
                else:
                    runs.append(_run([5, 30 + seed, 20], [0.3, 0.5, 0.4], [0.8, 0.8]))
    grid = pd.DataFrame(rows, columns=["start", "phase-1 seed", "seed", "Tr(F_i) of start"])
    return grid, runs


def test_continuations_read_the_best_val_point_and_matched_fit():
    grid, runs = _continuations()
    cont = cv.continuation_table(grid, runs)
    assert cont["Tr(H_f)"].tolist()[:4] == [12, 12, 13, 13]  # at the best val, not the end
    assert cont["Tr(H_f)"].tolist()[4:7] == [31, 32, 31]
    assert cont["test acc at best val (%)"].tolist()[:1] == pytest.approx([55])
    assert cont["final train acc (%)"].tolist()[:1] == pytest.approx([99])
    # the highest running train accuracy every finished continuation reached: 80% (step 10)
    assert cont["matched train acc (%)"].unique().tolist() == pytest.approx([80])
    assert cont["Tr(H) at matched train acc"].tolist()[:7] == [10, 10, 10, 10, 31, 32, 31]
    assert math.isnan(cont["Tr(H) at matched train acc"].iloc[7])  # diverged: no value


def test_a_diverged_continuation_is_left_out_and_named_and_phase1_runs_are_the_units():
    grid, runs = _continuations()
    cont = cv.continuation_table(grid, runs)
    named = analysis.not_finished(cont, ["start", "phase-1 seed", "seed"])
    assert named == ["low regularisation 1 2 (diverged)"]
    done = cont[cont.status == "finished"]
    a, b = (done[done.start == s] for s in (cv.HIGH, cv.LOW))
    units = [a["phase-1 seed"].to_numpy(), b["phase-1 seed"].to_numpy()]
    nested = stats.ratio_of_means(a["Tr(H_f)"], b["Tr(H_f)"], clusters=units, n_boot=300)
    assert nested.estimate == pytest.approx(12.5 / np.mean([31, 32, 31]))  # 1e6 never enters
    flat = stats.ratio_of_means(a["Tr(H_f)"], b["Tr(H_f)"], n_boot=300)
    assert nested.hi > 0 and (nested.hi - nested.lo) >= (flat.hi - flat.lo)


def test_starts_table_takes_tr_f_i_at_the_end_of_phase_one():
    grid = pd.DataFrame(
        [(cv.HIGH, 0, "lr=0.1"), (cv.LOW, 0, "lr=0.01")],
        columns=["start", "phase-1 seed", "setting"],
    )
    runs = [_run([1, 2], [0.1, 0.2], [0.3], final_fisher=3.0), _run([1, 4], [0.1, 0.2], [0.3])]
    starts = cv.starts_table(grid, runs)
    assert starts["Tr(F_i)"].tolist() == [3.0, 2.0]  # the last Tr(F) measurement
    assert starts["Tr(H) at the end"].tolist() == [2.0, 4.0]
    assert starts["key"].nunique() == 1 and starts.status.tolist() == ["finished"] * 2


def test_grid_rows_and_means_leave_out_runs_that_did_not_finish():
    grid = pd.DataFrame(
        [("A", 0.01, "lr=0.01", s) for s in (0, 1)] + [("B", 0.1, "lr=0.1", s) for s in (0, 1)],
        columns=["group", "lr", "setting", "seed"],
    )
    runs = [
        _run([5, 8], [0.3, 0.5], [0.6]),
        _run([5, 10], [0.3, 0.7], [0.7]),
        _run([5, 3], [0.3, 0.8], [0.9]),
        _run([5, 99], [0.3, 0.1], [0.2], status="diverged"),
    ]
    rows = cv.grid_table(grid, runs)
    assert rows[["group", "lr", "seed", "status"]].values.tolist()[3] == ["B", 0.1, 1, "diverged"]
    assert rows["test acc at best val (%)"].tolist() == pytest.approx([40, 60, 70, 20])
    means = cv.grid_means(rows, ["group", "setting"])
    assert means["runs"].tolist() == [2, 2] and means["used"].tolist() == [2, 1]
    assert means["test acc at best val (%)"].tolist() == pytest.approx([50, 70])
    assert means["first Tr(H)"].tolist() == [9, 3] and means["final Tr(H)"].tolist() == [9, 3]


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
    assert c["ratio_tr_h_over_tr_f"] == pytest.approx(np.median([10 / 9, 30 / 28, 20 / 21]))
    empty = cv.hessian_fisher_pairs(history(trace_fisher={0: 1.0}).assign(run="x"))
    assert len(empty) == 0 and cv.hessian_fisher_correlation(empty)["points"] == 0


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"phase1_epochs": 3}, ["phase1_epochs", "epochs=3"]),
        ({"phase1_epochs": 0}, ["phase1_epochs", "≥ 1"]),
        ({"low_reg": {"lr": 0.08}}, ["same setting"]),
        ({"high_reg": {"nosuch": 1}}, ["high_reg", "nosuch"]),
        ({"high_reg": {"lr": "abc"}}, ["high_reg", "lr"]),
        ({"high_reg": {}}, ["high_reg", "non-empty"]),
        ({"grid_param": "momentum"}, ["grid_param", "lr, batch_size"]),
        ({"grid_a": [0.01, 0.01]}, ["grid_a", "repeated"]),
        ({"grid_param": "batch_size", "grid_a": [32.5]}, ["grid_a", "integers"]),
        ({"phase1_seeds": [-1]}, ["phase1_seeds", "≥ 0"]),
        ({"seeds": "1, 2"}, ["seeds", "list of integers"]),
        ({"bootstrap": 10}, ["bootstrap", "≥ 100"]),
        ({"fig21_panels": {"x": {"epochs": 1}}}, ["fig21_panels['x']", "lrs"]),
        ({"fig21_panels": {"x": {"lrs": ["a"]}}}, ["fig21_panels['x']['lrs']"]),
        ({"fig21_panels": {"x": {"lrs": [0.1], "modle": "vgg11"}}}, ["fig21_panels", "modle"]),
        ({"hessian_probe_dist": "uniform"}, ["hessian_probe_dist", "gaussian"]),
    ],
)
def test_bad_parameters_are_refused_before_data_naming_themselves(tmp_path, changes, words):
    given = {"profile": "smoke", "output_dir": str(tmp_path / "out"), **changes}
    with pytest.raises(ConfigError) as err:
        resolve_params("06_curvature_histograms", given)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert not (tmp_path / "out").exists()


def test_the_paper_profile_has_every_fig21_panel_with_gaussian_probes(tmp_path):
    p = resolve_params(
        "06_curvature_histograms",
        {"profile": "paper", "output_dir": str(tmp_path / "out")},
        trains=False,
    )
    assert p.train_config().hessian_probe_dist == "gaussian"
    assert p.train_config().hessian_probes == 30
    panels = p["fig21_panels"]
    assert {spec["model"] for spec in panels.values()} == {"densenet", "simplecnn", "resnet56"}
    assert all(len(spec["lrs"]) == 3 for spec in panels.values())
    assert len(p["phase1_seeds"]) >= 3
