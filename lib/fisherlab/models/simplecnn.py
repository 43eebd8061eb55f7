"""SimpleCNN: the Keras ``cifar10_cnn.py`` example, as modified in the paper."""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_choice, check_common, check_float, glorot_init_, scaled

INITS = ("keras", "torch")


def _flat_side(image_size: int) -> int:
    """Spatial side after conv(same)-conv(valid)-pool2-conv(same)-conv(valid)-pool2."""
    side = (image_size - 2) // 2
    return (side - 2) // 2


class SimpleCNN(nn.Module):
    """SimpleCNN of Supplement I.2 ("SimpleCNN on the CIFAR-10 dataset").

    Source: the Keras example ``examples/cifar10_cnn.py`` (Chollet et al., 2015) with the paper's
    two changes: dropout removed and the final fully-connected layer reduced from 512 to 128::

        Conv(32, 3x3, same)-ReLU-Conv(32, 3x3, valid)-ReLU-MaxPool(2)
        Conv(64, 3x3, same)-ReLU-Conv(64, 3x3, valid)-ReLU-MaxPool(2)
        Flatten-Linear(128)-ReLU-Linear(num_classes)

    No BatchNorm. Max pooling floors odd sizes (Keras ``padding='valid'``), so the flatten size is
    ``64 * s**2`` with ``s = ((image_size - 2) // 2 - 2) // 2`` (s=6 at 32x32); ``image_size``
    must be >= 10.

    Parameters at 32x32x3: **361,898** (10 classes), **373,508** (100 classes).

    Options:
        width: multiplies the conv channels (32, 64) and the 128-unit FC layer (rounded, >= 1);
            used for tiny smoke-test models.
        init: ``"keras"`` (default) = Keras defaults, Glorot-uniform kernels with fans that
            include the receptive field and zero biases; ``"torch"`` = PyTorch's default init.
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        in_channels: int = 3,
        image_size: int = 32,
        width: float = 1.0,
        init: str = "keras",
    ) -> None:
        check_common(num_classes, in_channels, image_size, min_size=10)
        width = check_float("width", width)
        check_choice("init", init, INITS)
        super().__init__()
        c1, c2, fc = scaled(32, width), scaled(64, width), scaled(128, width)
        side = _flat_side(image_size)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c1, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c2, c2, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * side * side, fc),
            nn.ReLU(),
            nn.Linear(fc, num_classes),
        )
        if init == "keras":
            glorot_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
