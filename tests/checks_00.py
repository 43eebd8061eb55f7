"""Assertions on notebook 00's recorded results at the smoke profile (see test_notebooks.py).

Executed alone in an empty output folder, no notebook has results: every claim is 'not run',
every consistency check too, and the headline counts the claims only.
(tests/test_reproduce.py runs it after notebooks 01 and 03.)
"""

from __future__ import annotations

from pathlib import Path

from fisherlab import report

INLINE_FIGURES = False  # nothing to plot without runs


def check(summary: dict, out: Path) -> None:
    card = summary["scorecard"]
    assert [row["id"] for row in card] == [c.id for c in report.CLAIMS]
    assert {row["verdict"] for row in card} == {"not run"}
    assert all(row["criterion"] and row["method"] for row in card)
    assert summary["verdicts"] == {"not run": len(report.CLAIMS)}
    assert [row["check"] for row in summary["checks"]] == [c.check for c in report.CHECKS]
    assert {row["status"] for row in summary["checks"]} == {"not run"}
    assert summary["headline"].startswith(f"Paper claims ({len(report.CLAIMS)}): ")
    assert (out / "scorecard.csv").exists() and (out / "checks.csv").exists()
