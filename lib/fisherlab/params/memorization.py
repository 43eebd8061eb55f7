"""Notebook 05's parameters (Section 4.1: label noise, Fig. 5, 12, Tables 3, 8, 9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fisherlab.config import ConfigError, check_choice, check_value
from fisherlab.params.spec import (
    NotebookParamsSpec,
    _distinct,
    _positive,
)
from fisherlab.reference import TABLE3_LABEL_NOISE_TEST_ACC

PENALTIES = ("gpx", "fp", "gpr")  # notebook 05's gradient-norm regularisers (α grids)


@dataclass(frozen=True)
class MemorizationParams(NotebookParamsSpec):
    """Notebook 05 (Section 4.1, Tables 3, 8, 9; Fig. 5, 12): label noise, each method's grid
    searched at the first seed, the chosen coefficient run at every seed."""

    lr: float  # learning rate of every run (the paper does not state it)
    seeds: list[int]  # seeds of the chosen coefficients; the grids are searched at seeds[0]
    noise_levels: list[float]  # fractions of training labels redrawn uniformly (paper: 0.25, 0.5)
    methods: list[Literal["baseline", "mixup", "gpx", "fp", "gpr"]]
    beta_grid: list[float] | None = None  # mixup's Beta(β, β) values (paper: 0.2 … 6.4)
    alpha_grids: dict[str, list[float]] | None = None  # {gpx|fp|gpr: penalty coefficients}
    paper_setting: str | None = None  # the paper's row shown for reference (Tables 3, 8, 9)

    def check(self) -> None:
        _positive("lr", self.lr)
        if any(s < 0 for s in self.seeds):
            raise ConfigError(f"seeds={self.seeds!r}: every seed must be an integer ≥ 0")
        for v in self.noise_levels:
            if not 0 <= v < 1:
                raise ConfigError(f"noise_levels={self.noise_levels!r}: {v!r} is not in [0, 1)")
        for name in ("seeds", "noise_levels", "methods", "beta_grid"):
            _distinct(name, getattr(self, name))
        for v in self.beta_grid or []:
            _positive("beta_grid", v)
        if "mixup" in self.methods and not self.beta_grid:
            raise ConfigError("beta_grid must list mixup's β values when methods has mixup")
        grids = self.alpha_grids or {}
        for m, grid in grids.items():
            check_choice("alpha_grids", m, PENALTIES)
            check_value(f"alpha_grids[{m!r}]", grid, list[float])
            for v in grid:
                _positive(f"alpha_grids[{m!r}]", v)
            _distinct(f"alpha_grids[{m!r}]", grid)
        missing = [m for m in self.methods if m in PENALTIES and m not in grids]
        if missing:
            raise ConfigError(f"alpha_grids has no grid for {', '.join(missing)} (in methods)")
        if self.paper_setting is not None:
            check_choice("paper_setting", self.paper_setting, list(TABLE3_LABEL_NOISE_TEST_ACC))
