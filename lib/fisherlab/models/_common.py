"""Shared validation and initialisation helpers for :mod:`fisherlab.models`.

Every model validates its arguments with these helpers *before* calling
``nn.Module.__init__`` so that a bad value never allocates weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


def _fail(param: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{param} must be {expected}, got {value!r}")


def check_int(param: str, value: Any, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) ``>= minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(param, f"an integer >= {minimum}", value)
    return value


def check_float(param: str, value: Any, *, positive: bool = True) -> float:
    """Return ``float(value)`` for a finite real number (``> 0`` if ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(param, "a positive number" if positive else "a number", value)
    out = float(value)
    if not math.isfinite(out) or (positive and out <= 0):
        raise _fail(param, "a positive finite number" if positive else "finite", value)
    return out


def check_bool(param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(param, "a bool", value)
    return value


def check_choice(param: str, value: Any, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise _fail(param, "one of " + ", ".join(repr(c) for c in options), value)
    return value


def check_common(num_classes: Any, in_channels: Any, image_size: Any, min_size: int = 1) -> None:
    """Validate the arguments every model accepts."""
    check_int("num_classes", num_classes, 2)
    check_int("in_channels", in_channels, 1)
    check_int("image_size", image_size, min_size)


def scaled(channels: int, width: float) -> int:
    """``channels`` multiplied by ``width``, rounded, at least 1."""
    return max(1, round(channels * width))


def he_init_(module: nn.Module, mode: str = "fan_in") -> None:
    """He-normal (ReLU gain) conv/linear weights, zero biases, BN weight 1 / bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def glorot_init_(module: nn.Module) -> None:
    """Keras defaults: Glorot-uniform kernels (fans include the receptive field), zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@torch.no_grad()
def wn_effective_init_(weight: torch.Tensor, gain: float) -> None:
    """Arpit et al. (2019) weight-norm init, written into a plain (un-normalised) weight.

    Weight norm writes ``w_i = g_i v_i / ||v_i||`` per output unit ``i``. Arpit et al. draw ``v``
    orthogonal and set ``g_i = sqrt(gain * fan_in / fan_out)`` (for a conv,
    ``fan_in / fan_out = in_channels / out_channels``). This writes the resulting *effective*
    weight: an orthogonal matrix (rows = output units) whose rows are rescaled to norm ``g``.
    """
    out_units = weight.shape[0]
    rows = weight.view(out_units, -1)
    receptive = weight[0, 0].numel() if weight.dim() > 2 else 1
    fan_in, fan_out = weight.shape[1] * receptive, out_units * receptive
    g = math.sqrt(gain * fan_in / fan_out)
    nn.init.orthogonal_(rows)
    rows.div_(rows.norm(dim=1, keepdim=True).clamp_min(1e-12)).mul_(g)
