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
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from fisherlab.config import ConfigError, check_choice

__all__ = ["NOTEBOOK_PARAMS", "ExplosionParams", "NotebookParamsSpec", "check_value"]


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a non-empty list of {_describe(typing.get_args(tp)[0])}s"
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


NOTEBOOK_PARAMS: dict[str, type[NotebookParamsSpec]] = {
    "01_fisher_explosion": ExplosionParams,
}
