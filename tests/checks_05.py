"""Assertions on notebook 05's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fisherlab import report, stats


def check(summary: dict, out: Path) -> None:
    params = summary["params"]
    levels, seeds, methods = params["noise_levels"], params["seeds"], params["methods"]
    grids = {"baseline": [0.0], "mixup": params["beta_grid"], **params["alpha_grids"]}
    per_run = summary["per_run"]
    assert len(per_run) == len(summary["run_keys"])  # every run its own config
    # the search: every coefficient of every grid at the first seed
    search = [r for r in per_run if r["stage"] == "search"]
    assert len(search) == len(levels) * sum(len(grids[m]) for m in methods)
    assert {r["seed"] for r in search} == {seeds[0]}
    # the choice: best validation accuracy among the finished runs of the grid; the chosen
    # coefficient then runs at every seed, and exactly those runs are `selected`
    for c in summary["chosen"]:
        same = [
            r
            for r in per_run
            if r["noise level"] == c["noise level"] and r["method"] == c["method"]
        ]
        finished = [r for r in same if r["stage"] == "search" and r["status"] == "finished"]
        assert c["best val acc"] == max(r["best val acc"] for r in finished)
        kept = [r for r in same if r["selected"]]
        assert {r["coefficient"] for r in kept} == {c["coefficient"]}
        assert sorted(r["seed"] for r in kept) == sorted(seeds)
    # label noise per (level, seed): about fraction·(1 − 1/C) changed
    noise = summary["noise"]
    assert [(r["noise level"], r["seed"]) for r in noise] == [(n, s) for n in levels for s in seeds]
    for r in noise:
        assert r["realised fraction"] == pytest.approx(r["changed"] / r["train examples"])
        assert r["relabelled"] == round(r["noise level"] * r["train examples"])
        assert r["changed"] <= r["relabelled"]
        assert r["realised fraction"] == pytest.approx(r["expected fraction"], abs=0.08)
    # Tables 3, 8, 9: the chosen coefficient's mean over its seeds, recomputed from the rows
    for name, col in (
        ("table3", "test acc at best val"),
        ("table8", "final train acc clean"),
        ("table9", "final train acc noisy"),
    ):
        for t in summary[name]:
            rows = [
                r[col]
                for r in per_run
                if r["selected"] and r["noise level"] == t["noise level"]
                if r["method"] == t["method"] and r["status"] == "finished"
            ]
            assert t["runs"] == len(rows) == len(seeds)
            assert t["mean"] == pytest.approx(np.mean(rows))
            assert all(0 <= v <= 100 for v in rows)  # percent
    ref = {(t["noise level"], t["method"]): t["paper"] for t in summary["table3"]}
    assert ref[(0.25, "fp")] == 60.18 and ref[(0.25, "baseline")] == 41.74
    ref9 = {(t["noise level"], t["method"]): t["paper"] for t in summary["table9"]}
    assert ref9[(0.25, "fp")] == 4.10

    # the memorisation statistic (FP's clean − noisy minus the baseline's), recomputed
    def drops(method: str) -> list[float]:
        return [
            r["final train acc clean"] - r["final train acc noisy"]
            for r in per_run
            if r["selected"] and r["method"] == method and r["noise level"] == levels[0]
        ]

    d = stats.difference_of_means(drops("fp"), drops("baseline"))
    effects = {(e["method"], e["statistic"]): e for e in summary["effects"]}
    assert effects[("fp", "drop")]["estimate"] == pytest.approx(d.estimate)
    assert effects[("fp", "drop")]["lo"] == pytest.approx(d.lo)
    assert {m for m, _ in effects} == set(methods) - {"baseline"}
    for r in per_run:
        assert -1 <= r["early cosine (mean)"] <= 1 and r["grad-norm ratio clean/noisy (mean)"] > 0
        assert r["measurements"] > 2 and not math.isnan(r["final cosine"])
    # the scorecard reads the same rows: each 05 claim is judged, on len(seeds) runs per arm
    rows = report.claims_table({"05_memorization": summary}, "smoke").set_index("id")
    for claim in ("fp_slows_memorisation", "fp_memorisation_test", "grad_norm_ratio"):
        assert rows.loc[claim, "verdict"] != "not run", rows.loc[claim, "why"]
        assert rows.loc[claim, "n"].startswith(f"FP {len(seeds)} · baseline {len(seeds)}")
    assert rows.loc["fp_slows_memorisation", "effect"] == report.fmt(d.estimate, "pts")
    assert summary["findings"]["left_out"] == []
    files = {p.name for p in out.iterdir()}
    for level in levels:
        name = f"{100 * level:g}".replace(".", "_")
        assert {
            f"fig5_methods_noise{name}.png",
            f"fig5_sweep_noise{name}.png",
            f"fig12_cosine_noise{name}.png",
        } <= files
    assert {"tracked.csv", "table3.csv", "table8.csv", "table9.csv", "effects.csv"} <= files
