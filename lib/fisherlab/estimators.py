"""Curvature estimators: Tr(F), Tr(F^B) and Hutchinson's Tr(H).

Each function measures a model on a batch and leaves it exactly as it was: parameters,
buffers, ``.grad`` and the train/eval mode of every submodule. BatchNorm (and any other
mode-dependent layer) is put in eval mode for the measurement, as the paper does
(Supplement I.2: Tr(F) uses per-example gradients, for which train-mode BatchNorm is undefined).

Notation (paper Section 2): ``g(x, y) = ∂/∂θ CE(f(x), y)`` and ``p(y|x) = softmax(f(x))_y``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from fisherlab.per_example_norms import (
    UnsupportedModelError,
    hooks_supported,
    per_example_sq_grad_norms,
    per_example_sq_grad_norms_all_labels,
)

__all__ = [
    "PROBE_DISTS",
    "NonFiniteError",
    "ProbeDist",
    "eval_mode",
    "hutchinson_trace",
    "sample_model_labels",
    "trace_fisher",
    "trace_fisher_batch",
]

LabelMode = Literal["sampled", "exact"]
ProbeDist = Literal["rademacher", "gaussian"]
PROBE_DISTS: tuple[ProbeDist, ...] = ("rademacher", "gaussian")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode, restoring each one's own flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


class NonFiniteError(ValueError):
    """The model's outputs are not finite (a diverged model): no label can be sampled."""


