"""Notebook 05's tables (fisherlab.experiments.memorization), its label noise per seed and its
parameters.

Fast: synthetic run results, no training (the notebook's smoke run is in test_notebooks.py); the
parameter cases run only the notebook's first two cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import execute_parameter_cells

from fisherlab import notebook, reference, stats
from fisherlab.config import ConfigError, TrainConfig
from fisherlab.data import load_arrays, load_splits
from fisherlab.data.loading import DATA_SEED, label_noise
from fisherlab.experiments import memorization as mem
from fisherlab.params import MemorizationParams
from fisherlab.training import RunResult

# (method, coefficient, seed) → (best val, test at best val, clean, noisy final train acc), 25%
NUMBERS = {
    ("baseline", 0.0, 0): (0.50, 0.48, 0.99, 0.90),
    ("baseline", 0.0, 1): (0.51, 0.49, 0.98, 0.88),
    ("baseline", 0.0, 2): (0.49, 0.47, 0.99, 0.92),
    ("mixup", 0.4, 0): (0.52, 0.50, 0.90, 0.40),
    ("fp", 0.01, 0): (0.54, 0.52, 0.95, 0.60),
    ("fp", 0.1, 0): (0.58, 0.57, 0.90, 0.10),  # chosen
    ("fp", 1.0, 0): (0.70, 0.10, 0.10, 0.10),  # diverged: the best val acc, never chosen
    ("fp", 0.1, 1): (0.57, 0.56, 0.91, 0.12),
    ("fp", 0.1, 2): (0.59, 0.58, 0.89, 0.08),
}
DIVERGED = ("fp", 1.0, 0)


def history(coef: float) -> pd.DataFrame:
    rows = []
    for i, step in enumerate(range(0, 60, 10)):
        ratio = 0.5 + coef + 0.02 * i
        for metric, v in (
            ("train_acc_clean", 0.1 + 0.1 * i),
            ("train_acc_noisy", 0.1 + 0.05 * i * (1 - coef)),
            ("grad_norm_clean", 1.0),
            ("grad_norm_noisy", 1.0 / ratio),
            ("grad_norm_ratio_clean_noisy", ratio),
            ("grad_cos_clean_noisy", -0.3 + 0.1 * i - coef),  # negative early
            ("val_acc", 0.1 * i),
            ("trace_fisher", 5.0),
        ):
            rows.append((step, step / 10, metric, v))
    return pd.DataFrame(rows, columns=["step", "epoch", "metric", "value"])


def run(key: tuple[str, float, int], numbers: tuple[float, ...]) -> RunResult:
    _, coef, seed = key
    val, test, clean, noisy = numbers
    cfg = TrainConfig(dataset="synthetic", model="mlp", label_noise=0.25, seed=seed)
    summary = {
        "status": "diverged" if key == DIVERGED else "finished",
        "best_val_acc": val,
        "test_acc_at_best_val": test,
        "best_test_acc": test,
        "final_test_acc": test,
        "final_train_acc": 0.75 * clean + 0.25 * noisy,
        "final_train_acc_clean": clean,
        "final_train_acc_noisy": noisy,
        "max_trace_fisher": 5.0,
        "epochs": 5.0,
    }
    return RunResult(cfg, history(coef), summary)


@pytest.fixture(scope="module")
def tables():
    grid = pd.DataFrame(
        [
            {"noise level": 0.25, "method": m, "coefficient": c, "seed": s}
            | {"stage": "search" if s == 0 else "seeds"}
            for m, c, s in NUMBERS
        ]
    )
    results = [run(k, v) for k, v in NUMBERS.items()]
    per_run = mem.per_run_table(grid, results, early_until=20)
    chosen = mem.choose(per_run[per_run.stage == "search"])
    keys = ["noise level", "method", "coefficient"]
    per_run["selected"] = (
        per_run[keys].merge(chosen[keys], how="left", indicator=True)["_merge"].eq("both")
    )
    return grid, results, per_run, chosen


def test_per_run_table_in_percent_with_the_clean_noisy_numbers(tables):
    _, _, per_run, _ = tables
    base = per_run[(per_run.method == "baseline") & (per_run.seed == 0)].iloc[0]
    assert base["test acc at best val"] == pytest.approx(48)
    assert base["final train acc clean"] == pytest.approx(99)
    assert base[mem.DROP] == pytest.approx(9)
    # cosine at steps 10, 20 (step 0, before any SGD step, left out): −0.2, −0.1
    assert base[mem.COSINE] == pytest.approx(-0.15)
    assert base["early cosine (min)"] == pytest.approx(-0.2)
    assert base[mem.RATIO] == pytest.approx(0.55)  # 0.5 + 0.02 · mean(0…5)
    assert base["measurements"] == 6


def test_choice_by_validation_accuracy_never_takes_a_diverged_run(tables):
    _, _, per_run, chosen = tables
    c = chosen.set_index("method")
    assert c.loc["fp", "coefficient"] == 0.1  # α = 1 had the best val acc but diverged
    assert c.loc["fp", "runner-up"] == 0.01 and c.loc["fp", "finished"] == 2
    assert c.loc["fp", "grid size"] == 3
    assert c.loc["baseline", "coefficient"] == 0.0
    kept = per_run[per_run.selected]
    assert sorted(kept[kept.method == "fp"].seed) == [0, 1, 2]
    assert not per_run[per_run.coefficient == 1.0].selected.any()


def test_a_method_whose_runs_all_diverged_has_no_choice():
    search = pd.DataFrame(
        {
            "noise level": [0.25, 0.25],
            "method": ["fp", "fp"],
            "coefficient": [0.1, 1.0],
            "status": ["diverged", "diverged"],
            "best val acc": [10.0, 20.0],
        }
    )
    c = mem.choose(search).iloc[0]
    assert np.isnan(c["coefficient"]) and c["finished"] == 0


def test_tables_3_8_9_average_the_chosen_runs_and_carry_the_paper(tables):
    _, _, per_run, _ = tables
    table = mem.method_table(per_run, "test acc at best val", "VGG-11 / CIFAR-100")
    t3 = table.set_index("method")
    assert list(t3.index) == ["baseline", "mixup", "fp"]  # Table 3's order
    assert t3.loc["fp", "mean"] == pytest.approx(57) and t3.loc["fp", "runs"] == 3
    assert t3.loc["fp", "std"] == pytest.approx(1.0)
    assert np.isnan(t3.loc["mixup", "std"])  # one run
    assert t3.loc["fp", "paper"] == 60.18
    t9 = mem.method_table(per_run, "final train acc noisy", "VGG-11 / CIFAR-100")
    assert t9.set_index("method").loc["fp", "paper"] == 4.10
    wide = mem.wide_table(table)
    assert list(wide.columns) == [
        "noise level",
        "baseline",
        "mixup",
        "fp",
        "paper baseline",
        "paper mixup",
        "paper fp",
    ]
    # a setting the paper does not have: the reference column stays empty, never invented
    other = mem.method_table(per_run, "test acc at best val", "SimpleCNN / CIFAR-10")
    assert other.paper.isna().all()
    assert np.isnan(mem.paper_value(reference.TABLE8_FINAL_TRAIN_ACC_CLEAN, None, 0.5, "fp"))


def test_effects_recompute_the_memorisation_statistic_over_runs(tables):
    _, _, per_run, _ = tables
    e = mem.effects(per_run, 0.25).set_index(["method", "statistic"])
    fp_drops = [95 - 60, 90 - 10, 91 - 12, 89 - 8][1:]  # the chosen α = 0.1 at seeds 0, 1, 2
    base_drops = [99 - 90, 98 - 88, 99 - 92]
    d = stats.difference_of_means(fp_drops, base_drops)
    assert e.loc[("fp", "drop"), "estimate"] == pytest.approx(d.estimate)  # ≈ 71 points
    assert e.loc[("fp", "drop"), ["lo", "hi"]].tolist() == pytest.approx([d.lo, d.hi])
    assert e.loc[("fp", "drop"), "lo"] > 0 and e.loc[("fp", "drop"), "runs"] == 3
    assert e.loc[("fp", "test"), "estimate"] == pytest.approx(57 - 48)
    # mixup has one run: an estimate, no interval
    assert np.isnan(e.loc[("mixup", "drop"), "lo"])
    # FP's α = 0.1 moves the ratio up by 0.1 and the cosine down by 0.1 (the synthetic history)
    assert e.loc[("fp", "ratio"), "estimate"] == pytest.approx(0.1)
    assert e.loc[("fp", "cosine"), "estimate"] == pytest.approx(-0.1)


def test_a_diverged_run_is_left_out_of_every_statistic_and_named(tables):
    _, _, per_run, _ = tables
    # make FP's chosen run at seed 2 diverge with a value that would reverse the claim
    broken = per_run.copy()
    i = broken.index[(broken.method == "fp") & (broken.coefficient == 0.1) & (broken.seed == 2)]
    broken.loc[i, "status"] = "diverged"
    broken.loc[i, mem.DROP] = -500.0
    e = mem.effects(broken, 0.25).set_index(["method", "statistic"])
    assert e.loc[("fp", "drop"), "runs"] == 2
    assert e.loc[("fp", "drop"), "estimate"] == pytest.approx(
        np.mean([80, 79]) - np.mean([9, 10, 7])
    )
    t3 = mem.method_table(broken, "test acc at best val").set_index("method")
    assert t3.loc["fp", "runs"] == 2
    named = [mem.describe(r) for r in broken.to_dict("records") if r["status"] != "finished"]
    assert named == ["FP α=1 seed 0 at 25% noise", "FP α=0.1 seed 2 at 25% noise"]


def test_tracked_curves_keep_each_runs_grid_columns(tables):
    grid, results, _, _ = tables
    tracked = mem.tracked_curves(grid, results)
    assert set(tracked.metric) == set(mem.TRACKED)  # trace_fisher is not a clean/noisy curve
    assert len(tracked) == len(grid) * 6 * len(mem.TRACKED)
    fp = tracked[(tracked.method == "fp") & (tracked.seed == 1)]
    assert set(fp.coefficient) == {0.1}


def test_paper_reference_numbers():
    t3 = reference.TABLE3_LABEL_NOISE_TEST_ACC["VGG-11 / CIFAR-100"]
    # "improving test accuracy by up to 21.28%" (Section 4.1)
    assert t3[0.5]["fp"] - t3[0.5]["baseline"] == pytest.approx(21.28)
    assert list(t3[0.25]) == list(mem.METHOD_ORDER)


# -- the label noise follows each run's seed ---------------------------------------------------

SYNTHETIC = {"train_size": 300, "test_size": 40, "image_size": 8, "num_classes": 10}


def splits(**options):
    return load_splits(
        "synthetic",
        val_size=50,
        label_noise_fraction=0.5,
        data_options={**SYNTHETIC, **options},
    )


def test_label_noise_is_drawn_per_seed_and_unchanged_without_one():
    a, b, again = splits(label_noise_seed=0), splits(label_noise_seed=1), splits(label_noise_seed=0)
    assert not torch.equal(a.noise_mask, b.noise_mask)
    assert torch.equal(a.noise_mask, again.noise_mask)
    assert torch.equal(a.val_labels, b.val_labels)  # the split itself does not move
    # no label_noise_seed: the fixed draw every earlier run trained with
    fixed = splits()
    clean = load_splits("synthetic", val_size=50, data_options=SYNTHETIC)
    want, mask = label_noise(clean.train_labels.numpy(), 0.5, 10, DATA_SEED + 2)
    assert torch.equal(fixed.train_labels, torch.from_numpy(want))
    assert torch.equal(fixed.noise_mask, torch.from_numpy(mask))
    assert not torch.equal(fixed.noise_mask, a.noise_mask)
    # the option is the splits', not the dataset's
    assert len(load_arrays("synthetic", **SYNTHETIC, label_noise_seed=3).train_labels) == 300
    with pytest.raises(ConfigError, match="label_noise_seed"):
        splits(label_noise_seed=-1)


@pytest.fixture
def params(tmp_path):
    return notebook.resolve_params(
        "05_memorization", {"profile": "smoke", "output_dir": str(tmp_path)}, trains=False
    )


def test_noise_report_per_seed_gives_the_realised_fraction(params):
    report = mem.noise_report(params, [0, 1])
    assert report[["noise level", "seed"]].values.tolist() == [[0.25, 0], [0.25, 1]]
    for r in report.to_dict("records"):
        n = r["train examples"]
        assert r["relabelled"] == round(0.25 * n) and r["realised fraction"] == r["changed"] / n
        assert 0 < r["changed"] <= r["relabelled"]
    pd.testing.assert_frame_equal(report, mem.noise_report(params, [0, 1]))
    params["noise_levels"] = [0.0]
    assert mem.noise_report(params, [0])["changed"].tolist() == [0]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"noise_levels": [1.2]}, ["noise_levels", "[0, 1)"]),
        ({"noise_levels": []}, ["noise_levels", "list"]),
        ({"noise_levels": [0.25, 0.25]}, ["noise_levels", "repeated"]),
        ({"methods": ["nosuch"]}, ["methods", "baseline", "gpr"]),
        ({"methods": ["fp", "fp"]}, ["methods", "repeated"]),
        ({"seeds": [-1]}, ["seeds", "≥ 0"]),
        ({"lr": "abc"}, ["lr", "number"]),
        ({"beta_grid": [-0.4]}, ["beta_grid", "> 0"]),
        ({"beta_grid": []}, ["beta_grid", "list"]),
        ({"alpha_grids": {"fp": [0.0], "gpx": [1.0], "gpr": [0.1]}}, ["alpha_grids", "fp"]),
        ({"alpha_grids": {"fp": "abc", "gpx": [1.0], "gpr": [0.1]}}, ["alpha_grids", "list"]),
        ({"alpha_grids": {"gp": [0.1]}}, ["alpha_grids", "gpx", "gpr"]),
        ({"alpha_grids": {"fp": [0.1]}}, ["alpha_grids", "gpx", "gpr"]),  # methods need grids
        ({"paper_setting": "nosuch"}, ["paper_setting", "VGG-11 / CIFAR-100"]),
        ({"coefficients": {"fp": [0.1]}}, ["coefficients", "valid parameters"]),  # old name
        ({"label_noise": 0.2}, ["label_noise", "valid parameters"]),  # set via noise_levels
    ],
)
def test_bad_parameters_are_refused_in_the_first_cell(tmp_path, change, words):
    with pytest.raises(ConfigError) as err:
        execute_parameter_cells("05_memorization", tmp_path, **change)
    for w in words:
        assert w in str(err.value)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def test_a_method_without_its_grid_is_refused():
    good = {"lr": 0.1, "seeds": [0], "noise_levels": [0.25], "methods": ["baseline", "mixup"]}
    with pytest.raises(ConfigError, match="beta_grid must list mixup"):
        MemorizationParams.parse(good)
    assert MemorizationParams.parse({**good, "beta_grid": [0.4]}).beta_grid == [0.4]
    with pytest.raises(ConfigError, match="alpha_grids has no grid for fp"):
        MemorizationParams.parse({**good, "methods": ["fp"]})
