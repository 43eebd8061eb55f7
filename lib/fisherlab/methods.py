"""The method registry: one key per method of the paper, with its label, colour and regulariser.

Every notebook, figure, table and the scorecard name methods through this table, so "the small
learning rate" is spelled and coloured the same everywhere. ``regularizer`` is the
``TrainConfig.regularizer`` a method's runs use (η* and the baseline differ in learning rate
only); ``coefficient`` names the strength its ``alpha`` stands for (mixup's Beta(β, β)).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METHODS", "Method", "color", "label"]


@dataclass(frozen=True)
class Method:
    key: str
    label: str  # legend and table label
    color: str  # the same in every figure
    regularizer: str  # TrainConfig.regularizer of its runs
    coefficient: str = "α"  # what its alpha means


METHODS: dict[str, Method] = {
    m.key: m
    for m in (
        Method("eta_star", "η*", "#d62728", "none", ""),
        Method("baseline", "small LR", "#1f77b4", "none", ""),
        Method("fp", "FP", "#2ca02c", "fp"),
        Method("fp_exact", "FP (per-example, eq. 6)", "#17becf", "fp_exact"),
        Method("gp", "GP", "#ff7f0e", "gp"),
        Method("gpx", "GPx", "#9467bd", "gpx"),
        Method("gpr", "GPr", "#8c564b", "gpr"),
        Method("mixup", "mixup", "#e377c2", "mixup", "β"),
    )
}


def label(key: str) -> str:
    return METHODS[key].label


def color(key: str) -> str:
    return METHODS[key].color
