"""Typed notebook parameters: one frozen dataclass per notebook for what is not a TrainConfig.

A notebook's parameters are of three kinds: how it runs (``notebook.COMMON``: profile, run store,
executor…), the fields of ``TrainConfig`` shared by all its runs (validated by ``TrainConfig``),
and its own experiment's parameters (learning rates of its arms, seeds, grids, thresholds) —
declared here, one dataclass per notebook, checked by type from the annotations and then by the
class's ``check``. ``notebook.resolve_params`` calls ``parse`` before any data is read or any
folder made. Names declared here never reach ``TrainConfig`` by coincidence: a notebook passes
them to its runs explicitly (``P.train_config(lr=…)``).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

from fisherlab.config import ConfigError, check_choice, check_value
from fisherlab.reference import TABLE3_LABEL_NOISE_TEST_ACC

__all__ = [
    "NOTEBOOK_PARAMS",
    "CurvatureParams",
    "DelayedFPParams",
    "EarlyPhaseParams",
    "ExplosionParams",
    "FisherPenaltyParams",
    "MemorizationParams",
    "NotebookParamsSpec",
    "check_value",
]


@dataclass(frozen=True)
class NotebookParamsSpec:
    """Base of the per-notebook parameter classes."""

    def check(self) -> None:
        """Cross-field and range checks beyond the types (raise ``ConfigError``)."""

    def resolved(self, merged: dict[str, Any]) -> dict[str, Any]:
        """Defaults that depend on other parameters (e.g. 01's ``seeds`` from ``seed``)."""
        return {}

    @classmethod
    def parse(cls, merged: dict[str, Any]) -> NotebookParamsSpec:
        """Type-check this notebook's parameters in ``merged`` and build the instance."""
        hints = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in merged:
                value = merged[f.name]
            elif f.default is not dataclasses.MISSING:
                value = f.default
            else:
                raise ConfigError(f"{f.name} is required by this notebook and was not given")
            check_value(f.name, value, hints[f.name])
            values[f.name] = value
        spec = cls(**values)
        spec.check()
        return spec


def _positive(name: str, value: float, *, upper: float = math.inf) -> None:
    if not 0 < value < upper:
        bound = "> 0" if upper == math.inf else f"in (0, {upper:g})"
        raise ConfigError(f"{name}={value!r} must be {bound}")


def _distinct(name: str, values: list[Any] | None) -> None:
    if values is not None and len(set(values)) != len(values):
        raise ConfigError(f"{name}={values!r} has repeated values")


@dataclass(frozen=True)
class ExplosionParams(NotebookParamsSpec):
    """Notebook 01 (Section 2, Fig. 1; Table 1's η* against η*/10 over horizons)."""

    lr_star: float  # η*
    lr_small: float  # the small learning rate (paper: η*/10 to η*/30)
    seeds: list[int] | None = None  # None: [seed]
    horizons: list[int] | None = None  # training lengths in epochs (None: [epochs])
    decay_fractions: list[float] | None = None  # lr × lr_factor at these fractions of a horizon

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
        for name in ("seeds", "horizons", "decay_fractions"):
            _distinct(name, getattr(self, name))

    def resolved(self, merged: dict[str, Any]) -> dict[str, Any]:
        return {"seeds": self.seeds if self.seeds is not None else [merged["seed"]]}


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


def _train_changes(name: str, changes: dict[str, Any]) -> None:
    """``changes`` must be TrainConfig fields with valid values (checked on the defaults)."""
    from fisherlab.config import TrainConfig

    try:
        TrainConfig.from_dict(changes)
    except ConfigError as err:
        raise ConfigError(f"{name}: {err}") from None


def _seed_list(name: str, seeds: list[int] | None) -> None:
    if seeds is not None and any(s < 0 for s in seeds):
        raise ConfigError(f"{name}={seeds!r}: every seed must be an integer ≥ 0")
    _distinct(name, seeds)


def _bootstrap(n: int) -> None:
    if n < 100:
        raise ConfigError(f"bootstrap={n!r} must be an integer ≥ 100 (bootstrap resamples)")


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


NOTEBOOK_PARAMS: dict[str, type[NotebookParamsSpec]] = {
    "01_fisher_explosion": ExplosionParams,
    "02_early_phase_correlation": EarlyPhaseParams,
    "03_fisher_penalty": FisherPenaltyParams,
    "04_delayed_fisher_penalty": DelayedFPParams,
    "05_memorization": MemorizationParams,
    "06_curvature_histograms": CurvatureParams,
}
