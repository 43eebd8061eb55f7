"""Mini-batches from in-memory uint8 tensors: shuffling, batched augmentation, normalisation.

No DataLoader, no PIL in the loop: an epoch is a ``randperm``; a batch is an index into the
uint8 tensor, converted to float, augmented with tensor ops and normalised on its device.
All randomness comes from generators seeded by (seed, epoch) and (seed, step), so a run resumed
at any step replays exactly the batches it would have seen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["augment", "epoch_order", "normalize", "step_generator"]


def step_generator(seed: int, step: int, stream: int) -> torch.Generator:
    """A CPU generator for one purpose (``stream``) at one step, independent of history."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 101 + stream)


def epoch_order(num_examples: int, seed: int, epoch: int) -> Tensor:
    """The shuffled example order of one epoch (CPU int64)."""
    gen = torch.Generator().manual_seed(seed * 7919 + epoch + 1)
    return torch.randperm(num_examples, generator=gen)


def normalize(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """uint8 (or [0, 255] float) NCHW → float32, per-channel standardised."""
    x = images.float().div_(255)
    return (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def augment(images: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Random crop after zero padding by ``pad`` and random horizontal flip, per example.

    The standard CIFAR augmentation (He et al., 2016) applied to a whole NCHW batch at once.
    """
    n, c, h, w = images.shape
    dev = images.device
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(dev)
    flip = (torch.rand(n, generator=generator) < 0.5).to(dev)
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = (offsets[0].view(n, 1) + torch.arange(h, device=dev)).view(n, 1, h, 1)
    cols = offsets[1].view(n, 1) + torch.arange(w, device=dev)
    cols = torch.where(flip.view(n, 1), cols.flip(1), cols).view(n, 1, 1, w)
    batch = torch.arange(n, device=dev).view(n, 1, 1, 1)
    chan = torch.arange(c, device=dev).view(1, c, 1, 1)
    return padded[batch, chan, rows, cols]
