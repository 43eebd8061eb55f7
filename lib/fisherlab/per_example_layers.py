"""One layer's per-example squared gradient norms from its captured input and output gradient.

Given a layer's input ``a_i`` and the gradient ``δ_i = ∂ℓ_i/∂out_i`` of the summed loss with
respect to its output (:mod:`fisherlab.per_example_norms`), per layer type:

========================== =================================================================
Linear, 2-d input          ‖g_W‖² = ‖a_i‖² ‖δ_i‖²,  ‖g_b‖² = ‖δ_i‖²
Linear with extra dims,    g_W = Σ_t δ_{i,t} a_{i,t}ᵀ over the T positions (Conv2d: the
Conv2d (groups = 1, any    input patches, K = C_in·kh·kw): either materialised per example
stride/padding/dilation)   (``bmm`` of (C_out×T)(T×K); for convs through strided views of a
                           padded channels-last copy of the input, see ``_conv2d_windows``),
                           or by the Gram trick Σ_{t,t'} (δ_t·δ_t')(a_t·a_t'), whichever is
                           fewer flops (T·K·C_out vs T²·(K + C_out)).
                           ‖g_b‖² = ‖Σ_t δ_{i,t}‖²
BatchNorm1d/2d/3d, eval    g_γ = Σ_spatial δ ⊙ x̂, g_β = Σ_spatial δ, x̂ from the running stats
SkipInit scalar α          g_α = Σ δ_out ⊙ conv2(…), the block's output gradient times its branch
(models.wrn.PreActBlock)
========================== =================================================================

The position terms run over groups of examples whose work buffers stay within a budget of
elements (:class:`Scratch`, one per pass, reused by every layer). Results are float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fisherlab.per_example_hooks import BATCHNORMS, Site

__all__ = ["Scratch", "site_sq_norms"]


class Scratch:
    """Work buffers reused by the conv terms of every layer of one pass.

    Freshly allocated large CPU tensors are fresh pages, and their first touch (page faults)
    costs more than the arithmetic on them: reusing one buffer for all layers cut Tr(F) of
    ResNet-26 by about a third on CPU (``benchmarks/README.md``). ``budget`` bounds the
    elements of one group of examples' buffers (:meth:`group`).
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._flat: dict[str, Tensor] = {}

    def zeros(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        numel = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.numel() < numel or flat.dtype != like.dtype:
            flat = self._flat[name] = like.new_empty(numel)
        out = flat[:numel].view(shape)
        out.zero_()
        return out

    def group(self, n: int, per_example: int) -> int:
        """Examples per group (1 to ``n``) whose buffers of ``per_example`` elements each fit
        the budget."""
        return max(1, min(n, self.budget // max(per_example, 1)))


def _positions_sq_norm(
    d: Tensor, u_fn: Callable[[int, int], Tensor], k: int, scratch: Scratch
) -> Tensor:
    """‖Σ_t δ_t a_tᵀ‖² per example; d (N, O, T), u_fn(s, e) the inputs (e−s, K, T) of s:e."""
    n, o, t = d.shape
    gram = t * (k + o) < k * o
    per_example = k * t + (2 * t * t if gram else o * k)
    step = scratch.group(n, per_example)
    out = []
    for s in range(0, n, step):
        u, dd = u_fn(s, min(n, s + step)), d[s : s + step]
        if gram:
            aa = torch.bmm(u.transpose(1, 2), u)
            out.append((aa * torch.bmm(dd.transpose(1, 2), dd)).sum(dim=(1, 2)))
        else:
            out.append(torch.bmm(dd, u.transpose(1, 2)).pow(2).sum(dim=(1, 2)))
    return torch.cat(out)


def _linear(site: Site, d: Tensor, scratch: Scratch) -> Tensor:
    a, n = site.inp, len(d)
    total = torch.zeros(n, dtype=torch.float64, device=d.device)
    if a.ndim == 2:  # type: ignore[union-attr]
        d_sq = d.pow(2).sum(1)
        if "weight" in site.params:
            total += (a.pow(2).sum(1) * d_sq).double()  # type: ignore[union-attr]
        if "bias" in site.params:
            total += d_sq.double()
        return total
    d3 = d.reshape(n, -1, d.shape[-1]).transpose(1, 2)  # (N, O, T)
    a3 = a.reshape(n, -1, a.shape[-1]).transpose(1, 2)  # type: ignore[union-attr]  # (N, K, T)
    if "weight" in site.params:
        total += _positions_sq_norm(d3, lambda s, e: a3[s:e], a3.shape[1], scratch).double()
    if "bias" in site.params:
        total += d3.sum(2).pow(2).sum(1).double()
    return total


def _conv2d(site: Site, d: Tensor, scratch: Scratch) -> Tensor:
    m, a, n = site.module, site.inp, len(d)
    assert isinstance(m, nn.Conv2d) and a is not None
    total = torch.zeros(n, dtype=torch.float64, device=d.device)
    d3 = d.reshape(n, d.shape[1], -1)  # (N, O, T)
    if "bias" in site.params:
        total += d3.sum(2).pow(2).sum(1).double()
    if "weight" not in site.params:
        return total
    kh, kw = m.kernel_size
    if isinstance(m.padding, str):  # 'valid' or 'same' (stride 1); 'same' may be asymmetric
        pads = []
        for size, dil in zip((kw, kh), (m.dilation[1], m.dilation[0]), strict=True):
            extra = dil * (size - 1) if m.padding == "same" else 0
            pads += [extra // 2, extra - extra // 2]
        a = F.pad(a, pads) if any(pads) else a
        padding: tuple[int, int] = (0, 0)
    else:
        padding = m.padding  # type: ignore[assignment]
    c, o, t = a.shape[1], d.shape[1], d3.shape[2]
    k = c * kh * kw
    if t * (k + o) < k * o:  # Gram trick: fewer flops when there are few positions
        total += _positions_sq_norm(
            d3,
            lambda s, e: F.unfold(
                a[s:e], (kh, kw), dilation=m.dilation, padding=padding, stride=m.stride
            ),
            k,
            scratch,
        ).double()
    else:
        stride, dilation = m.stride, m.dilation
        total += _conv2d_windows(a, d, (kh, kw), stride, padding, dilation, scratch).double()  # type: ignore[arg-type]
    return total


def _conv2d_windows(
    a: Tensor,
    d: Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    scratch: Scratch,
) -> Tensor:
    """‖Σ_t δ_t a_tᵀ‖² per example for a conv, materialising g_i without an unfold.

    The input is copied once, zero-padded and channels-last, into a flat buffer; for kernel tap
    (i, j) the input patch seen by output position (h, w) sits at flat row
    ``off_ij + s·(h·W_p + w)``. With the output rows laid out on the padded width W_p (δ zero
    in the columns w ≥ W_out, whose patches wrap around) and s_h = s_w = s, the positions of
    one tap form a strided view of the buffer whose rows (s·C apart) do not overlap, so g_i's
    block for that tap is one batched GEMM of (O × T')·(T' × C), T' = (H_out − 1)·W_p + W_out,
    with no copy: ``bmm`` hands such views to MKL's batched GEMM, threaded over the examples.
    (Merging a kernel row's kw taps into one (T' × kw·C) operand makes the rows overlap, and
    ``bmm`` then copies each example's block and runs the GEMMs one after another: as fast on
    one thread, 2-2.5× slower on two.) Unequal strides fall back to ``unfold``.
    """
    n, c, h, w = a.shape
    o, ho, wo = d.shape[1:]
    kh, kw = kernel
    if stride[0] != stride[1]:
        k = c * kh * kw
        return _positions_sq_norm(
            d.reshape(n, o, -1),
            lambda s, e: F.unfold(
                a[s:e], kernel, dilation=dilation, padding=padding, stride=stride
            ),
            k,
            scratch,
        )
    st = stride[0]
    hp, wp = h + 2 * padding[0], w + 2 * padding[1]
    tq = (ho - 1) * wp + wo
    offsets = [i * dilation[0] * wp + j * dilation[1] for i in range(kh) for j in range(kw)]
    length = max(hp * wp, offsets[-1] + st * (tq - 1) + 1)
    per_example = c * length + o * ho * wp + o * c
    step = scratch.group(n, per_example)
    out = []
    for s in range(0, n, step):
        e = min(n, s + step)
        b = e - s
        # zero-filled whole, then written: a fill of a strided slice (the padding alone) is
        # many times slower on CPU than a contiguous fill of everything
        buf = scratch.zeros("input", (b, length, c), a)
        interior = buf[:, : hp * wp].view(b, hp, wp, c)
        interior[:, padding[0] : padding[0] + h, padding[1] : padding[1] + w] = a[s:e].permute(
            0, 2, 3, 1
        )
        dp = scratch.zeros("delta", (b, o, ho, wp), d)
        dp[..., :wo] = d[s:e]
        dp = dp.view(b, o, ho * wp)[:, :, :tq]
        acc = torch.zeros(b, dtype=d.dtype, device=d.device)
        for off in offsets:
            view = buf.as_strided((b, tq, c), (length * c, st * c, 1), off * c)
            acc += torch.bmm(dp, view).pow(2).sum(dim=(1, 2))
        out.append(acc)
    return torch.cat(out)


def _batchnorm(site: Site, d: Tensor) -> Tensor:
    m, x, n = site.module, site.inp, len(d)
    assert isinstance(m, nn.modules.batchnorm._BatchNorm) and x is not None
    total = torch.zeros(n, dtype=torch.float64, device=d.device)
    d3 = d.reshape(n, d.shape[1], -1)
    if "weight" in site.params:
        shape = (1, -1, 1)
        xhat = (x.reshape(n, x.shape[1], -1) - m.running_mean.view(shape)) * torch.rsqrt(
            m.running_var.view(shape) + m.eps
        )
        total += (d3 * xhat).sum(2).pow(2).sum(1).double()
    if "bias" in site.params:
        total += d3.sum(2).pow(2).sum(1).double()
    return total


def _skipinit(site: Site, d: Tensor) -> Tensor:
    b = site.branch
    assert b is not None
    return (d * b).reshape(len(d), -1).sum(1).pow(2).double()


def site_sq_norms(site: Site, d: Tensor | None, scratch: Scratch) -> Tensor:
    """‖∂ℓ_i/∂θ‖² over ``site``'s trainable parameters θ, float64 (N,); ``d`` is the gradient
    w.r.t. its output, None when the output does not reach the loss."""
    kind = type(site.module)
    if d is None:  # the output does not reach the loss: zero gradient
        return torch.zeros(len(site.out), dtype=torch.float64, device=site.out.device)  # type: ignore[arg-type]
    if kind is nn.Linear:
        return _linear(site, d, scratch)
    if kind is nn.Conv2d:
        return _conv2d(site, d, scratch)
    if kind in BATCHNORMS:
        return _batchnorm(site, d)
    return _skipinit(site, d)
