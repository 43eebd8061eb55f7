"""Assertions on notebook 02's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fisherlab import report, stats

SCORECARD = {"early_trace_lr", "early_trace_batch", "large_batch_explosion", "large_batch_fp"}


def check(summary: dict, out: Path) -> None:
    p = summary["params"]
    runs = summary["per_run"]
    assert len(runs) == (len(p["lr_grid"]) + len(p["batch_sizes"])) * len(p["seeds"])
    assert {(r["sweep"], r["lr"], r["batch size"]) for r in runs} == {
        ("learning rate", lr, p["batch_size"]) for lr in p["lr_grid"]
    } | {("batch size", p["batch_lr"], bs) for bs in p["batch_sizes"]}
    used = [r for r in runs if r["used"]]
    assert len(used) >= len(runs) - 2, "most smoke runs must cross the loss threshold"
    for r in used:
        assert r["status"] == "finished" and r["Tr(F_i)"] > 0 and r["Tr(F) lag (steps)"] >= 0
        assert 0 < r["crossing epoch"] <= p["epochs"]
        for col in ("test acc at best val (%)", "best test acc (%)", "max train acc (%)"):
            assert 0 <= r[col] <= 100, col
    # a setting shared by both sweeps is one run, recorded under each sweep
    shared = [r for r in runs if r["lr"] == p["batch_lr"] and r["batch size"] == p["batch_size"]]
    assert len({r["key"] for r in shared}) == len(p["seeds"])
    # the correlation table: recomputed from the per-run rows, settings resampled, then seeds
    corr = {(r["runs of"], r["accuracy"]): r for r in summary["correlation"]}
    assert {k[0] for k in corr} == {"learning rate", "batch size", "all runs"}
    lr = [r for r in used if r["sweep"] == "learning rate"]
    x = [r["Tr(F_i)"] for r in lr]
    y = [r["test acc at best val (%)"] for r in lr]
    setting = np.array([r["setting"] for r in lr])
    again = stats.correlation(x, y, clusters=setting, n_boot=p["bootstrap"], seed=0)
    row = corr[("learning rate", "test at best val")]
    assert (row["pearson"], row["pearson lo"], row["pearson hi"]) == pytest.approx(tuple(again))
    assert row["runs"] == len(lr) and row["settings"] == len(p["lr_grid"])
    assert corr[("all runs", "test at best val")]["runs"] == len({r["key"] for r in used})
    assert len(summary["groups"]) == len(p["lr_grid"]) + len(p["batch_sizes"])
    # Supplement E: every arm at every seed, FP's α searched at the first seed
    supp = summary["supplement_e"]
    arms = {a: [r for r in supp if r["arm"] == a] for a in {r["arm"] for r in supp}}
    seeds = sorted(p["e_seeds"])
    for a in ("small_batch", "large_batch", "large_batch_half_lr", "large_batch_fp"):
        assert sorted(r["seed"] for r in arms[a]) == seeds, a
    searched = arms["large_batch_fp"][:1] + arms.get("large_batch_fp_search", [])
    assert sorted(r["alpha"] for r in searched) == sorted(p["e_alphas"])
    alpha = summary["findings"]["e_alpha"]
    assert {r["alpha"] for r in arms["large_batch_fp"]} == {alpha}
    assert alpha == max(searched, key=lambda r: r["best val acc (%)"])["alpha"]
    # the scorecard finds every column its claims on notebook 02 read
    claims = report.claims_table({"02_early_phase_correlation": summary}, "smoke")
    for row in claims[claims.id.isin(SCORECARD)].to_dict("records"):
        assert not row["why"].startswith("not recorded"), row
    assert len(summary["findings"]["lines"]) >= 5
    assert {
        "fig2_fig7_fig8_fig9_trace_fisher_i.png",
        "early_phase_trace_fisher.png",
        "fig19_large_batch_trace_fisher.png",
        "fig20_large_batch_fisher_penalty.png",
        "correlation.csv",
        "supplement_e.csv",
    } <= {p.name for p in out.iterdir()}
