"""Notebook 03's parameters (Table 1, 2, 4, Supplement C, Fig. 4, 15: Fisher penalty and peers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fisherlab.config import ConfigError, check_choice, check_value
from fisherlab.params.spec import (
    NotebookParamsSpec,
    _distinct,
    _positive,
)

FP_METHODS = ("eta_star", "baseline", "gpx", "gp", "fp", "gpr")  # notebook 03: Table 1's columns
FP_PENALTIES = ("gpx", "gp", "fp", "gpr")  # notebook 03's regularisers (α fixed or searched)


def _coefficients(name: str, values: dict[str, Any] | None) -> None:
    """{regulariser: number > 0} with keys among notebook 03's regularisers."""
    for m, a in (values or {}).items():
        check_choice(name, m, FP_PENALTIES)
        check_value(f"{name}[{m!r}]", a, float)
        _positive(f"{name}[{m!r}]", a)


def _grid(name: str, values: list[float] | None) -> None:
    for v in values or []:
        _positive(name, v)
    _distinct(name, values)


@dataclass(frozen=True)
class FisherPenaltyParams(NotebookParamsSpec):
    """Notebook 03 (Section 4, Tables 1, 2, 4-6, Fig. 4; Supplement C, Fig. 15-17): η*, the
    baseline at η* / baseline_divisor and each regulariser at the baseline's learning rate with α
    given or searched, every method at every seed; Table 2, Supplement C and Fig. 15's learning-
    rate sweep behind their own parameters. Searches run at ``seeds[0]``."""

    methods: list[str]  # of eta_star, baseline, gpx, gp, fp, gpr (Table 1's columns)
    seeds: list[int]  # every method runs with each (claims rest on ≥ 3)
    baseline_divisor: float  # the baseline trains at η* / this (paper: 10; 30 for TinyImageNet)
    lr_grid: list[float] | None = None  # η* searched on validation accuracy (None: lr_star)
    lr_star: float | None = None  # η* when lr_grid is None
    alpha: float | None = None  # FP's α (None: alphas["fp"], else searched)
    alphas: dict[str, float] | None = None  # fixed α per regulariser; the others are searched
    alpha_v: dict[str, float] | None = None  # centre v of a searched α grid [0.1 v, 10 v]
    alpha_grid_points: int = 10  # points of each searched α grid (paper: 10)
    paper_setting: str | None = None  # the paper's row shown as reference (Tables 1, 4-6)
    table2: bool = False  # Table 2: η* and FP at η*, both with augmentation, at every seed
    table2_alpha: float | None = None  # FP's α in Table 2 (None: Table 1's chosen FP α)
    table2_max_steps: int | None = None  # Table 2's step budget (None: max_steps)
    supplement_c: bool = False  # Supplement C: FP with f = 1 and eq. 6 against f = 10
    supplement_c_max_steps: int | None = None  # its step budget, every arm (None: max_steps)
    alpha_f1: float | None = None  # α of FP with f = 1 (None: searched over alpha_f1_grid)
    alpha_f1_grid: list[float] | None = None  # paper: 10 values from 1e-2 to 1e0
    alpha_exact: float | None = None  # α of eq. 6's FP (None: searched over alpha_exact_grid)
    alpha_exact_grid: list[float] | None = None  # paper: 10 values from 1e-4 to 1e-2
    fig15_lrs: list[float] | None = None  # Fig. 15: learning rates of its sweep (None: none)
    fig15_max_steps: int | None = None  # Fig. 15's step budget (None: max_steps)

    def check(self) -> None:
        for m in self.methods:
            check_choice("methods", m, FP_METHODS)
        _distinct("methods", self.methods)
        if any(s < 0 for s in self.seeds):
            raise ConfigError(f"seeds={self.seeds!r}: every seed must be an integer ≥ 0")
        _distinct("seeds", self.seeds)
        if not self.baseline_divisor > 1:
            raise ConfigError(
                f"baseline_divisor={self.baseline_divisor!r} must be > 1 (the baseline trains at "
                "η* / baseline_divisor, below η*)"
            )
        _grid("lr_grid", self.lr_grid)
        if self.lr_grid is None:
            if self.lr_star is None:
                raise ConfigError("lr_star must be set when lr_grid is None (η* is not searched)")
            _positive("lr_star", self.lr_star)
        for name in ("alpha", "table2_alpha", "alpha_f1", "alpha_exact"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        _coefficients("alphas", self.alphas)
        _coefficients("alpha_v", self.alpha_v)
        if self.alpha_grid_points < 1:
            raise ConfigError(f"alpha_grid_points={self.alpha_grid_points!r} must be ≥ 1")
        for m in (m for m in self.methods if m in FP_PENALTIES and self.fixed_alpha(m) is None):
            if m not in (self.alpha_v or {}):
                raise ConfigError(
                    f"alpha_v has no grid centre for {m} (in methods, its α not given in alphas"
                    + (" or alpha)" if m == "fp" else ")")
                )
        for name in ("alpha_f1_grid", "alpha_exact_grid", "fig15_lrs"):
            _grid(name, getattr(self, name))
        for name in ("table2_max_steps", "supplement_c_max_steps", "fig15_max_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be an integer ≥ 1")
        fp_alpha = "fp" in self.methods or self.fixed_alpha("fp") is not None
        if self.table2 and self.table2_alpha is None and not fp_alpha:
            raise ConfigError(
                "table2 needs FP's α: set table2_alpha or alpha, or put fp in methods"
            )
        if self.supplement_c:
            if not fp_alpha:
                raise ConfigError(
                    "supplement_c compares with FP at f = 10: set alpha or put fp in methods"
                )
            for fixed, grid in (("alpha_f1", "alpha_f1_grid"), ("alpha_exact", "alpha_exact_grid")):
                if getattr(self, fixed) is None and not getattr(self, grid):
                    raise ConfigError(f"supplement_c needs {fixed} or {grid} (its α search)")
        if self.paper_setting is not None:
            from fisherlab.reference import TABLE1

            check_choice("paper_setting", self.paper_setting, list(TABLE1))

    def fixed_alpha(self, method: str) -> float | None:
        """The α given for ``method`` (``alpha`` for FP first, then ``alphas``), else None."""
        if method == "fp" and self.alpha is not None:
            return self.alpha
        return (self.alphas or {}).get(method)
