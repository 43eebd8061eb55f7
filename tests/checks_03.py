"""Assertions on notebook 03's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fisherlab.experiments.fisher_penalty import NAMES


def check(summary: dict, out: Path) -> None:
    seeds = summary["params"]["seeds"]
    methods = [r["method"] for r in summary["methods"]]
    assert methods == ["eta_star", "baseline", "gpx", "gp", "fp", "gpr"]
    assert len(seeds) >= 3  # the smoke run exercises the spreads over ≥ 3 seeds
    assert all(r["seeds"] == len(seeds) for r in summary["methods"])
    assert len(summary["per_run"]) == len(methods) * len(seeds)
    chosen = summary["chosen"]
    assert chosen["lr_star"] in summary["params"]["lr_grid"]
    assert chosen["lr_small"] == pytest.approx(chosen["lr_star"] / 10)
    # FP's α was searched on its grid; the others were fixed by the profile
    assert len(summary["alpha_search"]) == summary["params"]["alpha_grid_points"]
    assert chosen["alphas"]["gp"] == summary["params"]["alphas"]["gp"]
    gaps = {r["method"]: r for r in summary["gaps"]}
    assert gaps["baseline"]["best Δ vs baseline (pts)"] == 0
    assert gaps["fp"]["best Δ vs eta_star (pts)"] == pytest.approx(
        gaps["fp"]["best test (%)"] - gaps["eta_star"]["best test (%)"]
    )
    ref = {r["method"]: r["paper Table 1 test acc (%)"] for r in summary["methods"]}
    assert ref["fp"] == 79.66  # the labelled reference column for SimpleCNN / CIFAR-10
    assert all(-1 <= r["pearson"] <= 1 for r in summary["correlation"])
    assert [r["run"] for r in summary["supplement_c"]] == [
        "FP f=10",
        "FP f=1",
        "FP per-example (eq. 6)",
    ]
    f = summary["findings"]
    assert len(f["lines"]) == 6  # the gap, one line per regulariser, training fit
    train = {r["method"]: r["final train acc"] for r in summary["methods"]}
    assert f["methods_below_95_train"] == [NAMES[m] for m, v in train.items() if v < 95]
    assert {"fig4_fisher_penalty.png", "fig15_trace_fisher_batch.png"} <= {
        p.name for p in out.iterdir()
    }
