"""ResNet-26 / ResNet-56 without normalisation, initialised as in Arpit et al. (2019)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._common import check_common, check_int, wn_effective_init_


class ResidualBlock(nn.Module):
    """``shortcut(x) + conv2(relu(conv1(x)))`` with no ReLU after the addition (Arpit et al.)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        return skip + self.conv2(F.relu(self.conv1(x)))


class ArpitResNet(nn.Module):
    """CIFAR ResNet without BatchNorm, initialised as in Arpit et al. (2019).

    Used in Section 3 / Supplement I.1 (ResNet-26, "No batch normalization is used and weights
    are initialized using (Arpit et al., 2019)") and Section 5 / Supplement I.4 (ResNet-26 on
    CIFAR-10, ResNet-56 on CIFAR-100).

    Architecture (``depth = 6n + 2``; n=4 for ResNet-26, n=9 for ResNet-56), following the ResNet
    of the reference code of Arpit et al. (``victorcampos7/weightnorm-init``, ``src/models``) with
    the He et al. (2016) CIFAR widths: Conv(3x3, 16w) stem without ReLU; 3 stages of n residual
    blocks with 16w, 32w, 64w channels (strides 1, 2, 2); block ``x + F(x)`` with
    ``F(x) = Conv3x3(ReLU(Conv3x3(x)))`` and no ReLU after the addition; a strided 1x1 conv
    shortcut when the shape changes; global average pool; Linear. All convs have biases.

    Initialisation. Arpit et al. derive their scheme for weight-normalised (WN) layers
    ``w_i = g_i v_i / ||v_i||``: ``v`` orthogonal, biases 0, and ``g = sqrt(gain * fan_in /
    fan_out)`` (for a conv, ``fan_in / fan_out = c_in / c_out``) with ``gain = 2`` for a layer
    followed by ReLU, ``gain = 1`` for a layer that is not, and ``gain = 1/N`` for the last
    layer of each residual branch, so that ``||F(x)||^2 ~ ||x||^2 / N`` and the squared norm
    of the hidden state grows by at most ``(1 + 1/N)^N < e`` over N blocks. We implement exactly
    the gains of their reference code: stem gain 1, branch conv1 gain 2, branch conv2 gain 1/N
    with N = blocks **per stage** (their "stage-wise normalisation"; the paper's analysis uses
    the total number of blocks), 1x1 shortcut gain 1, and the classifier left at PyTorch's
    default init (as in that code).

    Simplification: the paper's networks have no BatchNorm but the text does not say they use
    weight normalisation, so we keep plain convolutions and write the *effective* WN weights at
    initialisation into them: each conv's weight, viewed as ``(c_out, c_in*kh*kw)``, is drawn
    orthogonal and each row rescaled to norm ``g``. At initialisation the function computed
    equals that of the WN network; training dynamics are those of an un-normalised network.

    Parameters at 32x32x3 (width 1): ResNet-26 **368,682** (10 classes), **374,532**
    (100 classes); ResNet-56 **853,642** (10 classes), **859,492** (100 classes).

    Options:
        width: channel multiplier w >= 1 (integer; default 1).
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        in_channels: int = 3,
        image_size: int = 32,
        depth: int = 26,
        width: int = 1,
    ) -> None:
        check_common(num_classes, in_channels, image_size)
        check_int("depth", depth, 8)
        if (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be of the form 6n+2 (8, 14, 20, 26, ...), got {depth}")
        check_int("width", width, 1)
        super().__init__()
        n = (depth - 2) // 6
        self.depth, self.width, self.blocks_per_stage = depth, width, n
        self.stem = nn.Conv2d(in_channels, 16 * width, 3, padding=1)
        blocks: list[ResidualBlock] = []
        c_in = 16 * width
        for stage in range(3):
            c_out = 16 * width * 2**stage
            for i in range(n):
                blocks.append(ResidualBlock(c_in, c_out, 2 if (stage > 0 and i == 0) else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, num_classes)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Apply the Arpit et al. (2019) initialisation described in the class docstring."""
        wn_effective_init_(self.stem.weight, gain=1.0)
        nn.init.zeros_(self.stem.bias)
        for block in self.blocks:
            assert isinstance(block, ResidualBlock)
            wn_effective_init_(block.conv1.weight, gain=2.0)
            wn_effective_init_(block.conv2.weight, gain=1.0 / self.blocks_per_stage)
            nn.init.zeros_(block.conv1.bias)
            nn.init.zeros_(block.conv2.bias)
            if isinstance(block.shortcut, nn.Conv2d):
                wn_effective_init_(block.shortcut.weight, gain=1.0)
                nn.init.zeros_(block.shortcut.bias)
        self.fc.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet26(
    num_classes: int = 10, *, in_channels: int = 3, image_size: int = 32, width: int = 1
) -> ArpitResNet:
    """ResNet-26 (n=4) without normalisation, Arpit et al. (2019) init; see :class:`ArpitResNet`.

    Parameters at 32x32x3 (width 1): 368,682 (10 classes), 374,532 (100 classes).
    """
    return ArpitResNet(
        num_classes, in_channels=in_channels, image_size=image_size, depth=26, width=width
    )


def resnet56(
    num_classes: int = 10, *, in_channels: int = 3, image_size: int = 32, width: int = 1
) -> ArpitResNet:
    """ResNet-56 (n=9) without normalisation, Arpit et al. (2019) init; see :class:`ArpitResNet`.

    Parameters at 32x32x3 (width 1): 853,642 (10 classes), 859,492 (100 classes).
    """
    return ArpitResNet(
        num_classes, in_channels=in_channels, image_size=image_size, depth=56, width=width
    )
