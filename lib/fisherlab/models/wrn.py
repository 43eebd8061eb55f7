"""The paper's "Wide ResNet (depth 44, width 3)", with BatchNorm or with SkipInit."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._common import check_bool, check_common, check_int, he_init_


class PreActBlock(nn.Module):
    """Pre-activation basic block: ``shortcut(x) + alpha * conv(act(conv(act(x))))``.

    ``act`` is BN-ReLU with ``bn=True`` and plain ReLU otherwise. With ``bn=False`` the block has a
    learnable scalar ``alpha`` initialised to 0 (SkipInit); with ``bn=True`` there is no ``alpha``.
    The projection shortcut (1x1 conv, used when the shape changes) acts on ``act(x)``, as in
    Zagoruyko & Komodakis (2016).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, bn: bool) -> None:
        super().__init__()
        self.bn1: nn.Module = nn.BatchNorm2d(c_in) if bn else nn.Identity()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not bn)
        self.bn2: nn.Module = nn.BatchNorm2d(c_out) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=not bn)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=not bn)
        self.alpha: nn.Parameter | None = None if bn else nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(a)
        branch = self.conv2(F.relu(self.bn2(self.conv1(a))))
        if self.alpha is not None:
            branch = self.alpha * branch
        return skip + branch


class WideResNet(nn.Module):
    """Wide ResNet "depth 44, width 3" of Sections 2-4 and Supplement I.2.

    The paper cites Zagoruyko & Komodakis (2016) but WRN depths have the form 6n+4, and 44 does not;
    44 = 6n+2 is the form of the CIFAR ResNets of He et al. (2016), which the paper says it
    "largely follows". We therefore read "depth 44, width 3" as the He et al. CIFAR ResNet with
    ``n = (depth - 2) / 6 = 7`` basic blocks per stage (3 stages, 2 convs per block, plus the stem
    conv and the final linear layer = 44 weighted layers), widened as in WRN: stem 16 channels,
    stage widths 16k, 32k, 64k = 48, 96, 192 for k=3, strides 1, 2, 2.

    Block form: pre-activation (He et al., 2016b, as used by WRN). When the number of channels or
    the resolution changes, the shortcut is a 1x1 (strided) conv, as in WRN (needed already in stage
    1, since 16 != 48). Head: act-global average pool-Linear.

    * ``bn=True`` (TinyImageNet experiments): BN-ReLU before every conv and before the head;
      convs have no bias.
    * ``bn=False`` (CIFAR-100 experiments, "without Batch Normalization layers ... SkipInit
      (De & Smith, 2020)"): no normalisation at all; every residual branch is multiplied by a
      learnable scalar initialised to 0, so at initialisation each block is its shortcut; convs
      have biases.

    Init: He-normal conv/linear weights (fan-in, ReLU gain), zero biases, BN weight 1 / bias 0.

    Parameters at 32x32x3, default (depth 44, width 3, bn=True): **5,910,810** (10 classes),
    **5,928,180** (100 classes). With ``bn=False``: **5,906,447** (10), **5,923,817** (100).

    Options:
        depth: 6n+2 with n >= 1 (default 44).
        width: widening factor k >= 1 (default 3).
        bn: BatchNorm (True) or SkipInit without normalisation (False).
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        in_channels: int = 3,
        image_size: int = 32,
        depth: int = 44,
        width: int = 3,
        bn: bool = True,
    ) -> None:
        check_common(num_classes, in_channels, image_size)
        check_int("depth", depth, 8)
        if (depth - 2) % 6 != 0:
            raise ValueError(
                f"depth must be of the form 6n+2 (8, 14, 20, ..., 44, ...), got {depth}"
            )
        check_int("width", width, 1)
        check_bool("bn", bn)
        super().__init__()
        n = (depth - 2) // 6
        self.depth, self.width, self.bn = depth, width, bn
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1, bias=not bn)
        blocks: list[nn.Module] = []
        c_in = 16
        for stage, c_out in enumerate((16 * width, 32 * width, 64 * width)):
            for i in range(n):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(PreActBlock(c_in, c_out, stride, bn))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head_bn: nn.Module = nn.BatchNorm2d(c_in) if bn else nn.Identity()
        self.fc = nn.Linear(c_in, num_classes)
        he_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        x = F.relu(self.head_bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
