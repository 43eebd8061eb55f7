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

from fisherlab.config import check_value
from fisherlab.params.curvature import CurvatureParams
from fisherlab.params.delayed_fp import DelayedFPParams
from fisherlab.params.early_phase import EarlyPhaseParams
from fisherlab.params.explosion import ExplosionParams
from fisherlab.params.fisher_penalty import FisherPenaltyParams
from fisherlab.params.memorization import MemorizationParams
from fisherlab.params.spec import NotebookParamsSpec

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


NOTEBOOK_PARAMS: dict[str, type[NotebookParamsSpec]] = {
    "01_fisher_explosion": ExplosionParams,
    "02_early_phase_correlation": EarlyPhaseParams,
    "03_fisher_penalty": FisherPenaltyParams,
    "04_delayed_fisher_penalty": DelayedFPParams,
    "05_memorization": MemorizationParams,
    "06_curvature_histograms": CurvatureParams,
}
