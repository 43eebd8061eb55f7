"""Figures a reader trusts at a glance (issue 17): every line its own colour."""

from __future__ import annotations

from fisherlab import plots
from fisherlab.methods import METHODS


def test_palette_gives_every_line_a_distinct_colour():
    runs = ["η* (lr=0.03)", "FP (α=0.01)", "FP (α=0.1)", "FP (α=1)", "run a", "run b", "run c"]
    pal = plots.palette(runs)
    assert len(set(pal.values())) == len(runs)
    assert pal["η* (lr=0.03)"] == METHODS["eta_star"].color  # a method keeps its colour
    assert plots.UNKNOWN not in pal.values()  # no grey for labels that name no method
    assert not {pal["run a"], pal["run b"], pal["run c"]} & {m.color for m in METHODS.values()}


def test_single_method_line_keeps_the_registry_colour():
    assert plots.palette(["GPr"])["GPr"] == METHODS["gpr"].color
