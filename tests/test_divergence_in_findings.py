"""A diverged arm never feeds a ratio, gap or verdict (issue 13): notebook 01 with η* forced to
diverge names the runs, leaves them out of every statistic and calls the horizon inconclusive;
the scorecard's arm comparison drops them too."""

from __future__ import annotations

import json
import math

import pytest
from conftest import execute


@pytest.mark.slow
def test_notebook_01_with_a_diverging_arm(tmp_path):
    _, out = execute("01_fisher_explosion", tmp_path, lr_star=1e8, horizons=[2], seeds=[0, 1, 2])
    summary = json.loads((out / "summary.json").read_text())
    per_run = summary["per_run"]
    diverged = [r for r in per_run if r["arm"] == "η*"]
    assert diverged and all(r["status"] == "diverged" for r in diverged)
    assert len(summary["findings"]["diverged"]) == len(diverged)
    (gap,) = summary["gaps"]
    assert gap["runs η*"] == 0 and gap["runs small LR"] == 3
    for key in ("final gap (pts)", "early Tr(F) ratio", "max Tr(F) ratio"):
        assert gap[key] is None or math.isnan(gap[key]), key
    line = next(x for x in summary["findings"]["lines"] if x.startswith("**2 epochs**"))
    assert "inconclusive" in line
