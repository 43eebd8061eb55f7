"""Assertions on notebook 01's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


def check(summary: dict, out: Path) -> None:
    rows = summary["summary"]
    assert [r["run"].split(" (")[0] for r in rows] == ["η*", "small LR"]
    assert all(r["status"] == "finished" and r["max Tr(F)"] > 0 for r in rows)
    f = summary["findings"]
    assert f["trace_fisher_ratio"] == pytest.approx(rows[1]["max Tr(F)"] / rows[0]["max Tr(F)"])
    gap = 100 * (rows[0]["best test acc"] - rows[1]["best test acc"])
    assert f["best_test_gap_points"] == pytest.approx(gap)
    assert len(f["lines"]) >= 4
    assert {"fig1_fisher_explosion.png", "fig18_early_phase.png", "summary.csv"} <= {
        p.name for p in out.iterdir()
    }
