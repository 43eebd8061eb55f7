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

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from fisherlab.estimators import eval_mode, sample_model_labels

__all__ = [
    "fisher_penalty",
    "fisher_penalty_grad_fd",
    "gradient_norm_penalty",
    "input_gradient_penalty",
    "per_example_fisher_penalty",
    "sample_model_labels",
    "sample_uniform_labels",
]


def _params(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


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


_RELUS = (F.relu, torch.relu, torch.Tensor.relu, F.relu_, torch.relu_, torch.Tensor.relu_)
_MAX_POOLS = {
    F.max_pool1d: (1, F.max_pool1d_with_indices),
    F.max_pool1d_with_indices: (1, F.max_pool1d_with_indices),
    F.max_pool2d: (2, F.max_pool2d_with_indices),
    F.max_pool2d_with_indices: (2, F.max_pool2d_with_indices),
    F.max_pool3d: (3, F.max_pool3d_with_indices),
    F.max_pool3d_with_indices: (3, F.max_pool3d_with_indices),
}


class _FrozenKinks(TorchFunctionMode):
    """Record (first forward) or replay (later forwards) ReLU masks and max-pooling argmaxes.

    A ReLU network's loss gradient jumps wherever a ReLU input or a max-pool argmax changes sign
    or place, so a finite difference of gradients picks up O(1) jump terms however small the step
    (thousands of units cross over at any step float32 can resolve). The double-backprop Hessian
    is that of the network with its activation pattern held fixed; replaying the pattern of the
    first forward in the perturbed one makes the finite difference converge to it. ReLU (module,
    functional, tensor method, in-place or not) and max pooling (1-3d) are frozen; any other kinked
    operation (leaky ReLU, clamp, hardtanh, adaptive max pooling) is not.
    """

    def __init__(self, recorded: list[Tensor] | None = None) -> None:
        super().__init__()
        self.replaying = recorded is not None
        self.recorded: list[Tensor] = [] if recorded is None else recorded
        self.pos = 0

    def _next(self) -> Tensor:
        if self.pos >= len(self.recorded):
            raise RuntimeError("the perturbed forward runs more ReLU/max-pool calls than the first")
        self.pos += 1
        return self.recorded[self.pos - 1]

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func in _RELUS:
            x = args[0]
            inplace = func in (F.relu_, torch.relu_, torch.Tensor.relu_) or kwargs.get("inplace")
            if self.replaying:
                mask = self._next()
                return x.mul_(mask) if inplace else x * mask
            out = func(*args, **kwargs)
            self.recorded.append(out > 0)
            return out
        if func in _MAX_POOLS:
            dims, with_indices = _MAX_POOLS[func]
            want_indices = func is with_indices or bool(kwargs.get("return_indices"))
            if self.replaying:
                x, idx = args[0], self._next()
                out = x.flatten(-dims).gather(-1, idx.flatten(-dims)).view_as(idx)
            else:
                out, idx = with_indices(*args, **{**kwargs, "return_indices": True})
                self.recorded.append(idx)
            return (out, idx) if want_indices else out
        return func(*args, **kwargs)


def fisher_penalty_grad_fd(
    model: nn.Module,
    inputs: Tensor,
    *,
    generator: torch.Generator | None = None,
    eps: float | None = None,
) -> tuple[float, list[Tensor]]:
    """(‖ḡ‖², ∇θ‖ḡ‖²) of the Fisher penalty, the gradient by a finite-difference Hessian product.

    ḡ = ∇L(θ) is the mean gradient of the batch CE with labels ŷ_i ~ p_θ(y|x_i) (drawn exactly as
    in :func:`fisher_penalty`, so the same generator state gives the same labels and value). The
    exact gradient is ∇θ‖ḡ‖² = 2 H ḡ, H the Hessian of L with ŷ held fixed; here, with u = ḡ/‖ḡ‖,

        2 H ḡ ≈ 2 ‖ḡ‖ (∇L(θ + r u) − ∇L(θ)) / r,   r = eps · max(‖θ‖, 1),

    a forward difference (‖θ‖ over the trainable parameters), ∇L(θ + r u) taken with the same
    labels, the same BatchNorm mode and the ReLU/max-pool pattern of the forward at θ (see
    :class:`_FrozenKinks`: without it the difference quotient does not converge for ReLU nets).
    Cost: two forward+backward passes, no double backprop.

    ``eps`` defaults to 1e-5 for float32 (and lower precisions, untuned) and 1e-8 for float64:
    the truncation error grows as r and the rounding error as 1/r; these gave relative errors of
    ~1e-3 in float32 (cosine > 0.99999) and ~1e-8 in float64 on SimpleCNN (at initialisation and
    after training), an MLP with BatchNorm and ResNet-26.

    The model runs in its current mode, as in :func:`fisher_penalty` (train-mode BatchNorm uses
    the batch statistics, at θ + r u too). Side effects are those of :func:`fisher_penalty`: the
    first forward updates BatchNorm running statistics once; the parameters are restored from a
    copy (bit-identical) and the buffers to their state after that first forward. ``.grad`` is not
    touched.
    """
    params = _params(model)
    with _FrozenKinks() as kinks:
        logits = model(inputs)
    labels = sample_model_labels(logits, generator)
    grads = torch.autograd.grad(F.cross_entropy(logits, labels), params)
    del logits
    with torch.no_grad():
        value = float(torch.stack([g.double().pow(2).sum() for g in grads]).sum())
        if value == 0.0:
            return value, [torch.zeros_like(p) for p in params]
        g_norm = math.sqrt(value)
        if eps is None:
            eps = 1e-8 if params[0].dtype == torch.float64 else 1e-5
        theta_norm = math.sqrt(float(torch.stack([p.double().pow(2).sum() for p in params]).sum()))
        r = eps * max(theta_norm, 1.0)
        saved_params = [p.detach().clone() for p in params]
        saved_buffers = [b.detach().clone() for b in model.buffers()]
    try:
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.add_(g, alpha=r / g_norm)
        with _FrozenKinks(kinks.recorded) as replay:
            loss = F.cross_entropy(model(inputs), labels)
        if replay.pos != len(replay.recorded):
            raise RuntimeError(
                "the perturbed forward runs fewer ReLU/max-pool calls than the first"
            )
        grads_r = torch.autograd.grad(loss, params)
    finally:
        with torch.no_grad():
            for p, saved in zip(params, saved_params, strict=True):
                p.copy_(saved)
            for b, saved in zip(model.buffers(), saved_buffers, strict=True):
                b.copy_(saved)
    scale = 2 * g_norm / r
    return value, [(gr - g).mul_(scale) for gr, g in zip(grads_r, grads, strict=True)]


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
