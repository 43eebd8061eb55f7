"""The base of every notebook's parameters (``NotebookParamsSpec``) and the checks they share."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from fisherlab.config import ConfigError, check_value


@dataclass(frozen=True)
class NotebookParamsSpec:
    """Base of the per-notebook parameter classes."""

    #: list parameters for which an empty list is a choice (e.g. 01's ``lr_grid``: no grid search),
    #: not a mistake; ``None`` keeps meaning "the profile's value"
    may_be_empty: ClassVar[tuple[str, ...]] = ()

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
            if not (value == [] and f.name in cls.may_be_empty):
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
