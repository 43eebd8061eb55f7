"""Assertions on notebook 06's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def check(summary: dict, out: Path) -> None:
    p = summary["params"]
    starts = {r["start"]: r for r in summary["starts"]}
    assert set(starts) == {"high regularisation", "low regularisation"}
    assert all(r["status"] == "finished" and r["Tr(F_i)"] > 0 for r in starts.values())
    assert all(r["epochs"] == p["phase1_epochs"] for r in starts.values())
    cont = summary["continuations"]
    assert len(cont) == 2 * len(p["seeds"])
    for r in cont:
        assert r["status"] == "finished" and r["Tr(H_f)"] > 0
        assert r["Tr(F_i) of start"] == starts[r["start"]]["Tr(F_i)"]
        assert 0 <= r["epoch of best"] <= p["epochs"] - p["phase1_epochs"]
    f = summary["findings"]
    low = min(starts, key=lambda s: starts[s]["Tr(F_i)"])
    assert f["low_trace_fisher_start"] == low
    mean = {s: np.mean([r["Tr(H_f)"] for r in cont if r["start"] == s]) for s in starts}
    high = next(s for s in starts if s != low)
    # the scorecard (notebook 00) reads these three
    assert f["trace_hessian_difference"] == pytest.approx(mean[low] - mean[high])
    lo, hi = f["trace_hessian_difference_ci"]
    assert lo <= f["trace_hessian_difference"] <= hi
    assert -1 <= f["pearson_trace_hessian_vs_fisher"] <= 1
    assert f["low_start_flatter"] == (f["trace_hessian_difference"] < 0 and hi < 0)
    corr = summary["correlation"]
    n_runs = 2 + len(cont) + len(p["grid_a"] + p["grid_b"]) * len(p["grid_seeds"])
    assert corr["runs"] == n_runs and corr["points"] == len(summary["pairs"])
    grid = summary["grid"]
    assert sorted(r["group"] for r in grid) == ["A"] * len(p["grid_a"]) + ["B"] * len(p["grid_b"])
    assert len(f["lines"]) == 5
    assert {
        "fig6_fig13_curvature_histograms.png",
        "fig14_trace_hessian_grid.png",
        "fig21_trace_hessian_vs_fisher.png",
    } <= {p.name for p in out.iterdir()}
