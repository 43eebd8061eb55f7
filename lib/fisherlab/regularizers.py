"""Regularisers as they act inside a training loop: penalties with α, f and a start epoch; mixup.

A regulariser has two hooks, called by ``fisherlab.training`` and usable in any loop::

    logits, loss = reg.loss(model, x, y, step=step, seed=seed)     # the data term (mixup here)
    loss.backward()
    reg.add_penalty_grad(model, x, y, step=step, epoch=epoch, seed=seed)  # adds α∇penalty
    optimizer.step()

``add_penalty_grad`` recomputes the penalty's gradient every ``every`` steps (the paper's f = 10)
and adds the most recently computed one to ``.grad`` in between (Section 4: "we compute the
gradient of the second term only every 10 optimization steps, and in a given iteration use the
most recently computed gradient"). Before ``start_epoch`` it does nothing (delayed FP, Fig. 3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fisherlab.config import TrainConfig
from fisherlab.data.batches import step_generator
from fisherlab.penalties import (
    fisher_penalty,
    fisher_penalty_grad_fd,
    gradient_norm_penalty,
    input_gradient_penalty,
    per_example_fisher_penalty,
    sample_uniform_labels,
)

__all__ = [
    "FiniteDifferenceFisherPenalty",
    "Mixup",
    "NoRegularizer",
    "Penalty",
    "build_regularizer",
]

PENALTY_STREAM, MIXUP_STREAM = 3, 4
PenaltyFn = Callable[[nn.Module, Tensor, Tensor, torch.Generator], Tensor]


class NoRegularizer:
    """Plain cross-entropy."""

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, *, step: int, seed: int
    ) -> tuple[Tensor, Tensor]:
        logits = model(x)
        return logits, F.cross_entropy(logits, y)

    def add_penalty_grad(
        self, model: nn.Module, x: Tensor, y: Tensor, *, step: int, epoch: int, seed: int
    ) -> float | None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Penalty(NoRegularizer):
    """CE + α·penalty, the penalty's gradient recomputed every ``every`` steps and reused between.

    ``add_penalty_grad`` returns the penalty's value on the steps it recomputes it, else None.
    Cost on a recomputing step: one forward and a double backward (≈ 3-4 passes).
    """

    def __init__(self, fn: PenaltyFn, alpha: float, every: int = 10, start_epoch: int = 0) -> None:
        if alpha <= 0 or every < 1 or start_epoch < 0:
            raise ValueError("Penalty needs alpha > 0, every ≥ 1 and start_epoch ≥ 0")
        self.fn, self.alpha, self.every, self.start_epoch = fn, alpha, every, start_epoch
        self.cached: list[Tensor] | None = None
        self.first_step: int | None = None  # recompute schedule counts from the start step

    def add_penalty_grad(
        self, model: nn.Module, x: Tensor, y: Tensor, *, step: int, epoch: int, seed: int
    ) -> float | None:
        if epoch < self.start_epoch:
            return None
        if self.first_step is None:
            self.first_step = step
        params = [p for p in model.parameters() if p.requires_grad]
        value = None
        if self.cached is None or (step - self.first_step) % self.every == 0:
            value, self.cached = self._value_and_grad(
                model, x, y, step_generator(seed, step, PENALTY_STREAM), params
            )
        for p, g in zip(params, self.cached, strict=True):
            p.grad = g.clone() if p.grad is None else p.grad.add_(g)
        return value

    def _value_and_grad(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        params: list[Tensor],
    ) -> tuple[float, list[Tensor]]:
        """(penalty, α∇penalty) by double backprop; zeros for parameters it does not use."""
        penalty = self.fn(model, x, y, generator)
        grads = torch.autograd.grad(self.alpha * penalty, params, allow_unused=True)
        cached = [
            torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)
        ]
        return float(penalty.detach()), cached

    def state_dict(self) -> dict[str, Any]:
        return {"cached": self.cached, "first_step": self.first_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cached, self.first_step = state["cached"], state["first_step"]


class FiniteDifferenceFisherPenalty(Penalty):
    """FP (eq. 3) with its gradient from :func:`~fisherlab.penalties.fisher_penalty_grad_fd`.

    Same α, ``every``/``start_epoch`` schedule, caching, return value and state as
    ``Penalty(fp)``, and the same labels (the same per-step generator); only the gradient differs:
    a finite-difference Hessian-vector product with the activation pattern held fixed (two
    forward+backward passes, no double backprop) instead of double backprop. ``eps``: the relative
    step, None for the dtype's default.
    """

    def __init__(
        self, alpha: float, every: int = 10, start_epoch: int = 0, eps: float | None = None
    ) -> None:
        super().__init__(
            lambda m, x, y, g: fisher_penalty(m, x, generator=g), alpha, every, start_epoch
        )
        self.eps = eps

    def _value_and_grad(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        params: list[Tensor],
    ) -> tuple[float, list[Tensor]]:
        value, grads = fisher_penalty_grad_fd(model, x, generator=generator, eps=self.eps)
        return value, [g.mul_(self.alpha) for g in grads]


class Mixup(NoRegularizer):
    """mixup (Zhang et al., 2018): λ ~ Beta(α, α), x̃ = λx + (1−λ)x_π, loss λCE(y) + (1−λ)CE(y_π)."""

    def __init__(self, alpha: float) -> None:
        if alpha <= 0:
            raise ValueError("mixup needs alpha > 0")
        self.alpha = alpha

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, *, step: int, seed: int
    ) -> tuple[Tensor, Tensor]:
        gen = step_generator(seed, step, MIXUP_STREAM)
        lam = float(np.random.default_rng(int(gen.initial_seed())).beta(self.alpha, self.alpha))
        perm = torch.randperm(len(x), generator=gen).to(x.device)
        logits = model(lam * x + (1 - lam) * x[perm])
        loss = lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[perm])
        return logits, loss


def build_regularizer(config: TrainConfig, num_classes: int) -> NoRegularizer:
    """The regulariser named by ``config.regularizer`` with its α, f and start epoch."""
    name = config.regularizer
    if name == "none":
        return NoRegularizer()
    if name == "mixup":
        return Mixup(config.alpha)
    if name == "fp" and config.penalty_method == "finite_difference":
        return FiniteDifferenceFisherPenalty(
            config.alpha, config.penalty_every, config.penalty_start_epoch
        )
    fns: dict[str, PenaltyFn] = {
        "fp": lambda m, x, y, g: fisher_penalty(m, x, generator=g),
        "fp_exact": lambda m, x, y, g: per_example_fisher_penalty(m, x, generator=g),
        "gp": lambda m, x, y, g: gradient_norm_penalty(m, x, y),
        "gpr": lambda m, x, y, g: gradient_norm_penalty(
            m, x, sample_uniform_labels(len(x), num_classes, g, x.device)
        ),
        "gpx": lambda m, x, y, g: input_gradient_penalty(m, x, y),
    }
    every = 1 if name == "fp_exact" else config.penalty_every
    return Penalty(fns[name], config.alpha, every, config.penalty_start_epoch)
