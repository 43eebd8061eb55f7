"""Notebook 05's experiment module: selection, Tables 3/8/9, findings, noise report, bad inputs.

Fast: synthetic run results, no training (the notebook's smoke run is in test_notebooks.py);
the papermill cases at the end only validate parameters.
"""

from __future__ import annotations

import time

import matplotlib
import numpy as np
import pandas as pd
import papermill as pm
import pytest
from conftest import execute

from fisherlab import notebook, reference
from fisherlab.config import ConfigError, TrainConfig
from fisherlab.experiments import memorization as mem
from fisherlab.training import RunResult

matplotlib.use("Agg")

# (noise, method, coefficient) → (best val, test at best val, clean, noisy final train acc)
NUMBERS = {
    (0.25, "baseline", 0.0): (0.50, 0.48, 0.99, 0.90),
    (0.25, "mixup", 0.4): (0.52, 0.50, 0.90, 0.40),
    (0.25, "mixup", 3.2): (0.55, 0.53, 0.85, 0.20),
    (0.25, "fp", 0.01): (0.54, 0.52, 0.95, 0.60),
    (0.25, "fp", 0.1): (0.58, 0.57, 0.90, 0.10),  # chosen: FP drops noisy 80 pts, clean 9
    (0.25, "fp", 1.0): (0.70, 0.10, 0.10, 0.10),  # diverged: never chosen
    (0.5, "baseline", 0.0): (0.40, 0.38, 0.97, 0.80),
    (0.5, "fp", 0.1): (0.45, 0.44, 0.85, 0.20),
}


def history(noise: float, coef: float) -> pd.DataFrame:
    rows = []
    for i, step in enumerate(range(0, 60, 10)):
        cos = -0.3 + 0.1 * i - coef  # negative early
        ratio = 0.5 + coef + 0.02 * i
        for metric, v in (
            ("train_acc_clean", 0.1 + 0.1 * i),
            ("train_acc_noisy", 0.1 + 0.05 * i * (1 - coef)),
            ("grad_norm_clean", 1.0),
            ("grad_norm_noisy", 1.0 / ratio),
            ("grad_norm_ratio_clean_noisy", ratio),
            ("grad_cos_clean_noisy", cos),
            ("val_acc", 0.1 * i),
            ("trace_fisher", 5.0),
        ):
            rows.append((step, step / 10, metric, v))
    return pd.DataFrame(rows, columns=["step", "epoch", "metric", "value"])


