"""Notebook 04's parameters (Section 4, Fig. 3: FP switched on from epoch E)."""

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
class DelayedFPParams(NotebookParamsSpec):
    """Notebook 04 (Section 4, Fig. 3): FP switched on from epoch E at the baseline's learning rate.

    ``resolved`` also checks each start epoch against ``epochs`` (a later start never penalises).
    """

    start_epochs: list[int]  # FP is on from each of these epochs (paper: 1, 2, 4, ..., 128)
    seeds: list[int]  # every start epoch (and η*, the baseline) runs with each seed
    lr_star: float  # η*; the baseline and FP train at lr_star / baseline_divisor
    baseline_divisor: float  # paper: 10 (30 for TinyImageNet)
    alpha: float | None = None  # FP's α (None: notebook 03's choice, else alpha_default)
    alpha_default: float = 0.01
    fisher_penalty_results: str | None = None  # notebook 03's summary.json (None: its default)

    def check(self) -> None:
        for name in ("start_epochs", "seeds"):
            values = getattr(self, name)
            if any(v < 0 for v in values):
                raise ConfigError(f"{name}={values!r}: every value must be an integer ≥ 0")
            _distinct(name, values)
        _positive("lr_star", self.lr_star)
        _positive("alpha_default", self.alpha_default)
        if self.alpha is not None:
            _positive("alpha", self.alpha)
        if not self.baseline_divisor > 1:
            raise ConfigError(
                f"baseline_divisor={self.baseline_divisor!r} must be > 1 (the baseline trains at "
                "lr_star / baseline_divisor, below η*)"
            )

    def resolved(self, merged: dict[str, Any]) -> dict[str, Any]:
        late = [e for e in self.start_epochs if e >= merged["epochs"]]
        if late:
            raise ConfigError(
                f"start_epochs={self.start_epochs!r}: {late} not before epochs={merged['epochs']} "
                "(FP would never be on)"
            )
        return {}
