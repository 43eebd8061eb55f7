"""DenseNet (L=40, k=12) of Huang et al. (2017): basic layers, no bottleneck, no compression."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._common import check_common, check_int

STEM_CHANNELS = 16  # Huang et al.: 16 initial channels for the basic (non-BC) DenseNet


class DenseLayer(nn.Module):
    """BN-ReLU-Conv(3x3, growth_rate); output concatenated to the input."""

    def __init__(self, c_in: int, growth_rate: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(F.relu(self.bn(x)))], dim=1)


class Transition(nn.Module):
    """BN-ReLU-Conv(1x1, same channels: no compression)-AvgPool(2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet(nn.Module):
    """DenseNet (L=40, k=12) of Supplement I.2 ("DenseNet on the CIFAR-100 dataset").

    Source: Huang et al. (2017), the basic CIFAR DenseNet (no bottleneck, no compression):
    Conv(3x3, 16) stem; 3 dense blocks of ``(depth - 4) / 3`` layers (12 for L=40), each layer
    BN-ReLU-Conv(3x3, k) concatenated to its input; between blocks a transition
    BN-ReLU-Conv(1x1, same channels)-AvgPool(2); head BN-ReLU-global average pool-Linear.
    With BatchNorm; convs have no bias. Huang et al. add dropout 0.2 when training without
    augmentation; the paper does not mention it and we use none (keeps the model deterministic
    for Fisher estimates). ``image_size`` must be >= 4 (two 2x2 poolings).

    Init (as in Huang et al.'s code): He-normal conv weights (fan-out, ReLU gain), BN weight 1 /
    bias 0, zero linear bias (linear weight: PyTorch default).

    Parameters at 32x32x3, default (L=40, k=12): **1,019,722** (10 classes), **1,060,132**
    (100 classes).

    Options:
        depth: L = 3m + 4 with m >= 1 layers per dense block (default 40).
        growth_rate: k >= 1 (default 12).
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        in_channels: int = 3,
        image_size: int = 32,
        depth: int = 40,
        growth_rate: int = 12,
    ) -> None:
        check_common(num_classes, in_channels, image_size, min_size=4)
        check_int("depth", depth, 7)
        if (depth - 4) % 3 != 0:
            raise ValueError(f"depth must be of the form 3m+4 (7, 10, ..., 40, ...), got {depth}")
        check_int("growth_rate", growth_rate, 1)
        super().__init__()
        per_block = (depth - 4) // 3
        self.stem = nn.Conv2d(in_channels, STEM_CHANNELS, 3, padding=1, bias=False)
        layers: list[nn.Module] = []
        channels = STEM_CHANNELS
        for block in range(3):
            for _ in range(per_block):
                layers.append(DenseLayer(channels, growth_rate))
                channels += growth_rate
            if block < 2:
                layers.append(Transition(channels))
        self.features = nn.Sequential(*layers)
        self.head_bn = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.head_bn(self.features(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