def fake_study() -> mem.Study:
    runs = {}
    for (noise, m, c), (val, test, clean, noisy) in NUMBERS.items():
        cfg = TrainConfig(
            dataset="synthetic",
            model="mlp",
            label_noise=noise,
            regularizer=mem.REGULARIZER[m],
            alpha=c,
        )
        summary = {
            "status": "diverged" if c == 1.0 else "finished",
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
        runs[(noise, m, c)] = RunResult(cfg, history(noise, c), summary)
    noise = pd.DataFrame(
        [
            {
                "noise level": n,
                "train examples": 1000,
                "classes": 10,
                "relabelled": round(n * 1000),
                "changed": round(n * 900),
                "realised fraction": round(n * 900) / 1000,
                "expected fraction": n * 0.9,
            }
            for n in (0.25, 0.5)
        ]
    )
    return mem.Study(runs, noise)


@pytest.fixture(scope="module")
def tables():
    study = fake_study()
    per_run = mem.per_run_table(study)
    selected = mem.selected_table(per_run, "VGG-11 / CIFAR-100")
    tracked = mem.tracked_curves(study)
    return study, per_run, selected, tracked


def test_selection_by_validation_accuracy_skips_diverged_runs(tables):
    _, per_run, selected, _ = tables
    kept = per_run[per_run.selected]
    assert len(kept) == 5  # one per (noise level, method)
    fp25 = kept[(kept["noise level"] == 0.25) & (kept.method == "fp")]
    assert fp25.coefficient.tolist() == [0.1]  # α 1.0 had the best val acc but diverged
    row = selected[(selected["noise level"] == 0.25) & (selected.method == "mixup")].iloc[0]
    assert row["coefficient"] == 3.2 and row["test acc at best val"] == pytest.approx(53)
    assert row["grid size"] == 2


def test_selection_when_every_run_of_a_method_diverged():
    per_run = pd.DataFrame(
        {
            "noise level": [0.25, 0.25],
            "method": ["fp", "fp"],
            "coefficient": [0.1, 1.0],
            "status": ["diverged", "diverged"],
            "best val acc": [10.0, 20.0],
        }
    )
    out = mem.select(per_run)
    assert not out.selected.any()
    cols = ["test acc at best val", "final train acc clean", "final train acc noisy"]
    per_run = per_run.assign(**{c: np.nan for c in [*cols, "final train acc", "max Tr(F)"]})
    sel = mem.selected_table(mem.select(per_run), None)
    assert sel.status.tolist() == ["diverged"] and np.isnan(sel["test acc at best val"].iloc[0])


def test_table3_and_tables_8_9_carry_the_paper_as_labelled_columns(tables):
    _, _, selected, _ = tables
    t3 = mem.wide_table(selected, "test acc at best val", "paper Table 3 test acc (%)")
    assert t3["noise level"].tolist() == [0.25, 0.5]
    assert [c for c in t3.columns if not c.startswith("paper")] == [
        "noise level",
        "baseline",
        "mixup",
        "fp",
    ]
    r25, r50 = t3.iloc[0], t3.iloc[1]
    assert r25["fp"] == pytest.approx(57) and np.isnan(r50["mixup"])  # mixup not run at 50%
    assert r25["paper fp"] == 60.18 and r50["paper baseline"] == 30.05
    t9 = mem.wide_table(
        selected, "final train acc noisy", "paper Table 9 final train acc noisy (%)"
    )
    assert t9.iloc[0]["paper fp"] == 4.10 and np.isnan(t9.iloc[1]["paper fp"])  # 25% only
    assert t9.iloc[0]["fp"] == pytest.approx(10)
    # a setting the paper does not have: reference columns stay empty, never invented
    other = mem.selected_table(mem.per_run_table(fake_study()), "SimpleCNN / CIFAR-10")
    assert other["paper Table 3 test acc (%)"].isna().all()


def test_paper_reference_numbers():
    t3 = reference.TABLE3_LABEL_NOISE_TEST_ACC["VGG-11 / CIFAR-100"]
    # "improving test accuracy by up to 21.28%" (Section 4.1)
    assert t3[0.5]["fp"] - t3[0.5]["baseline"] == pytest.approx(21.28)
    assert list(t3[0.25]) == list(mem.METHODS)
    assert np.isnan(mem.paper_value(reference.TABLE3_LABEL_NOISE_TEST_ACC, None, 0.25, "fp"))
    assert mem._paper_drop("VGG-11 / CIFAR-100", 0.25) == pytest.approx(
        (99.56 - 4.10) - (99.79 - 79.52)
    )


def test_findings_compute_the_extra_drop_on_noisy_examples(tables):
    study, _, selected, tracked = tables
    summary = mem.tracked_summary(tracked, early_until=20)
    f = mem.findings(selected, study.noise, summary, "VGG-11 / CIFAR-100")
    # baseline → FP: noisy 90 → 10 (−80), clean 99 → 90 (−9): 71 points more on noisy
    assert f["noisy_minus_clean_drop_pts"] == pytest.approx(71)
    assert f["fp_noisy_drop_pts"] == pytest.approx(80)
    assert f["fp_clean_drop_pts"] == pytest.approx(9)
    assert f["fp_minus_baseline_test_pts"] == pytest.approx(9)
    assert f["fp_minus_mixup_test_pts"] == pytest.approx(4)
    assert f["noise_level"] == 0.25
    assert f["by_noise_level"]["50"]["noisy_minus_clean_drop_pts"] == pytest.approx(48)
    assert "fp_minus_mixup_test_pts" not in f["by_noise_level"]["50"]
    assert f["realised_noise_fraction"] == {"25": 0.225, "50": 0.45}
    text = "\n".join(f["lines"])
    assert "71.00 points more" in text and "slows memorisation" in text
    assert "paper, VGG-11 / CIFAR-100: +75.19" in text
    assert "1,000 training labels" in text and "225 changed" in text
    assert f["negative_early_cosine_runs"] == f["early_cosine_runs"] == 6  # 25% noise
    # mean clean/noisy ratio: baseline 0.55; FP 0.56, 0.65, 1.55 (α 0.01, 0.1, 1): all closer to 1
    assert f["baseline_grad_norm_ratio"] == pytest.approx(0.55)
    assert f["fp_grad_norm_ratio"] == pytest.approx([0.56, 0.65, 1.55])
    assert "closer to 1 than the baseline's for 3 of 3 FP coefficients" in text


def test_findings_leave_diverged_runs_out_of_the_gradient_statistics(tables):
    study, per_run, selected, tracked = tables
    summary = mem.tracked_summary(tracked, early_until=20, per_run=per_run)
    assert summary.loc[summary.coefficient == 1.0, "status"].eq("diverged").all()
    f = mem.findings(selected, study.noise, summary, "VGG-11 / CIFAR-100")
    assert f["fp_grad_norm_ratio"] == pytest.approx([0.56, 0.65])  # α = 1 diverged
    assert f["early_cosine_runs"] == 5
    text = "\n".join(f["lines"])
    assert "closer to 1 than the baseline's for 2 of 2 FP coefficients" in text
    assert "diverged: FP α=1" in text


def test_findings_say_so_when_fp_does_not_slow_memorisation(tables):
    _, _, selected, _ = tables
    s = selected.copy()
    fp = (s.method == "fp") & (s["noise level"] == 0.25)
    s.loc[fp, "final train acc noisy"] = 95.0  # FP memorises more than the baseline
    f = mem.findings(s, pd.DataFrame(), pd.DataFrame())
    assert f["noisy_minus_clean_drop_pts"] == pytest.approx(-5 - 9)
    assert any("does not slow memorisation" in line for line in f["lines"])
    # without FP there is no claim to make, and no number
    f = mem.findings(s[s.method != "fp"], pd.DataFrame(), pd.DataFrame())
    assert "noisy_minus_clean_drop_pts" not in f


def test_tracked_summary_and_figures(tables):
    _, _, _, tracked = tables
    assert set(tracked.metric) == set(mem.TRACKED)
    s = mem.tracked_summary(tracked, early_until=20).set_index(["noise level", "method"])
    base = s.loc[(0.25, "baseline")]
    # cosine at steps 10, 20: −0.2, −0.1 (step 0 excluded); ratio mean 0.5 + 0.02·2.5
    assert base["early cosine (mean)"] == pytest.approx(-0.15)
    assert base["early cosine (min)"] == pytest.approx(-0.2)
    assert base["grad-norm ratio clean/noisy (mean)"] == pytest.approx(0.55)
    assert base["final probe train acc clean (%)"] == pytest.approx(60)
    for fig in (
        mem.grad_norm_figure(tracked, 0.25),
        mem.accuracy_figure(tracked, 0.25),
        mem.cosine_figure(tracked, 0.25),
    ):
        assert len(fig.axes) >= 2
        matplotlib.pyplot.close(fig)
    # without label noise nothing is measured on clean / noisy probes: empty panels, no error
    only_val = tracked[tracked.metric == "val_acc"]
    for draw in (mem.grad_norm_figure, mem.accuracy_figure, mem.cosine_figure):
        matplotlib.pyplot.close(draw(only_val, 0.25))
    assert mem.tracked_summary(only_val, 20)["measurements"].eq(0).all()
    pal = mem.coefficient_palette([0.1, 0.01, 1.0])
    assert list(pal) == [0.01, 0.1, 1.0] and pal[0.01] != pal[1.0]


@pytest.fixture
def params(tmp_path):
    return notebook.resolve_params(
        "05_memorization", {"profile": "smoke", "output_dir": str(tmp_path)}, trains=False
    )


def test_configs_of_every_run(params):
    mem.check(params)
    keys = mem.planned_runs(params)
    assert len(keys) == 2 * (1 + 2 + 2 + 2 + 2)
    cfg = mem.method_config(params, 0.25, "mixup", 3.2)
    assert (cfg.regularizer, cfg.alpha, cfg.label_noise) == ("mixup", 3.2, 0.25)
    cfg = mem.method_config(params, 0.5, "baseline", 0.0)
    assert (cfg.regularizer, cfg.alpha, cfg.weight_decay) == ("none", 0.0, 0.0)
    assert len({mem.method_config(params, *k).key() for k in keys}) == len(keys)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"noise_levels": [1.2]}, ["noise_levels", "[0, 1)"]),
        ({"noise_levels": [-0.1]}, ["noise_levels"]),
        ({"noise_levels": []}, ["noise_levels"]),
        ({"noise_levels": [0.25, 0.25]}, ["noise_levels", "twice"]),
        ({"methods": ["nosuch"]}, ["methods", "baseline", "gpr"]),
        ({"methods": []}, ["methods"]),
        ({"coefficients": {"fp": [0.0]}}, ["coefficients", "fp"]),
        ({"coefficients": {"fp": [0.1], "gp": [0.1]}}, ["coefficients", "gp"]),
        ({"coefficients": {"mixup": [0.4]}}, ["coefficients", "gpx"]),  # no grid for gpx
    ],
)
def test_check_rejects_bad_inputs(params, change, words):
    params.update(change)
    with pytest.raises(ConfigError) as err:
        mem.check(params)
    for w in words:
        assert w in str(err.value)


