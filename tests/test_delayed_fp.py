"""Notebook 04's tables (fisherlab.experiments.delayed_fp), α's source and its parameters.

Fast: per-run tables written by hand, no training (the notebook's smoke run is in
test_notebooks.py).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import execute_parameter_cells

from fisherlab import analysis, notebook, stats
from fisherlab.config import ConfigError
from fisherlab.experiments import delayed_fp

# test acc at best val (%) per (arm, start, seed): later starts lose ~2 points per step of the grid
ACC = {
    ("eta_star", None): [60.0, 61.0, 59.0],
    ("baseline", None): [50.0, 51.0, 49.0],
    ("fp", 0): [56.0, 57.0, 55.0],
    ("fp", 4): [54.0, 55.0, 53.0],
    ("fp", 8): [52.0, 53.0, 51.0],
}


def per_run(diverged: tuple[int, int] | None = None) -> pd.DataFrame:
    """The notebook's per-run table; ``diverged``: (start, seed) of an FP run that diverged, with
    a value that would reverse the claim if it were used."""
    rows = []
    for (arm, start), accs in ACC.items():
        for seed, acc in enumerate(accs):
            bad = arm == "fp" and (start, seed) == diverged
            rows.append(
                {
                    "run": f"{arm} {start} seed {seed}",
                    "arm": arm,
                    "start epoch": start,
                    "seed": seed,
                    "status": "diverged" if bad else "finished",
                    "test acc at best val": 99.0 if bad else acc,
                    "final test acc": acc - 1,
                    "final train acc": 90.0,
                    "max Tr(F)": 100.0 + (start or 0) * 10,
                    delayed_fp.MATCHED: acc - 2,
                }
            )
    return pd.DataFrame(rows)


def test_per_start_table_means_and_difference_from_the_baseline():
    t = delayed_fp.per_start_table(per_run()).set_index("start epoch")
    assert list(t.index) == [0, 4, 8] and t.runs.tolist() == [3, 3, 3]
    assert t.loc[0, "test acc at best val"] == pytest.approx(56.0)
    assert t.loc[0, "test acc at best val (std)"] == pytest.approx(1.0)
    assert t.loc[8, "minus baseline (pts)"] == pytest.approx(2.0)
    assert t.loc[0, "minus baseline lo"] < 6.0 < t.loc[0, "minus baseline hi"]
    assert t.loc[4, delayed_fp.MATCHED] == pytest.approx(52.0)
    assert t.loc[8, "max Tr(F)"] == pytest.approx(180.0)


def test_effects_earliest_minus_latest_slope_and_gap():
    e = delayed_fp.effects(per_run()).set_index("key")
    assert e.loc["earliest_minus_latest", "estimate"] == pytest.approx(4.0)
    assert e.loc["earliest_minus_latest", "statistic"] == "FP from epoch 0 minus from epoch 8"
    assert e.loc["earliest_minus_latest", "lo"] > 0  # 3 seeds, spread 1: the CI excludes 0
    assert e.loc["slope", "estimate"] == pytest.approx(-0.5)  # 4 points over 8 epochs
    assert e.loc["slope", "runs"] == 9 and e.loc["slope", "hi"] < 0
    assert e.loc["rho_test", "estimate"] < -0.8 and e.loc["rho_trace", "estimate"] > 0.8
    assert e.loc["gap", "estimate"] == pytest.approx(10.0)


def test_a_diverged_run_is_left_out_and_named():
    table = per_run(diverged=(8, 0))
    e = delayed_fp.effects(table).set_index("key")
    # with the diverged run's 99% the latest start would look best; left out, it stays worse
    later = [53.0, 51.0]
    assert e.loc["earliest_minus_latest", "estimate"] == pytest.approx(56.0 - np.mean(later))
    assert e.loc["earliest_minus_latest", "runs"] == 5 and e.loc["slope", "runs"] == 8
    starts = delayed_fp.per_start_table(table).set_index("start epoch")
    assert starts.loc[8, "runs"] == 2
    assert analysis.not_finished(table, ["run"]) == ["fp 8 seed 0 (diverged)"]


def test_one_seed_per_start_gives_no_interval_for_the_difference():
    one = per_run()[lambda d: d.seed == 0]
    e = delayed_fp.effects(one).set_index("key")
    assert np.isnan(e.loc["earliest_minus_latest", "lo"])
    assert np.isfinite(e.loc["slope", "lo"])  # 3 starts × 1 seed: the regression still has one


def test_slope_matches_least_squares_and_needs_three_runs():
    x, y = [0, 0, 4, 4, 8, 8], [56, 55, 54, 53, 52, 50]
    assert stats.slope(x, y).estimate == pytest.approx(np.polyfit(x, y, 1)[0])
    assert np.isnan(stats.slope([0, 4], [1, 2]).estimate)
    assert np.isnan(stats.slope([2, 2, 2], [1, 2, 3]).estimate)  # constant start epoch


@pytest.fixture
def params(tmp_path):
    return notebook.resolve_params(
        "04_delayed_fisher_penalty",
        {"profile": "smoke", "output_dir": str(tmp_path / "out")},
        trains=False,
    )


def test_alpha_comes_from_the_parameter_then_notebook_03_then_the_default(params, tmp_path):
    params["alpha"] = 0.03
    assert delayed_fp.chosen_alpha(params) == (0.03, "the alpha parameter")
    params["alpha"] = None
    results = tmp_path / "03.json"
    params["fisher_penalty_results"] = str(results)
    assert delayed_fp.chosen_alpha(params)[0] == params["alpha_default"]
    results.write_text(json.dumps({"chosen": {"alphas": {"fp": 0.003}}}))
    alpha, source = delayed_fp.chosen_alpha(params)
    assert alpha == 0.003 and "notebook 03" in source


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"start_epochs": [-1]}, ["start_epochs", "≥ 0"]),
        ({"start_epochs": [0, 0]}, ["start_epochs", "repeated"]),
        ({"start_epochs": [0, 3]}, ["start_epochs", "epochs=3"]),  # smoke trains 3 epochs
        ({"start_epochs": "0"}, ["start_epochs", "list"]),
        ({"seeds": []}, ["seeds", "list"]),
        ({"seeds": [0, 0.5]}, ["seeds", "integer"]),
        ({"lr_star": "abc"}, ["lr_star", "number"]),
        ({"baseline_divisor": 1}, ["baseline_divisor", "> 1"]),
        ({"alpha": -1}, ["alpha", "> 0"]),
        ({"alpha_default": 0}, ["alpha_default", "> 0"]),
    ],
)
def test_bad_parameters_are_refused_in_the_first_cell(tmp_path, change, words):
    with pytest.raises(ConfigError) as err:
        execute_parameter_cells("04_delayed_fisher_penalty", tmp_path, **change)
    for w in words:
        assert w in str(err.value)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_eta_star_baseline_and_fp_from_epoch_0_are_notebook_03s_runs(tmp_path, profile):
    # 04 reuses 03's runs from the run store only if every TrainConfig field agrees
    p03, p04 = (
        notebook.resolve_params(nb, {"profile": profile, "output_dir": str(tmp_path)}, trains=False)
        for nb in ("03_fisher_penalty", "04_delayed_fisher_penalty")
    )
    for changes in ({"lr": p04["lr_star"]}, {"regularizer": "fp", "alpha": 0.01}):
        a, b = (p.train_config(seed=1, **changes) for p in (p03, p04))
        assert a.key() == b.key(), {k: v for k, v in a.to_dict().items() if b.to_dict()[k] != v}
