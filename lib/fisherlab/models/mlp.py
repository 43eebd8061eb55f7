"""A tiny multi-layer perceptron for tests and smoke runs (not a model of the paper)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._common import check_bool, check_common, check_int


class MLP(nn.Module):
    """Flatten-[Linear(h)-(BatchNorm1d)-ReLU]* -Linear(num_classes).

    Not an architecture of the paper; it exists so that tests of estimators and training code
    (Supplement I.1/I.2 quantities such as Tr(F)) run in milliseconds. ``batchnorm=True`` inserts a
    ``BatchNorm1d`` after each hidden ``Linear`` (before the ReLU), giving a cheap BN model.
    PyTorch default initialisation.

    Parameters at 32x32x3 with ``hidden=(64,)``: **197,322** (10 classes), **203,172**
    (100 classes); ``batchnorm=True`` adds 128.

    Options:
        hidden: widths of the hidden layers (each >= 1; empty = a linear classifier).
        batchnorm: insert BatchNorm1d after every hidden Linear.
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        in_channels: int = 3,
        image_size: int = 32,
        hidden: Sequence[int] = (64,),
        batchnorm: bool = False,
    ) -> None:
        check_common(num_classes, in_channels, image_size)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ValueError(f"hidden must be a sequence of integers >= 1, got {hidden!r}")
        widths = tuple(check_int("hidden", h, 1) for h in hidden)
        check_bool("batchnorm", batchnorm)
        super().__init__()
        self.hidden = widths
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = in_channels * image_size * image_size
        for h in widths:
            layers.append(nn.Linear(fan_in, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            fan_in = h
        layers.append(nn.Linear(fan_in, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