def sample_model_labels(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """ŷ_i ~ softmax(logits_i), one draw per row, no gradient (drawn on the generator's device).

    Raises ``NonFiniteError`` when a logit is inf or NaN."""
    if not bool(torch.isfinite(logits).all()):
        raise NonFiniteError("non-finite logits: the model has diverged")
    probs = torch.softmax(logits.detach().double(), dim=-1)
    if generator is not None:
        probs = probs.to(generator.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1).to(logits.device)


def _state(model: nn.Module) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    frozen = {k: v.detach() for k, v in model.named_parameters() if not v.requires_grad}
    return params, {**buffers, **frozen}


def _per_example_sq_norm_fn(
    model: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor]
) -> Callable[[Tensor, Tensor], Tensor]:
    """x, y (single example) -> ‖∂/∂θ CE(f(x), y)‖²."""

    def loss(p: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        logits = functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return F.cross_entropy(logits, y.unsqueeze(0))

    grad_loss = grad(loss)

    def sq_norm(x: Tensor, y: Tensor) -> Tensor:
        g = grad_loss(params, x, y)
        return sum(t.pow(2).sum() for t in g.values())

    return sq_norm


@torch.no_grad()
def _logits(model: nn.Module, inputs: Tensor, chunk: int) -> Tensor:
    return torch.cat([model(inputs[i : i + chunk]) for i in range(0, len(inputs), chunk)])


def trace_fisher(
    model: nn.Module,
    inputs: Tensor,
    *,
    labels: LabelMode = "sampled",
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
    method: str = "auto",
) -> float:
    """Tr(F) on a batch, the paper's eq. (2) with per-example gradients.

    ``labels="sampled"``: (1/N) Σ_i ‖g(x_i, ŷ_i)‖², one draw ŷ_i ~ p(y|x_i) per example made
    with ``generator`` — an unbiased estimate of Tr(F) on these inputs.
    ``labels="exact"``: (1/N) Σ_i Σ_y p(y|x_i) ‖g(x_i, y)‖², the expectation over labels,
    computed in closed form as Tr(J_iᵀ (diag p_i − p_i p_iᵀ) J_i) with J_i the Jacobian of the
    logits (C backward passes per example, C = number of classes).

    Cost (sampled, ``method="vmap"``): one forward to draw labels plus per-example gradients by
    ``torch.func.vmap`` (≈ one forward+backward of the batch with per-example gradient
    materialisation), in chunks of ``chunk_size`` examples (default: all at once) to bound
    memory. BatchNorm in eval mode.

    ``method``: ``"hooks"`` computes the per-example squared norms with layer hooks
    (:mod:`fisherlab.per_example_norms`; Linear, Conv2d, eval-mode BatchNorm, SkipInit) in one
    forward (which also draws the labels, when not chunked) and one backward — for
    ``labels="exact"`` one forward and C backwards, ‖g(x_i, y)‖² for every y weighted by
    p(y|x_i) — and raises ``UnsupportedModelError`` for other models; ``"vmap"`` is the
    ``torch.func`` path above, for any model; ``"auto"`` (default) uses the hooks when the
    model is supported and falls back to vmap otherwise (with the same labels). Both give the
    same value up to floating-point rounding for the same ``generator``.
    """
    if labels not in ("sampled", "exact"):
        raise ValueError(f"labels={labels!r} is not valid; use 'sampled' or 'exact'")
    if method not in ("auto", "hooks", "vmap"):
        raise ValueError(f"method={method!r} is not valid; use 'auto', 'hooks' or 'vmap'")
    if inputs.ndim < 2 or len(inputs) == 0:
        raise ValueError("inputs must be a non-empty batch (N, ...)")
    chunk = chunk_size or len(inputs)
    with eval_mode(model):
        drawn = None
        if method == "hooks" or (method == "auto" and hooks_supported(model)):
            try:
                if labels == "exact":
                    sq, lg = per_example_sq_grad_norms_all_labels(model, inputs, chunk_size=chunk)
                    return float((torch.softmax(lg.double(), dim=-1) * sq).sum(1).mean())
                sq = per_example_sq_grad_norms(
                    model, inputs, lambda lg: sample_model_labels(lg, generator), chunk_size=chunk
                )
                return float(sq.mean())
            except UnsupportedModelError as err:
                if method == "hooks":
                    raise
                drawn = err.labels
        params, buffers = _state(model)
        if labels == "sampled":
            y = (
                sample_model_labels(_logits(model, inputs, chunk), generator)
                if drawn is None
                else drawn
            )
            fn = vmap(_per_example_sq_norm_fn(model, params, buffers), chunk_size=chunk)
            sq = fn(inputs, y)
            return float(sq.double().mean())
        logits = _logits(model, inputs, chunk)
        return _trace_fisher_exact(model, params, buffers, inputs, logits, chunk)


def _trace_fisher_exact(
    model: nn.Module,
    params: dict[str, Tensor],
    buffers: dict[str, Tensor],
    inputs: Tensor,
    logits: Tensor,
    chunk: int,
) -> float:
    num_classes = logits.shape[-1]
    eye = torch.eye(num_classes, dtype=logits.dtype, device=logits.device)

    def f(p: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(model, (p, buffers), (x.unsqueeze(0),)).squeeze(0)

    def gram(x: Tensor) -> Tensor:
        # K = J Jᵀ (C x C) from C vector-Jacobian products eᵀ J.
        _, vjp_fn = torch.func.vjp(lambda p: f(p, x), params)
        rows = vmap(vjp_fn)(eye)[0]
        flat = torch.cat([r.reshape(num_classes, -1) for r in rows.values()], dim=1)
        return flat @ flat.T

    grams = vmap(gram, chunk_size=chunk)(inputs).double()
    p = torch.softmax(logits.double(), dim=-1)
    m = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
    return float((grams * m).sum(dim=(1, 2)).mean())


def trace_fisher_batch(
    model: nn.Module, inputs: Tensor, *, generator: torch.Generator | None = None
) -> float:
    """Tr(F^B) = ‖(1/B) Σ_i g(x_i, ŷ_i)‖², ŷ_i ~ p(y|x_i) (paper eq. 5, Supplement C).

    The cheap mini-batch proxy the Fisher penalty (eq. 3) regularises; E[Tr(F^B)] ≈ Tr(F)/B plus
    the squared norm of the expected gradient. One forward and one backward of the batch.
    BatchNorm in eval mode.
    """
    if inputs.ndim < 2 or len(inputs) == 0:
        raise ValueError("inputs must be a non-empty batch (N, ...)")
    with eval_mode(model):
        params = [p for p in model.parameters() if p.requires_grad]
        logits = model(inputs)
        loss = F.cross_entropy(logits, sample_model_labels(logits, generator))
        g = torch.autograd.grad(loss, params)
        return float(sum(t.double().pow(2).sum() for t in g))


def _probe_vectors(
    dist: ProbeDist, shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """Hutchinson probes of ``shape`` with ``like``'s device and dtype, drawn on the generator's
    device: i.i.d. ±1 (Rademacher) or standard normal (Gaussian) entries."""
    device = generator.device if generator is not None else torch.device("cpu")
    if dist == "gaussian":
        v = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    else:
        v = torch.randint(0, 2, shape, generator=generator, device=device).to(like.dtype)
        v = v.mul_(2).sub_(1)
    return v.to(like.device)


def hutchinson_trace(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    *,
    probes: int = 30,
    probe_dist: ProbeDist = "rademacher",
    generator: torch.Generator | None = None,
) -> float:
    """Hutchinson's estimate of Tr(H), H the Hessian of the mean CE over the batch (Supplement B).

    Tr(H) ≈ (1/M) Σ_m v_mᵀ H v_m with M = ``probes`` i.i.d. vectors v_m drawn with ``generator``
    from ``probe_dist``: ``"gaussian"`` (standard normal entries, the paper's choice in
    Supplement B, with M = 30) or ``"rademacher"`` (±1 entries, the default). Both are unbiased
    (E[v vᵀ] = I). Per probe, for symmetric H, Var(vᵀHv) = 2‖H‖_F² for Gaussian probes and
    2(‖H‖_F² − Σ_i H_ii²) = 2 Σ_{i≠j} H_ij² for Rademacher probes (v_i² = 1, so the diagonal
    adds no noise); the estimate's variance is that divided by M. Rademacher is never worse and
    is much better when the diagonal carries a large share of ‖H‖_F.

    The Hessian-vector products are reverse-over-reverse: one backward with ``create_graph``
    gives ∇L with its graph, then each probe costs one backward of ∇L·v through that graph (as
    PyHessian does). On CPU this is 1.7-2.9× faster than vectorising forward-over-reverse
    products over the probes (``benchmarks/README.md``) and keeps one graph instead of M.
    BatchNorm in eval mode; ``.grad`` is not written.

    For networks piecewise linear in each parameter (ReLU, max-pool, linear/conv, eval-mode BN),
    the result estimates exactly ``trace_fisher(model, inputs, labels="exact")``: the
    second-derivative term of the Gauss-Newton decomposition has a zero diagonal.
    """
    if probes < 1:
        raise ValueError(f"probes={probes} must be ≥ 1")
    if probe_dist not in PROBE_DISTS:
        raise ValueError(f"probe_dist={probe_dist!r} is not valid; accepted values: {PROBE_DISTS}")
    if len(inputs) != len(targets):
        raise ValueError("inputs and targets must have the same length")
    params = [p for p in model.parameters() if p.requires_grad]
    vs = [_probe_vectors(probe_dist, (probes, *p.shape), p, generator) for p in params]
    with eval_mode(model), torch.enable_grad():
        loss = F.cross_entropy(model(inputs), targets)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        values = []
        for m in range(probes):
            v = [t[m] for t in vs]
            hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=m < probes - 1)
            values.append(sum((h * u).sum() for h, u in zip(hv, v, strict=True)).detach())
    return float(torch.stack(values).double().mean())
