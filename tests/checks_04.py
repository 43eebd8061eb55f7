"""Assertions on notebook 04's recorded results at the smoke profile (see test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fisherlab import report, stats

# parameters the smoke test sets beyond the smoke profile
EXTRA_PARAMS = {"alpha": 0.01}


def check(summary: dict, out: Path) -> None:
    params = summary["params"]
    starts, seeds = params["start_epochs"], params["seeds"]
    assert summary["chosen"]["alpha"] == 0.01
    # one row per run: η*, the baseline and FP from every start, at every seed; accuracies in %
    per_run = summary["per_run"]
    assert len(per_run) == (2 + len(starts)) * len(seeds) == len(summary["run_keys"])
    fp = [r for r in per_run if r["arm"] == "fp"]
    assert sorted({r["start epoch"] for r in fp}) == sorted(starts)
    assert all(r["start epoch"] is None for r in per_run if r["arm"] != "fp")
    for r in per_run:
        assert r["status"] == "finished"
        for col in ("test acc at best val", "final test acc", "final train acc"):
            assert 1 < r[col] <= 100, (col, r[col])  # percent, not a fraction
    # the per-start table and the claim's statistic, recomputed from the per-run rows
    table = {r["start epoch"]: r for r in summary["starts"]}
    assert sorted(table) == sorted(starts) and {r["runs"] for r in table.values()} == {len(seeds)}
    value = "test acc at best val"

    def values(start: int) -> list[float]:
        return [r[value] for r in fp if r["start epoch"] == start]

    for start in starts:
        assert table[start][value] == pytest.approx(np.mean(values(start)))
    effects = {r["key"]: r for r in summary["effects"]}
    first, last = min(starts), max(starts)
    d = stats.difference_of_means(values(first), values(last))
    assert effects["earliest_minus_latest"]["estimate"] == pytest.approx(d.estimate)
    assert effects["earliest_minus_latest"]["lo"] == pytest.approx(d.lo)
    s = stats.slope([r["start epoch"] for r in fp], [r[value] for r in fp])
    assert effects["slope"]["estimate"] == pytest.approx(s.estimate)
    assert effects["slope"]["runs"] == len(fp)
    assert -1 <= effects["rho_test"]["estimate"] <= 1
    # the scorecard reads the same rows: the claim is judged (smoke: on 3 seeds per start)
    row = report.claims_table({"04_delayed_fisher_penalty": summary}, "smoke")
    row = row.set_index("id").loc["fp_start_early"]
    assert row["verdict"] != "not run", row["why"]
    assert row["effect"] == report.fmt(d.estimate, "pts")
    assert summary["findings"]["left_out"] == []
    assert (out / "fig3_delayed_fisher_penalty.png").exists()
