"""Notebook 02's parameters (Fig. 2, 7-9: early Tr(F) against final accuracy; Supplement E)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fisherlab.config import ConfigError
from fisherlab.params.spec import (
    NotebookParamsSpec,
    _bootstrap,
    _distinct,
    _positive,
    _seed_list,
    _train_changes,
)


@dataclass(frozen=True)
class EarlyPhaseParams(NotebookParamsSpec):
    """Notebook 02 (Section 3, Fig. 2, 7, 8, 9; Supplement E, Fig. 19, 20): Tr(F_i) against
    final generalisation over learning rates × seeds and batch sizes × seeds."""

    seeds: list[int]  # every setting of both sweeps runs with each seed (paper: 32)
    loss_threshold: float  # ε: Tr(F_i) is Tr(F) when the training loss first drops below it
    lr_grid: list[float] | None = None  # Fig. 2: learning rates at batch_size (None: no sweep)
    batch_sizes: list[int] | None = None  # Fig. 7: batch sizes at batch_lr (None: no sweep)
    batch_lr: float | None = None  # learning rate of the batch-size sweep
    bootstrap: int = 2000  # resamples of every CI
    supplement_e: bool = False  # also Fig. 19, 20
    e_seeds: list[int] | None = None  # Supplement E's seeds (None: seeds); α searched at the first
    e_batch_sizes: list[int] | None = None  # Fig. 19: the smallest and largest are compared
    e_lr: float | None = None  # Fig. 19's learning rate
    e_lr_divisor: float = 2.0  # Fig. 20: the large batch at e_lr / e_lr_divisor, with/without FP
    e_alphas: list[float] | None = None  # Fig. 20: FP's α grid, searched by validation accuracy
    e_penalty_every: int = 1  # Fig. 20: FP recomputed every this many steps (paper: 1)
    e_changes: dict[str, Any] | None = None  # TrainConfig values for every Supplement E run

    def check(self) -> None:
        _seed_list("seeds", self.seeds)
        _seed_list("e_seeds", self.e_seeds)
        _positive("loss_threshold", self.loss_threshold)
        if self.lr_grid is None and self.batch_sizes is None:
            raise ConfigError("lr_grid and batch_sizes are both None: nothing to sweep")
        for name in ("lr_grid", "batch_sizes", "e_batch_sizes", "e_alphas"):
            for v in getattr(self, name) or []:
                _positive(name, v)
            _distinct(name, getattr(self, name))
        if self.batch_sizes is not None:
            if self.batch_lr is None:
                raise ConfigError("batch_lr must be set when batch_sizes is (the sweep's lr)")
            _positive("batch_lr", self.batch_lr)
        _bootstrap(self.bootstrap)
        if not self.supplement_e:
            return
        if self.e_batch_sizes is None or len(self.e_batch_sizes) < 2:
            raise ConfigError(
                f"e_batch_sizes={self.e_batch_sizes!r} must hold at least two batch sizes "
                "(small, large) when supplement_e is true"
            )
        for name in ("e_lr", "e_alphas"):
            if getattr(self, name) is None:
                raise ConfigError(f"{name} must be set when supplement_e is true")
        _positive("e_lr", self.e_lr)  # type: ignore[arg-type]
        _positive("e_lr_divisor", self.e_lr_divisor)
        if self.e_penalty_every < 1:
            raise ConfigError(f"e_penalty_every={self.e_penalty_every!r} must be an integer ≥ 1")
        _train_changes("e_changes", self.e_changes or {})

    def resolved(self, merged: dict[str, Any]) -> dict[str, Any]:
        return {"e_seeds": self.e_seeds if self.e_seeds is not None else self.seeds}
