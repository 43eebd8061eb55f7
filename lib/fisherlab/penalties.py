"""Differentiable gradient-norm penalties (paper Section 4 and Supplement C).

Pure functions of (model, inputs, labels) returning a scalar tensor with a graph, so
``penalty.backward()`` (double backprop) gives its gradient with respect to the parameters.
They run the model in whatever mode it is in (train mode during training: BatchNorm uses batch
statistics, as in the training loss), except ``per_example_fisher_penalty`` which needs eval mode.

Label choices (all drawn without gradient):
- FP (eq. 3): ŷ_i ~ p_θ(y|x_i), the model's own predictive distribution — ``sample_model_labels``;
- GP: the true labels;
- GPr: labels drawn uniformly from the label set — ``sample_uniform_labels``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fisherlab.estimators import eval_mode

__all__ = [
    "fisher_penalty",
    "gradient_norm_penalty",
    "input_gradient_penalty",
    "per_example_fisher_penalty",
    "sample_model_labels",
    "sample_uniform_labels",
]


def _params(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def sample_model_labels(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """ŷ_i ~ softmax(logits_i), one draw per row, no gradient (drawn on the generator's device)."""
    probs = torch.softmax(logits.detach().double(), dim=-1)
    if generator is not None:
        probs = probs.to(generator.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1).to(logits.device)


def sample_uniform_labels(
    n: int,
    num_classes: int,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> Tensor:
    """n labels drawn uniformly from {0, …, num_classes − 1} (GPr)."""
    return torch.randint(0, num_classes, (n,), generator=generator).to(device)


def gradient_norm_penalty(
    model: nn.Module, inputs: Tensor, labels: Tensor, *, logits: Tensor | None = None
) -> Tensor:
    """‖(1/B) Σ_i ∂/∂θ CE(f(x_i), labels_i)‖², differentiable w.r.t. θ (eq. 3 with given labels).

    Cost: one forward (skipped when ``logits`` of ``inputs`` with a graph are given), one backward
    with ``create_graph=True``; its ``.backward()`` costs about two more passes.
    """
    out = model(inputs) if logits is None else logits
    loss = F.cross_entropy(out, labels)
    grads = torch.autograd.grad(loss, _params(model), create_graph=True)
    return sum(g.pow(2).sum() for g in grads)  # type: ignore[return-value]


def fisher_penalty(
    model: nn.Module, inputs: Tensor, *, generator: torch.Generator | None = None
) -> Tensor:
    """Fisher penalty Tr(F^B) = ‖(1/B) Σ_i g(x_i, ŷ_i)‖², ŷ_i ~ p_θ(y|x_i) (paper eq. 3)."""
    logits = model(inputs)
    return gradient_norm_penalty(
        model, inputs, sample_model_labels(logits, generator), logits=logits
    )


def per_example_fisher_penalty(
    model: nn.Module, inputs: Tensor, *, generator: torch.Generator | None = None
) -> Tensor:
    """‖g(x_1, ŷ_1)‖² on the first example of the batch, ŷ_1 ~ p_θ(y|x_1) (Supplement C, eq. 6).

    A single-example gradient: BatchNorm is put in eval mode (train mode is undefined for B = 1).
    """
    with eval_mode(model):
        return fisher_penalty(model, inputs[:1], generator=generator)


def input_gradient_penalty(model: nn.Module, inputs: Tensor, labels: Tensor) -> Tensor:
    """GPx: (1/B) Σ_i ‖∂/∂x_i CE(f(x_i), y_i)‖², differentiable w.r.t. θ.

    The per-example input gradients come from one backward of the summed loss (each x_i reaches
    only its own loss, up to BatchNorm's batch coupling in train mode).
    """
    x = inputs.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), labels, reduction="sum")
    (gx,) = torch.autograd.grad(loss, x, create_graph=True)
    return gx.pow(2).sum() / len(inputs)
