"""Assertions on notebook 06's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fisherlab import report, stats

SCORECARD = {"low_early_trace_flatter", "grid_ordering"}
HIGH, LOW = "high regularisation", "low regularisation"


def check(summary: dict, out: Path) -> None:
    p = summary["params"]
    starts = summary["starts"]
    assert sorted((r["start"], r["phase-1 seed"]) for r in starts) == sorted(
        (s, seed) for s in (HIGH, LOW) for seed in p["phase1_seeds"]
    )
    assert all(r["status"] == "finished" and r["Tr(F_i)"] > 0 for r in starts)
    assert all(r["epochs"] == p["phase1_epochs"] for r in starts)
    f_i = {(r["start"], r["phase-1 seed"]): r["Tr(F_i)"] for r in starts}
    cont = summary["continuations"]
    assert len(cont) == 2 * len(p["phase1_seeds"]) * len(p["seeds"])
    for r in cont:
        assert r["status"] == "finished" and r["Tr(H_f)"] == r["Tr(H_f)"]
        assert r["Tr(F_i) of start"] == f_i[(r["start"], r["phase-1 seed"])]
        assert 0 <= r["epoch of best val"] <= p["epochs"] - p["phase1_epochs"]
        assert r["Tr(H) at matched train acc"] == r["Tr(H) at matched train acc"]
        assert r["max running train acc (%)"] >= r["matched train acc (%)"] - 1e-9
    # the comparison: recomputed from the per-run rows, phase-1 runs resampled, then continuations
    low = summary["findings"]["low_trace_fisher_start"]
    means = {s: np.mean([v for (start, _), v in f_i.items() if start == s]) for s in (HIGH, LOW)}
    assert low == min(means, key=means.get)
    a, b = ([r for r in cont if r["start"] == s] for s in (low, HIGH if low == LOW else LOW))
    again = stats.ratio_of_means(
        [r["Tr(H_f)"] for r in a],
        [r["Tr(H_f)"] for r in b],
        clusters=[[r["phase-1 seed"] for r in a], [r["phase-1 seed"] for r in b]],
        n_boot=p["bootstrap"],
    )
    row = next(r for r in summary["comparisons"] if r["statistic"] == "Tr(H_f): ratio")
    assert (row["estimate"], row["lo"], row["hi"]) == pytest.approx(tuple(again))
    assert row["phase-1 runs"] == f"{len(p['phase1_seeds'])} + {len(p['phase1_seeds'])}"
    # Fig. 14's runs, one row each; Fig. 21's panels pooled with everything else
    grid = summary["grid"]
    n_grid = len(p["grid_a"] + p["grid_b"]) * len(p["grid_seeds"])
    assert len(grid) == n_grid and sorted({r["group"] for r in grid}) == ["A", "B"]
    assert all(0 <= r["test acc at best val (%)"] <= 100 for r in grid)
    panels = sum(len(spec["lrs"]) for spec in p["fig21_panels"].values())
    corr = summary["correlation"]
    assert corr["runs"] == len(starts) + len(cont) + n_grid + panels
    assert corr["points"] == len(summary["pairs"]) and corr["ratio_tr_h_over_tr_f"] > 0
    # the scorecard finds every column its claims (and the Tr(H) = Tr(F) check) read
    claims = report.claims_table({"06_curvature_histograms": summary}, "smoke")
    for row in claims[claims.id.isin(SCORECARD)].to_dict("records"):
        assert not row["why"].startswith("not recorded"), row
    checks = report.checks_table({"06_curvature_histograms": summary})
    assert checks.set_index("check").loc["Tr(H) = Tr(F)", "status"] != "not run"
    assert len(summary["findings"]["lines"]) >= 5
    assert {
        "fig6_fig13_curvature_histograms.png",
        "fig14_trace_hessian_grid.png",
        "fig21_trace_hessian_vs_fisher.png",
    } <= {p.name for p in out.iterdir()}
