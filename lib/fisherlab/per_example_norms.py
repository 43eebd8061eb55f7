"""Per-example squared gradient norms ‖∂ℓ_i/∂θ‖² of a whole batch in one forward and one backward.

The trick of Goodfellow (2015): a layer's parameters reach the loss only through the layer's
output, so the per-example gradient of a layer is built from two per-example tensors that one
ordinary forward and backward already produce — the layer's input ``a_i`` (forward hook) and the
gradient ``δ_i = ∂ℓ_i/∂out_i`` of the *summed* loss with respect to the layer's output
(``torch.autograd.grad`` w.r.t. the captured outputs; with a summed loss and no coupling between
examples, row i of that gradient is example i's own). Hooks capture them
(:mod:`fisherlab.per_example_hooks`); per layer type the squared norm follows from them
(:mod:`fisherlab.per_example_layers`, which gives the formulas): Linear, Conv2d (groups = 1),
BatchNorm1d/2d/3d in eval mode and the SkipInit scalar of ``models.wrn.PreActBlock``.

Only parameters with ``requires_grad`` count, as in :func:`fisherlab.estimators.trace_fisher`.
Anything else (a parameter of another module type, shared, or used outside its owner's
forward; a module called other than once; BatchNorm without running statistics; grouped or
non-zero-padded convolutions; a captured tensor modified in place: the checks of
:mod:`fisherlab.per_example_hooks`) raises :class:`UnsupportedModelError`, the signal on which
``trace_fisher`` falls back to its ``torch.func.vmap`` path.

The model is left as it was: hooks are removed (also on error), BatchNorm and every other
submodule run in eval mode and get their own flags back, ``.grad`` is never written (the
backward is ``torch.autograd.grad`` with respect to the layer outputs, which also skips the
weight-gradient kernels of an ordinary backward).

Cost: one forward and one activation backward of the batch, plus per layer ``bmm``s with the
flops of the layer's weight gradient (N·k² small GEMMs instead of one big one); 1.2-1.7× one
plain forward+backward in all on CPU (``benchmarks/README.md``). The buffers of the conv terms
are built in groups of examples so that each stays below :data:`UNFOLD_BUDGET` elements (one
work buffer reused by every layer); ``chunk_size`` bounds the rest (the activations and the δ
of all layers are alive together).
:func:`per_example_sq_grad_norms_all_labels` does one forward and C backwards, for the exact
Fisher trace.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fisherlab.per_example_hooks import (
    UnsupportedModelError,
    capture,
    check_supported,
    eval_mode,
    hooks_supported,
    run_checks,
)
from fisherlab.per_example_layers import Scratch, site_sq_norms

__all__ = [
    "UNFOLD_BUDGET",
    "UnsupportedModelError",
    "check_supported",
    "hooks_supported",
    "per_example_sq_grad_norms",
    "per_example_sq_grad_norms_all_labels",
]

UNFOLD_BUDGET = 2**24  # elements of the unfolded-input buffer of one group of examples (64 MB f32)

LabelSource = Tensor | Callable[[Tensor], Tensor]


def _hooked_pass(
    model: nn.Module, inputs: Tensor, labels: LabelSource | None
) -> tuple[Tensor, Tensor | None, Tensor]:
    """(squared norms, labels drawn here or None, logits) for one group of examples.

    ``labels=None``: every class in turn (one forward, C backwards), norms of shape (N, C).
    """
    drawn = None
    with capture(model) as (sites, guard), torch.enable_grad():
        with guard:
            logits = model(inputs)
        problem = run_checks(sites, guard)
        if problem is not None:
            raise UnsupportedModelError(problem)
        if logits.ndim != 2 or len(logits) != len(inputs):
            raise UnsupportedModelError("the model must map (N, ...) to logits (N, C)")
        if labels is None:
            classes = range(logits.shape[1])
            targets = [torch.full((len(inputs),), c, device=logits.device) for c in classes]
        elif callable(labels):
            drawn = labels(logits.detach())
            targets = [drawn]
        else:
            targets = [labels]
        outs = [s.out for s in sites]
        columns = []
        scratch = Scratch(UNFOLD_BUDGET)
        for k, y in enumerate(targets):
            loss = F.cross_entropy(logits, y, reduction="sum")
            deltas = torch.autograd.grad(
                loss, outs, allow_unused=True, retain_graph=k < len(targets) - 1
            )  # type: ignore[arg-type]
            total = torch.zeros(len(inputs), dtype=torch.float64, device=inputs.device)
            with torch.no_grad():
                for site, d in zip(sites, deltas, strict=True):
                    total += site_sq_norms(site, d, scratch)
            columns.append(total)
            del loss, deltas
        problem = run_checks(sites, guard)  # nothing may have changed, but be sure
        if problem is not None:
            raise UnsupportedModelError(problem, drawn)
    norms = columns[0] if labels is not None else torch.stack(columns, dim=1)
    return norms, drawn, logits.detach()


def per_example_sq_grad_norms(
    model: nn.Module,
    inputs: Tensor,
    labels: LabelSource,
    *,
    chunk_size: int | None = None,
) -> Tensor:
    """‖∂/∂θ CE(f(x_i), y_i)‖² for every example i, float64 of shape (N,).

    ``labels``: a tensor of class indices, or a function from the (detached) logits of the whole
    batch to the labels — with it and no chunking the labels come from the same forward as the
    gradients (one forward in all); with ``chunk_size`` < N the logits are first computed without
    gradients in chunks, then each chunk of ``chunk_size`` examples gets its own hooked pass.
    The model runs in eval mode. Raises :class:`UnsupportedModelError` (with the labels already
    drawn, if any) when the model is outside what the hooks can handle.
    """
    check_supported(model)
    n = len(inputs)
    chunk = chunk_size or n
    with eval_mode(model):
        if chunk >= n:
            return _hooked_pass(model, inputs, labels)[0]
        if callable(labels):
            with torch.no_grad():
                logits = torch.cat([model(inputs[i : i + chunk]) for i in range(0, n, chunk)])
            labels = labels(logits)
            del logits
        y: Tensor = labels  # type: ignore[assignment]
        parts = []
        for i in range(0, n, chunk):
            try:
                parts.append(_hooked_pass(model, inputs[i : i + chunk], y[i : i + chunk])[0])
            except UnsupportedModelError as err:
                raise UnsupportedModelError(str(err), y) from None
        return torch.cat(parts)


def per_example_sq_grad_norms_all_labels(
    model: nn.Module, inputs: Tensor, *, chunk_size: int | None = None
) -> tuple[Tensor, Tensor]:
    """(S, logits) with S[i, c] = ‖∂/∂θ CE(f(x_i), c)‖² for every example and class (float64).

    One hooked forward and C backward passes per chunk of ``chunk_size`` examples (default: all),
    the graph kept between the backward passes; ``logits`` (N, C) are those of that forward.
    With p = softmax(logits), Σ_c p_ic S_ic is example i's exact Fisher trace
    Tr(J_iᵀ (diag p_i − p_i p_iᵀ) J_i) (the Gauss-Newton diagonal of the CE loss). The model
    runs in eval mode; raises :class:`UnsupportedModelError` when the hooks cannot handle it.
    """
    check_supported(model)
    n = len(inputs)
    chunk = chunk_size or n
    with eval_mode(model):
        parts = [_hooked_pass(model, inputs[i : i + chunk], None) for i in range(0, n, chunk)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[2] for p in parts])
