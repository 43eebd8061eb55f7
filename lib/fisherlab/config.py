"""One validated, plain-data configuration per training run.

``TrainConfig`` is a frozen dataclass: YAML/dict in, checked once in ``__post_init__``, hashed
into the run store's key. Every error names the parameter and the accepted values, and is raised
before any data is read or any weight allocated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DATASETS",
    "REGULARIZERS",
    "ConfigError",
    "TrainConfig",
    "check_choice",
    "check_positive",
    "check_value",
]

DATASETS = ("cifar10", "cifar100", "tinyimagenet", "imagefolder", "synthetic")
# none; Fisher penalty (eq. 3); its per-example variant (eq. 6); gradient penalties with true (GP)
# or uniformly random (GPr) labels; input-gradient penalty (GPx); mixup (Zhang et al., 2018).
REGULARIZERS = ("none", "fp", "fp_exact", "gp", "gpr", "gpx", "mixup")
DEVICES = ("auto", "cpu", "cuda", "mps")
PENALTY_METHODS = ("double_backprop", "finite_difference")
# Fields added after runs were first stored: hashed into the run key only when they differ from
# their default, so adding a field never orphans the runs already in a store.
_LATE_FIELDS = (
    "penalty_method",
    "init_from",
    "hessian_probes",
    "hessian_probe_dist",
    "test_subset",
)


class ConfigError(ValueError):
    """A parameter has a value outside what is accepted; the message names both."""


def check_choice(name: str, value: Any, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not valid; accepted values: {', '.join(choices)}")


def check_positive(
    name: str, value: Any, *, integer: bool = False, allow_zero: bool = False
) -> None:
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or not math.isfinite(value):
        raise ConfigError(f"{name}={value!r} must be {kind}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ConfigError(f"{name}={value!r} must be {kind} {bound}")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a non-empty list of {_describe(typing.get_args(tp)[0])}s"
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0])}s"
    if origin is dict:
        return "a mapping"
    return {int: "integer", float: "number", bool: "true/false", str: "string"}.get(
        tp, "None" if tp is type(None) else str(tp)
    )


def _matches(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return value is None
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        return isinstance(value, list) and bool(value) and all(_matches(v, item) for v in value)
    if origin is tuple:  # tuple[X, ...]
        item = typing.get_args(tp)[0]
        return isinstance(value, tuple) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and math.isfinite(value)
    if tp is str:
        return isinstance(value, str)
    return isinstance(value, tp)


def check_value(name: str, value: Any, tp: Any) -> None:
    """``ConfigError`` naming ``name`` and the accepted type/values unless ``value`` is a ``tp``."""
    if typing.get_origin(tp) is Literal and not _matches(value, tp):
        check_choice(name, value, [str(a) for a in typing.get_args(tp)])
    if not _matches(value, tp):
        raise ConfigError(f"{name}={value!r} is not valid; accepted: {_describe(tp)}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one training run (and so its run-store key).

    Units: ``epochs``, ``lr_milestones``, ``eval_every`` and ``penalty_start_epoch`` count passes
    over the (sub-sampled) training set; ``max_steps``, ``fisher_*`` and ``log_every`` count SGD
    steps (mini-batches of ``batch_size``).
    """

    # data
    dataset: str = "cifar10"
    data_root: str = "auto"  # "auto": $FISHERLAB_DATA, <repo>/data, <repo>/../shared/datasets
    data_options: dict[str, Any] = field(default_factory=dict)  # e.g. synthetic sizes, download
    subset: int | None = None  # balanced subset of the training pool (None: all of it)
    val_size: int = 5000  # held out from the official training set (paper: 5,000)
    augment: bool = False  # pad-4 random crop + horizontal flip, on whole batches
    label_noise: float = 0.0  # fraction of training labels redrawn uniformly (notebook 05)
    # model
    model: str = "simplecnn"
    model_options: dict[str, Any] = field(default_factory=dict)
    # optimisation: SGD with momentum, step decay
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 10
    max_steps: int | None = None  # stop earlier than epochs * steps_per_epoch
    lr_milestones: tuple[float, ...] = ()  # epochs at which lr *= lr_factor
    lr_factor: float = 0.1
    stop_train_acc: float | None = None  # stop at the end of an epoch whose running acc ≥ this
    # regulariser (notebooks 03-05)
    regularizer: str = "none"
    alpha: float = 0.0  # penalty coefficient, or mixup's Beta(α, α) parameter
    penalty_every: int = 10  # f: recompute the penalty gradient every f steps (paper: 10)
    penalty_start_epoch: int = 0  # delayed FP (Fig. 3): no penalty before this epoch
    # FP's gradient: double backprop, or a finite-difference Hessian-vector product (≈ 1.6× faster)
    penalty_method: str = "double_backprop"
    # start from the final weights of another run in the same store (its key; notebook 06)
    init_from: str | None = None
    hessian_probes: int = 0  # Hutchinson probes for Tr(H) at every evaluation (0: not measured)
    hessian_probe_dist: str = "rademacher"  # or "gaussian" (the paper's; higher variance)
    # measurements
    fisher_probe: int = 512  # fixed training examples on which Tr(F) is measured
    fisher_every: int = 25  # steps between Tr(F) measurements in the early phase
    fisher_dense_until: int = 600  # the early phase, in steps
    fisher_every_late: int | None = None  # steps between them afterwards (None: once an epoch)
    fisher_max_after_epoch: int = 0  # max Tr(F) ignores epochs before this (1 for BN nets)
    eval_every: float = 1.0  # epochs between validation/test evaluations
    # intermediate test evaluations on this many fixed test images (None: all); the full test
    # set is always evaluated at the end and on the weights of the best validation point
    test_subset: int | None = None
    log_every: int = 10  # steps per logged window of train loss/accuracy/gradient norm
    # run
    seed: int = 0
    device: str = "auto"
    # CPU threads torch uses for this run. Part of the run key: CPU kernels reduce in an order
    # that depends on the thread count, so 1 and 2 threads give different numbers from step 0.
    threads: int = 1

    def __post_init__(self) -> None:
        from fisherlab.models import MODEL_NAMES  # late import: models imports torch

        if isinstance(self.lr_milestones, list | tuple):
            object.__setattr__(self, "lr_milestones", tuple(self.lr_milestones))
        hints = typing.get_type_hints(TrainConfig)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            check_value(f.name, value, hints[f.name])
            if float in (hints[f.name], *typing.get_args(hints[f.name])) and type(value) is int:
                object.__setattr__(self, f.name, float(value))  # 1 and 1.0: one run key
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("model", self.model, MODEL_NAMES)
        check_choice("regularizer", self.regularizer, REGULARIZERS)
        check_choice("device", self.device, DEVICES)
        check_choice("penalty_method", self.penalty_method, PENALTY_METHODS)
        check_choice("hessian_probe_dist", self.hessian_probe_dist, ("rademacher", "gaussian"))
        if self.penalty_method != "double_backprop" and self.regularizer != "fp":
            raise ConfigError(
                f"penalty_method={self.penalty_method!r} applies to regularizer='fp' only"
            )
        if not isinstance(self.data_root, str) or not self.data_root:
            raise ConfigError(f"data_root={self.data_root!r} must be a path or 'auto'")
        for name in ("lr", "lr_factor"):
            check_positive(name, getattr(self, name))
        for name in ("momentum", "weight_decay", "alpha"):
            check_positive(name, getattr(self, name), allow_zero=True)
        for name in ("batch_size", "epochs", "penalty_every", "fisher_probe", "fisher_every"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("val_size", "fisher_dense_until", "penalty_start_epoch", "seed"):
            check_positive(name, getattr(self, name), integer=True, allow_zero=True)
        check_positive(
            "fisher_max_after_epoch", self.fisher_max_after_epoch, integer=True, allow_zero=True
        )
        check_positive("log_every", self.log_every, integer=True)
        check_positive("threads", self.threads, integer=True)
        check_positive("hessian_probes", self.hessian_probes, integer=True, allow_zero=True)
        if self.init_from is not None and (
            not isinstance(self.init_from, str) or not self.init_from.isalnum()
        ):
            raise ConfigError(f"init_from={self.init_from!r} must be the key of a stored run")
        check_positive("eval_every", self.eval_every)
        for name in ("subset", "max_steps", "fisher_every_late", "test_subset"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name), integer=True)
        if not 0.0 <= self.label_noise < 1.0:
            raise ConfigError(f"label_noise={self.label_noise!r} must be in [0, 1)")
        if self.momentum >= 1:
            raise ConfigError(f"momentum={self.momentum!r} must be in [0, 1)")
        if self.stop_train_acc is not None and not 0 < self.stop_train_acc <= 1:
            raise ConfigError(f"stop_train_acc={self.stop_train_acc!r} must be in (0, 1]")
        if self.regularizer != "none" and self.alpha <= 0:
            raise ConfigError(
                f"alpha={self.alpha!r} must be > 0 with regularizer={self.regularizer!r}"
            )
        for m in self.lr_milestones:
            check_positive("lr_milestones", m)
        object.__setattr__(self, "lr_milestones", tuple(float(m) for m in self.lr_milestones))
        for name in ("data_options", "model_options"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a mapping of option names to values")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from plain data (YAML), rejecting unknown names with the list of valid ones."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ConfigError(
                f"unknown parameter(s) {', '.join(unknown)}; valid parameters: {', '.join(names)}"
            )
        values = dict(values)
        if "lr_milestones" in values and values["lr_milestones"] is not None:
            values["lr_milestones"] = tuple(values["lr_milestones"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lr_milestones"] = list(self.lr_milestones)
        return d

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def key(self) -> str:
        """Run-store key: a hash of everything that changes the result on a given device type
        and torch version (the run's *determinism domain*, recorded beside it by the store).

        ``threads`` is hashed (CPU results differ between thread counts); ``device`` is not,
        because ``"auto"`` resolves per machine: the store records the resolved device type and
        torch version and warns when a run is reused outside them.
        """
        d = self.to_dict()
        d.pop("device")
        for name in _LATE_FIELDS:
            if d[name] == TrainConfig.__dataclass_fields__[name].default:
                d.pop(name)
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
