"""Assertions on notebook 05's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

METHODS = ["baseline", "mixup", "gpx", "fp", "gpr"]


def check(summary: dict, out: Path) -> None:
    params = summary["params"]
    levels = params["noise_levels"]
    # the realised noise: changed / train examples, about fraction·(1 − 1/C) (a redraw may keep
    # the original label)
    noise = summary["noise"]
    assert [r["noise level"] for r in noise] == levels
    for r in noise:
        assert r["realised fraction"] == pytest.approx(r["changed"] / r["train examples"])
        assert r["relabelled"] == round(r["noise level"] * r["train examples"])
        assert r["changed"] <= r["relabelled"]
        assert r["realised fraction"] == pytest.approx(r["expected fraction"], abs=0.05)
        assert (
            r["realised fraction"]
            == summary["findings"]["realised_noise_fraction"][f"{100 * r['noise level']:g}"]
        )
    # every (level, method, coefficient) ran; one coefficient kept per (level, method): the one
    # of best validation accuracy
    per_run = summary["per_run"]
    grid = sum(len(params["coefficients"].get(m, [0])) for m in METHODS)
    assert len(per_run) == len(levels) * grid == len(summary["run_keys"])
    for level in levels:
        for m in METHODS:
            runs = [r for r in per_run if r["noise level"] == level and r["method"] == m]
            kept = [r for r in runs if r["selected"]]
            assert len(kept) == 1, (level, m)
            ok = [r["best val acc"] for r in runs if r["status"] == "finished"]
            assert kept[0]["best val acc"] == max(ok)
            assert m == "baseline" or kept[0]["coefficient"] in params["coefficients"][m]
    # Table 3 (and 8, 9): one row per noise level, methods as columns, the paper's VGG-11 numbers
    # as labelled reference columns
    table3 = summary["table3"]
    assert [r["noise level"] for r in table3] == levels
    assert [k for k in table3[0] if k in METHODS] == METHODS
    selected = {(r["noise level"], r["method"]): r for r in summary["selected"]}
    for row in table3:
        for m in METHODS:
            assert row[m] == pytest.approx(
                selected[(row["noise level"], m)]["test acc at best val"]
            )
    ref = {r["noise level"]: r for r in table3}
    assert ref[0.25]["paper fp"] == 60.18 and ref[0.5]["paper baseline"] == 30.05
    t8 = {r["noise level"]: r for r in summary["table8"]}
    t9 = {r["noise level"]: r for r in summary["table9"]}
    assert t8[0.25]["paper fp"] == 79.52 and t9[0.25]["paper fp"] == 4.10
    assert t9[0.5]["paper fp"] is None  # the paper reports Tables 8/9 at 25% noise only
    for m in METHODS:
        for t in (t8, t9):
            assert 0 <= t[0.25][m] <= 100
    # the scorecard's number: FP's extra drop in noisy vs clean train accuracy, from Tables 8/9
    f = summary["findings"]
    drop = (t9[0.25]["baseline"] - t9[0.25]["fp"]) - (t8[0.25]["baseline"] - t8[0.25]["fp"])
    assert f["noise_level"] == 0.25
    assert f["noisy_minus_clean_drop_pts"] == pytest.approx(drop)
    assert f["fp_minus_baseline_test_pts"] == pytest.approx(ref[0.25]["fp"] - ref[0.25]["baseline"])
    assert f["fp_minus_mixup_test_pts"] == pytest.approx(ref[0.25]["fp"] - ref[0.25]["mixup"])
    assert set(f["by_noise_level"]) == {"25", "50"}
    assert len(f["lines"]) == 1 + 3 * len(levels) + 2
    # tracked clean / noisy curves: every run measured, cosines in [-1, 1]
    tracked = summary["tracked_summary"]
    assert len(tracked) == len(per_run)
    for r in tracked:
        assert r["measurements"] > 2
        assert -1 <= r["final cosine"] <= 1 and r["final grad-norm ratio clean/noisy"] > 0
        assert not math.isnan(r["early cosine (mean)"])
    files = {p.name for p in out.iterdir()}
    for level in ("25", "50"):
        assert {
            f"fig5_grad_norms_noise{level}.png",
            f"fig5_accuracy_noise{level}.png",
            f"fig12_cosine_noise{level}.png",
        } <= files
    assert {"tracked.csv", "table3.csv", "table8.csv", "table9.csv"} <= files
