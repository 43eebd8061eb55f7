"""One SGD step of the paper's training loop, usable in any loop: data term, backward, the
regulariser's penalty gradient (recomputed every f steps, Section 4), optimizer step.

``fisherlab.training`` and ``benchmarks/run.py`` both call it, so what is timed is what trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fisherlab.regularizers import NoRegularizer

__all__ = ["StepResult", "sgd_step"]


@dataclass
class StepResult:
    """What a step leaves for bookkeeping; ``ok`` is False when it diverged (no update made)."""

    ok: bool
    logits: Tensor | None = None
    loss: float = math.nan
    grad_norm: float = math.nan  # ‖∇ data term‖ before the penalty gradient is added
    penalty: float | None = None  # the penalty's value on the steps that recompute it
    correct: int = 0


def sgd_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    reg: NoRegularizer,
    x: Tensor,
    y: Tensor,
    *,
    step: int,
    epoch: int,
    seed: int,
) -> StepResult:
    """``opt.step()`` on CE (or mixup's loss) + α·penalty, in train mode.

    The step is refused (``ok=False``, parameters untouched) when the loss, the gradient norm
    or the penalty is not finite: the caller records the run as diverged. Cost: one forward and
    one backward, plus the penalty's double backward on the steps that recompute it.
    """
    model.train()
    opt.zero_grad(set_to_none=True)
    logits, loss = reg.loss(model, x, y, step=step, seed=seed)
    if not torch.isfinite(loss):
        return StepResult(ok=False)
    loss.backward()
    grad_sq = sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None)
    if not math.isfinite(grad_sq):
        return StepResult(ok=False)
    penalty = reg.add_penalty_grad(model, x, y, step=step, epoch=epoch, seed=seed)
    if penalty is not None and not math.isfinite(penalty):
        return StepResult(ok=False)
    opt.step()
    return StepResult(
        ok=True,
        logits=logits,
        loss=float(loss.detach()),
        grad_norm=math.sqrt(grad_sq),
        penalty=penalty,
        correct=int((logits.argmax(1) == y).sum()),
    )
