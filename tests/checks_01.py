"""Assertions on notebook 01's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def check(summary: dict, out: Path) -> None:
    per_run = summary["per_run"]
    seeds, horizons = summary["params"]["seeds"], summary["params"]["horizons"]
    assert len(per_run) == 2 * len(seeds) * len(horizons)
    assert {r["arm"] for r in per_run} == {"η*", "small LR"}
    assert all(r["status"] == "finished" and r["max Tr(F)"] > 0 for r in per_run)
    assert all(r["early max Tr(F)"] <= r["max Tr(F)"] for r in per_run)
    gaps = {g["horizon (epochs)"]: g for g in summary["gaps"]}
    assert sorted(gaps) == sorted(horizons)
    for h, g in gaps.items():
        arm = {
            a: [100 * r["final test acc"] for r in per_run if r["horizon"] == h and r["arm"] == a]
            for a in ("η*", "small LR")
        }
        assert g["runs η*"] == len(seeds) == g["runs small LR"]
        assert g["final gap (pts)"] == pytest.approx(np.mean(arm["η*"]) - np.mean(arm["small LR"]))
        assert g["final gap lo"] <= g["final gap (pts)"] <= g["final gap hi"]
        assert g["early ratio lo"] <= g["early Tr(F) ratio"] <= g["early ratio hi"]
        for arm in ("η*", "small LR"):
            got = [r["max Tr(F)"] for r in per_run if r["horizon"] == h and r["arm"] == arm]
            assert g[f"max Tr(F) {arm}"] == pytest.approx(np.mean(got))
        assert g["max Tr(F) ratio"] == pytest.approx(g["max Tr(F) small LR"] / g["max Tr(F) η*"])
    # the η* check: every lr at the longest horizon for the first seed, the best by validation
    grid = summary["params"]["lr_grid"] or []
    search = summary["lr_search"]
    lrs = [summary["params"]["lr_small"], *grid, summary["params"]["lr_star"]]
    assert sorted(r["lr"] for r in search) == sorted(lrs)
    best = max(search, key=lambda r: r["best val acc (%)"])
    lines = summary["findings"]["lines"]
    off_arms = best["lr"] not in (lrs[0], lrs[-1])  # a grid value beats both arms
    assert len(lines) == len(horizons) + 5 + bool(summary["findings"]["diverged"]) + off_arms
    (line,) = [line for line in lines if line.startswith("Grid search at ")]
    assert f"{best['lr']:g} is the best of" in line
    assert line.endswith("lr_star is the grid optimum.") == (best["lr"] == lrs[-1])
    against = [line for line in lines if line.startswith("The grid optimum ")]
    assert len(against) == off_arms
    if off_arms:
        small = next(r for r in search if r["lr"] == lrs[0])
        assert (
            f"{best['test acc at best val (%)']:.2f}% against "
            f"{small['test acc at best val (%)']:.2f}%" in against[0]
        )
    # "whether and when": the shortest horizon whose final-gap CI excludes 0, else none
    called = [h for h, g in gaps.items() if g["final gap lo"] > 0 or g["final gap hi"] < 0]
    (when,) = [line for line in lines if line.startswith("Whether and when the gap appears (final")]
    if called:
        assert f"first excludes 0 at {min(called)} epochs" in when
        assert f"excludes 0 at {', '.join(str(h) for h in sorted(called))} of" in when
    else:
        assert f"includes 0 at every horizon up to {max(horizons)} epochs" in when
    assert any(line.startswith(f"Compute: {len(per_run) + len(grid)} runs, ") for line in lines)
    figures = "fig1_fisher_explosion fig18_early_phase gap_vs_horizon accuracy_vs_horizon"
    assert {f"{f}.png" for f in figures.split()} <= {p.name for p in out.iterdir()}
