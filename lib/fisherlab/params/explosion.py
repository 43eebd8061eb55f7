"""Notebook 01's parameters (Fig. 1, Supplement D, the gap against training length)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fisherlab.config import ConfigError
from fisherlab.params.spec import (
    NotebookParamsSpec,
    _distinct,
    _positive,
)


@dataclass(frozen=True)
class ExplosionParams(NotebookParamsSpec):
    """Notebook 01 (Section 2, Fig. 1; Table 1's η* against η*/10 over horizons)."""

    lr_star: float  # η*
    lr_small: float  # the small learning rate (paper: η*/10 to η*/30)
    seeds: list[int] | None = None  # None: [seed]
    horizons: list[int] | None = None  # training lengths in epochs (None: [epochs])
    decay_fractions: list[float] | None = None  # lr × lr_factor at these fractions of a horizon
    # more learning rates trained at the longest horizon for the first seed: the paper's grid
    # search for η* (Supplement I: once per configuration), to check lr_star by validation;
    # [] turns off a profile's grid search
    lr_grid: list[float] | None = None
    may_be_empty = ("lr_grid",)

    def check(self) -> None:
        _positive("lr_star", self.lr_star)
        _positive("lr_small", self.lr_small)
        if self.lr_small >= self.lr_star:
            raise ConfigError(
                f"lr_small={self.lr_small} must be smaller than lr_star={self.lr_star}"
            )
        for s in self.seeds or []:
            if s < 0:
                raise ConfigError(f"seeds={self.seeds!r}: seeds must be ≥ 0")
        for h in self.horizons or []:
            if h < 1:
                raise ConfigError(f"horizons={self.horizons!r}: every horizon must be ≥ 1 epoch")
        for f in self.decay_fractions or []:
            _positive("decay_fractions", f, upper=1.0)
        for lr in self.lr_grid or []:
            _positive("lr_grid", lr)
            if lr in (self.lr_star, self.lr_small):
                raise ConfigError(
                    f"lr_grid={self.lr_grid!r} repeats lr_star or lr_small (trained anyway)"
                )
        for name in ("seeds", "horizons", "decay_fractions", "lr_grid"):
            _distinct(name, getattr(self, name))

    def resolved(self, merged: dict[str, Any]) -> dict[str, Any]:
        return {"seeds": self.seeds if self.seeds is not None else [merged["seed"]]}