def test_noise_report_is_deterministic_and_gives_the_realised_fraction(params):
    a, b = mem.noise_report(params), mem.noise_report(params)
    pd.testing.assert_frame_equal(a, b)
    for r in a.to_dict("records"):
        assert r["train examples"] == 1000 and r["relabelled"] == round(r["noise level"] * 1000)
        assert r["realised fraction"] == r["changed"] / 1000
        assert 0 < r["changed"] <= r["relabelled"]
        # a redraw keeps the label with probability 1/10
        assert r["realised fraction"] == pytest.approx(0.9 * r["noise level"], abs=0.04)
    params["noise_levels"] = [0.0]
    assert mem.noise_report(params)["changed"].tolist() == [0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"noise_levels": [1.2]}, ["noise_levels", "[0, 1)"]),
        ({"methods": ["nosuch"]}, ["methods", "baseline", "mixup"]),
        ({"label_noise": 0.2}, ["label_noise", "valid parameters"]),  # set via noise_levels
    ],
)
def test_bad_parameters_fail_fast_in_the_notebook(tmp_path, params, expected):
    started = time.perf_counter()
    with pytest.raises(pm.PapermillExecutionError) as err:
        execute("05_memorization", tmp_path, **params)
    assert time.perf_counter() - started < 30
    assert "ConfigError" in err.value.ename
    for word in expected:
        assert word in err.value.evalue
    assert not (tmp_path / "runs").exists()
