"""Notebook 06's parameters (Section 5, Fig. 6, 13, 14, 21: curvature of the final minima)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fisherlab.config import ConfigError, check_value
from fisherlab.params.spec import (
    NotebookParamsSpec,
    _bootstrap,
    _distinct,
    _positive,
    _seed_list,
    _train_changes,
)

GRID_PARAMS = ("lr", "batch_size")  # notebook 06's Fig. 14 grid: over learning rates or batches


@dataclass(frozen=True)
class CurvatureParams(NotebookParamsSpec):
    """Notebook 06 (Section 5, Fig. 6, 13, 14; Supplement F, Fig. 21): phase-1 runs with high and
    low regularisation, their continuations, Tr(H) over a coarse/fine grid and along trajectories.

    ``resolved`` also checks ``phase1_epochs`` against ``epochs`` (phase 1 is part of it).
    """

    high_reg: dict[str, Any]  # phase 1, high regularisation: TrainConfig values, e.g. {lr: 0.03}
    low_reg: dict[str, Any]  # the other phase-1 setting and every continuation's
    phase1_epochs: int  # paper: 20; Tr(F_i) is Tr(F) at its end
    phase1_seeds: list[int]  # one high- and one low-regularisation start per seed (≥ 3 at cpu)
    seeds: list[int]  # continuation seeds: every phase-1 run continues with each (paper: 8)
    grid_param: Literal["lr", "batch_size"] = "lr"  # Fig. 14's hyper-parameter
    grid_a: list[float] | None = None  # Fig. 14: the fine set A (low regularisation)
    grid_b: list[float] | None = None  # Fig. 14: the fine set B, a coarse step from A
    grid_seeds: list[int] | None = None  # Fig. 14: seeds of every grid value
    fig21_panels: dict[str, Any] | None = None  # Fig. 21: {panel: {lrs: [...], TrainConfig values}}
    bootstrap: int = 2000  # resamples of every CI

    def check(self) -> None:
        for name in ("phase1_seeds", "seeds", "grid_seeds"):
            _seed_list(name, getattr(self, name))
        if self.phase1_epochs < 1:
            raise ConfigError(f"phase1_epochs={self.phase1_epochs!r} must be an integer ≥ 1")
        for name in ("high_reg", "low_reg"):
            if not getattr(self, name):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be a non-empty mapping")
            _train_changes(name, getattr(self, name))
        if self.high_reg == self.low_reg:
            raise ConfigError("high_reg and low_reg are the same setting")
        integer = self.grid_param == "batch_size"
        for name in ("grid_a", "grid_b"):
            values = getattr(self, name) or []
            if integer and not all(isinstance(v, int) for v in values):
                raise ConfigError(f"{name}={values!r} must be integers (grid_param batch_size)")
            for v in values:
                _positive(name, v)
            _distinct(name, getattr(self, name))
        if (self.grid_a or self.grid_b) and not self.grid_seeds:
            raise ConfigError("grid_seeds must hold at least one seed when grid_a or grid_b is set")
        for panel, spec in (self.fig21_panels or {}).items():
            where = f"fig21_panels[{panel!r}]"
            if not isinstance(spec, dict) or "lrs" not in spec:
                raise ConfigError(f"{where} must be a mapping with lrs: [learning rates, ...]")
            check_value(f"{where}['lrs']", spec["lrs"], list[float])
            for v in spec["lrs"]:
                _positive(f"{where}['lrs']", v)
            _distinct(f"{where}['lrs']", spec["lrs"])
            _train_changes(where, {k: v for k, v in spec.items() if k != "lrs"})
        _bootstrap(self.bootstrap)

    def resolved(self, merged: dict[str, Any]) -> dict[str, Any]:
        if not self.phase1_epochs < merged["epochs"]:
            raise ConfigError(
                f"phase1_epochs={self.phase1_epochs!r} must be smaller than "
                f"epochs={merged['epochs']!r} (the whole training, phase 1 included)"
            )
        return {}
