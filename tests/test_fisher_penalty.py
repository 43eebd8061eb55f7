"""Notebook 03's table functions (fisherlab.experiments.fisher_penalty) and its parameters.

Synthetic runs and per-run tables: a diverged run never feeds a pick, a mean or a CI and is named;
the matched-train-accuracy column reads the intermediate test evaluations; the Tr(F^B) table
measures the identity E[Tr(F^B)] = Tr(F)/B. Bad parameters of notebook 03 are refused by name
before any data is read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fisherlab.config import ConfigError, TrainConfig
from fisherlab.experiments import fisher_penalty as fp
from fisherlab.notebook import resolve_params
from fisherlab.training import RunResult

ACC = "test acc at best val"


def _run(
    status: str = "finished",
    *,
    train: tuple[float, ...] = (0.5, 0.8, 1.0),
    test: tuple[float, ...] = (0.3, 0.4, 0.5),
    metric: str = "test_acc",
    fisher: tuple[float, ...] = (),
    batch: tuple[float, ...] = (),
    **summary: float,
) -> RunResult:
    rows = []
    for i, (a, b) in enumerate(zip(train, test, strict=True)):
        rows += [(10 * (i + 1), i + 1.0, "epoch_train_acc", a), (10 * (i + 1), i + 1.0, metric, b)]
    for i, (f, fb) in enumerate(zip(fisher, batch, strict=True)):
        rows += [(5 * i, 0.5 * i, "trace_fisher", f), (5 * i, 0.5 * i, "trace_fisher_batch", fb)]
    history = pd.DataFrame(rows, columns=["step", "epoch", "metric", "value"])
    s = {
        "status": status,
        "steps": 30,
        "best_val_acc": 0.5,
        "test_acc_at_best_val": 0.5,
        "final_test_acc": 0.5,
        "final_train_acc": train[-1],
        "max_trace_fisher": 10.0,
        **summary,
    }
    return RunResult(TrainConfig(dataset="synthetic"), history, s)


def _per_run(values: dict[str, list[float]], statuses: dict[tuple[str, int], str] | None = None):
    rows = []
    for method, accs in values.items():
        for seed, acc in enumerate(accs):
            status = (statuses or {}).get((method, seed), "finished")
            rows.append({"method": method, "seed": seed, "status": status, ACC: acc})
    return pd.DataFrame(rows)


def test_alpha_grid_is_the_papers_log_grid():
    grid = fp.alpha_grid(0.01, 10)
    assert len(grid) == 10
    assert grid[0] == pytest.approx(0.001) and grid[-1] == pytest.approx(0.1)
    assert np.allclose(np.diff(np.log10(grid)), 2 / 9)
    assert fp.alpha_grid(0.01, 1) == [0.01]


def test_run_rows_in_percent_with_the_matched_column():
    grid = pd.DataFrame({"method": ["fp", "baseline"], "seed": [0, 0]})
    runs = [
        _run(train=(0.5, 0.7, 0.8), test=(0.30, 0.35, 0.40), metric="test_subset_acc"),
        _run(train=(0.6, 0.9, 1.0), test=(0.31, 0.33, 0.30), metric="test_subset_acc"),
    ]
    level = fp.matched_level(runs)
    assert level == pytest.approx(0.8)  # the highest train accuracy both runs reached
    table = fp.run_rows(grid, runs, matched=level)
    assert table[ACC].tolist() == [50.0, 50.0]
    assert table["final train acc"].tolist() == [80.0, 100.0]
    # FP reaches 80% at its last evaluation (40%); the baseline at its second (33%)
    assert table[fp.MATCHED].tolist() == pytest.approx([40.0, 33.0])
    with pytest.raises(ValueError, match="grid has 2 rows for 1 runs"):
        fp.run_rows(grid, runs[:1])


def test_a_diverged_run_never_sets_the_matched_level_nor_gets_a_value():
    grid = pd.DataFrame({"method": ["fp", "baseline"], "seed": [0, 0]})
    runs = [_run(train=(0.5, 0.9, 1.0)), _run("diverged", train=(0.2, 0.3, 0.3))]
    level = fp.matched_level(runs)
    assert level == pytest.approx(1.0)  # 30% of the diverged run does not lower it
    table = fp.run_rows(grid, runs, matched=level)
    assert np.isnan(table[fp.MATCHED].iloc[1])


def test_pick_by_validation_skips_a_diverged_run_and_names_it():
    table = pd.DataFrame(
        {
            "alpha": [0.001, 0.01, 0.1],
            "status": ["finished", "finished", "diverged"],
            "best val acc": [40.0, 45.0, 90.0],
        }
    )
    alpha, why = fp.pick_by_validation(table, "alpha", "FP α search")
    assert alpha == 0.01
    assert "45.0%" in why and "alpha = 0.001 at 40.0%" in why
    assert "left out: alpha = 0.1 (diverged)" in why
    with pytest.raises(RuntimeError, match="no run of the FP α search finished"):
        fp.pick_by_validation(table.assign(status="diverged"), "alpha", "FP α search")


def test_compare_excludes_and_names_a_diverged_run():
    per_run = _per_run(
        {"fp": [60.0, 62.0, 61.0, 99.0], "baseline": [55.0, 56.0, 54.0]},
        {("fp", 3): "diverged"},
    )
    row = fp.compare(per_run, "fp", "baseline", ACC)
    assert row["estimate"] == pytest.approx(61.0 - 55.0)  # the diverged 99% left out
    assert row["lo"] > 0 and row["hi"] > row["lo"]
    assert (row["runs a"], row["runs b"]) == (3, 3)
    assert row["left out"] == "fp seed 3 (diverged)"
    nan = per_run.assign(**{ACC: per_run[ACC].where(per_run.seed != 0)})
    assert "baseline seed 0 (no value)" in fp.compare(nan, "fp", "baseline", ACC)["left out"]


def test_compare_ratio_and_no_ci_below_two_runs():
    per_run = _per_run({"fp": [2.0, 2.0, 2.0], "baseline": [4.0, 4.0, 4.0]})
    row = fp.compare(per_run, "fp", "baseline", ACC, statistic="ratio")
    assert row["estimate"] == pytest.approx(0.5)
    one = fp.compare(_per_run({"fp": [2.0], "baseline": [4.0, 5.0]}), "fp", "baseline", ACC)
    assert np.isnan(one["lo"]) and np.isnan(one["hi"])
    with pytest.raises(ValueError, match="statistic='median'"):
        fp.compare(per_run, "fp", "baseline", ACC, statistic="median")


def test_method_table_means_over_finished_runs_with_reference_columns():
    per_run = _per_run(
        {"baseline": [50.0, 52.0, 54.0], "fp": [60.0, 62.0, 10.0]}, {("fp", 2): "diverged"}
    )
    for col in ("final test acc", "final train acc", "max Tr(F)", "train time per epoch (s)"):
        per_run[col] = 1.0
    table = fp.method_table(per_run, "SimpleCNN / CIFAR-10 (w/o aug.)").set_index("method")
    assert table.loc["fp", ACC] == pytest.approx(61.0)
    assert table.loc["fp", "runs"] == 2 and table.loc["fp", "left out"] == "2 (diverged)"
    assert table.loc["baseline", f"{ACC} ± (std)"] == pytest.approx(2.0)
    assert table.loc["fp", "paper Table 1 test acc (%)"] == 79.66
    assert np.isnan(
        fp.method_table(per_run, None).set_index("method").loc["fp", "paper Table 1 test acc (%)"]
    )


def test_fisher_batch_table_measures_the_identity():
    f = (100.0, 200.0, 400.0, 300.0)
    exact = _run(fisher=f, batch=tuple(v / 8 for v in f))
    table = fp.fisher_batch_table({"a": exact}, batch_size=8).iloc[0]
    assert table["mean Tr(F)/Tr(F^B)"] == pytest.approx(8.0)
    assert table["ratio / B"] == pytest.approx(1.0)
    assert table["pearson"] == pytest.approx(1.0) and table["points"] == 4
    unrelated = _run(fisher=f, batch=(4.0, 1.0, 3.0, 2.0))
    assert fp.fisher_batch_table({"b": unrelated}, 8).iloc[0]["pearson"] < 0.5


BAD = [
    ({"table2_alpha": -1}, "table2_alpha"),
    ({"alpha_exact": -1}, "alpha_exact"),
    ({"alpha_grid_points": "abc"}, "alpha_grid_points"),
    ({"alpha_grid_points": 0}, "alpha_grid_points"),
    ({"lr_grid": ["a", 0.1]}, "lr_grid"),
    ({"lr_grid": [0.1, 0.1]}, "lr_grid"),
    ({"seeds": [0, 0, 1]}, "seeds"),
    ({"seeds": []}, "seeds"),
    ({"methods": ["fp", "mixup"]}, "methods"),
    ({"alphas": {"fp": "big"}}, "alphas"),
    ({"alphas": {"nosuch": 0.1}}, "alphas"),
    ({"alpha_v": {}}, "alpha_v"),  # FP's α is searched at smoke: its grid centre is needed
    ({"baseline_divisor": 1}, "baseline_divisor"),
    ({"alpha_f1_grid": [0.1, -0.1]}, "alpha_f1_grid"),
    ({"supplement_c_max_steps": 0}, "supplement_c_max_steps"),
    ({"fig15_lrs": "0.1"}, "fig15_lrs"),
    ({"table2": "yes"}, "table2"),
    ({"paper_setting": "SimpleCNN"}, "paper_setting"),
]


@pytest.mark.parametrize(("params", "name"), BAD)
def test_bad_parameters_are_refused_by_name_before_any_data(tmp_path, params, name):
    given = {"profile": "smoke", "output_dir": str(tmp_path / "out"), **params}
    with pytest.raises(ConfigError) as err:
        resolve_params("03_fisher_penalty", given)
    assert name in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_given_alpha_needs_no_grid_and_stays_out_of_train_config(tmp_path):
    given = {"profile": "smoke", "output_dir": str(tmp_path), "alpha": 0.02, "alpha_v": {}}
    p = resolve_params("03_fisher_penalty", given, trains=False)
    assert p["alpha"] == 0.02
    assert p.train_config().alpha == 0.0  # the notebook's α reaches a run only explicitly
    assert p.train_config(regularizer="fp", alpha=p["alpha"]).alpha == 0.02
