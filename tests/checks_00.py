"""Assertions on notebook 00's recorded results at the smoke profile (see test_notebooks.py).

Executed alone in an empty output folder, no notebook has results: every claim is 'not run'.
(tests/test_reproduce.py runs it after notebooks 01 and 03.)
"""

from __future__ import annotations

from pathlib import Path

from fisherlab import report

INLINE_FIGURES = False  # nothing to plot without runs


def check(summary: dict, out: Path) -> None:
    card = summary["scorecard"]
    assert [row["claim"] for row in card] == [c.claim for c in report.CLAIMS]
    assert {row["verdict"] for row in card} == {"not run"}
    assert summary["verdicts"] == {"not run": len(report.CLAIMS)}
