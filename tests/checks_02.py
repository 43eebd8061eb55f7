"""Assertions on notebook 02's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


def check(summary: dict, out: Path) -> None:
    p = summary["params"]
    runs = summary["per_run"]
    sweeps = {(r["sweep"], r["lr"], r["batch size"]) for r in runs}
    assert sweeps == {("learning rate", lr, p["batch_size"]) for lr in p["lr_grid"]} | {
        ("batch size", p["batch_lr"], bs) for bs in p["batch_sizes"]
    }
    assert len(runs) == (len(p["lr_grid"]) + len(p["batch_sizes"])) * len(p["seeds"])
    used = [r for r in runs if r["used"]]
    assert len(used) >= len(runs) - 2, "most smoke runs must cross the loss threshold"
    for r in used:
        assert r["Tr(F_i)"] > 0 and r["Tr(F) lag (steps)"] >= 0
        assert 0 < r["crossing epoch"] <= p["epochs"]
        assert 0 <= r["best test acc (%)"] <= 100 and 0 <= r["max train acc (%)"] <= 100
    # a setting shared by both sweeps is one run, recorded under each sweep
    shared = [r for r in runs if r["lr"] == p["batch_lr"] and r["batch size"] == p["batch_size"]]
    assert len({r["key"] for r in shared}) == len(p["seeds"])
    corr = {(r["runs of"], r["accuracy"], r["over"]): r for r in summary["correlation"]}
    assert {k[0] for k in corr} == {"learning rate", "batch size", "all runs"}
    for r in corr.values():
        assert -1 <= r["pearson"] <= 1 and -1 <= r["spearman"] <= 1
        assert r["pearson CI lo"] <= r["pearson CI hi"]
    n_all = len({r["key"] for r in used})
    assert corr[("all runs", "test", "runs")]["points"] == n_all
    f = summary["findings"]
    head = corr[("all runs", "test", "runs")]
    # the scorecard (notebook 00) reads these two
    assert f["pearson_trace_fisher_vs_test"] == pytest.approx(head["pearson"])
    assert f["pearson_trace_fisher_vs_test_ci"] == pytest.approx(
        [head["pearson CI lo"], head["pearson CI hi"]]
    )
    assert f["negative_association"] == (
        f["pearson_trace_fisher_vs_test"] < 0 and f["pearson_trace_fisher_vs_test_ci"][1] < 0
    )
    groups = summary["groups"]
    assert len(groups) == len(p["lr_grid"]) + len(p["batch_sizes"])
    # Supplement E: Fig. 19 batch sizes, the large batch at half the lr, FP for each α
    supp = summary["supplement_e"]
    assert len(supp) == len(p["e_batch_sizes"]) + 1 + len(p["e_alphas"])
    assert sorted(r["alpha"] for r in supp if r["alpha"] > 0) == sorted(p["e_alphas"])
    assert "e_max_trace_fisher_ratio_large_vs_small" in f and "e_fp_gain_vs_control_pts" in f
    assert len(f["lines"]) >= 6
    assert {
        "fig2_fig7_trace_fisher_i_vs_test.png",
        "fig8_fig9_trace_fisher_i_vs_train.png",
        "fig19_large_batch_trace_fisher.png",
        "fig20_large_batch_fisher_penalty.png",
        "correlation.csv",
    } <= {p.name for p in out.iterdir()}
