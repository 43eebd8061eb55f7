"""VGG-11 adapted to 32x32 inputs, without BatchNorm and without dropout."""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_common, check_float, scaled

# Configuration "A" of Simonyan & Zisserman (2015): conv widths, "M" = 2x2 max pooling.
CONFIG_A: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(nn.Module):
    """VGG-11 of Supplement I.2 ("VGG-11 on the CIFAR-100 dataset").

    Source: Simonyan & Zisserman (2015), configuration A (8 conv layers,
    64-M-128-M-256-256-M-512-512-M-512-512-M, all 3x3 / padding 1, each followed by ReLU),
    adapted to CIFAR as is common (e.g. ``kuangliu/pytorch-cifar``): after the five poolings a
    32x32 input is 1x1x512, and the classifier is a **single** ``Linear(512, num_classes)``
    (the 4096-4096 ImageNet head is dropped). As in the paper, no BatchNorm and no dropout.
    For ``image_size`` other than 32 the flatten size is ``512 * (image_size // 32) ** 2``;
    ``image_size`` must be >= 32.

    Init (torchvision's VGG scheme): He-normal conv weights (fan-out, ReLU gain), zero biases,
    classifier weights N(0, 0.01^2), zero bias.

    Parameters at 32x32x3: **9,225,610** (10 classes), **9,271,780** (100 classes).

    Options:
        width: channel multiplier for every conv layer (rounded, >= 1); narrow VGGs run on CPU.
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        in_channels: int = 3,
        image_size: int = 32,
        width: float = 1.0,
    ) -> None:
        check_common(num_classes, in_channels, image_size, min_size=32)
        width = check_float("width", width)
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in CONFIG_A:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                out = scaled(int(item), width)
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
                channels = out
        self.features = nn.Sequential(*layers)
        side = image_size // 32
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * side * side, num_classes)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
