"""Assertions on notebook 04's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

# parameters the smoke test sets beyond the smoke profile
EXTRA_PARAMS = {"alpha": 0.01}


def check(summary: dict, out: Path) -> None:
    assert [r["start epoch"] for r in summary["starts"]] == summary["params"]["start_epochs"]
    assert summary["chosen"]["alpha"] == 0.01
    assert set(summary["references"]) == {"eta_star", "baseline"}
    f = summary["findings"]
    assert -1 <= f["spearman_start_vs_final_test"] <= 1 and len(f["lines"]) == 4
    assert (out / "fig3_delayed_fisher_penalty.png").exists()
