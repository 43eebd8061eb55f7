"""Per-example squared gradient norms ‖∂ℓ_i/∂θ‖² of a whole batch in one forward and one backward.

The trick of Goodfellow (2015): a layer's parameters reach the loss only through the layer's
output, so the per-example gradient of a layer is built from two per-example tensors that one
ordinary forward and backward already produce — the layer's input ``a_i`` (forward hook) and the
gradient ``δ_i = ∂ℓ_i/∂out_i`` of the *summed* loss with respect to the layer's output
(``torch.autograd.grad`` w.r.t. the captured outputs; with a summed loss and no coupling between
examples, row i of that gradient is example i's own). Per layer type:

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

Only parameters with ``requires_grad`` count, as in :func:`fisherlab.estimators.trace_fisher`.
Anything else raises :class:`UnsupportedModelError`, the signal on which ``trace_fisher`` falls
back to its ``torch.func.vmap`` path: a trainable parameter owned by a module of another type
(exact types only — a subclass may change ``forward``), shared between modules, used outside
its owner's ``forward`` (checked during the forward), a supported module called other than
exactly once per forward, BatchNorm without running statistics, a padding mode other than
zeros, grouped convolutions, or a captured tensor modified in place after the layer ran.

The model is left as it was: hooks are removed (also on error), BatchNorm and every other
submodule run in eval mode and get their own flags back, ``.grad`` is never written (the
backward is ``torch.autograd.grad`` with respect to the layer outputs, which also skips the
weight-gradient kernels of an ordinary backward).

Cost: one forward and one activation backward of the batch, plus per layer ``bmm``s with the
flops of the layer's weight gradient (N·k² small GEMMs instead of one big one); 1.2-1.7× one
plain forward+backward in all on CPU (``benchmarks/README.md``). The buffers of the conv terms
are built in groups of examples so that each stays below :data:`UNFOLD_BUDGET` elements (one
work buffer reused by every layer); ``chunk_size``
bounds the rest (the activations and the δ of all layers are alive together).
:func:`per_example_sq_grad_norms_all_labels` does one forward and C backwards, for the exact
Fisher trace.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

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


class UnsupportedModelError(RuntimeError):
    """The hook path cannot compute this model's per-example gradient norms.

    ``labels`` holds the labels if they were already drawn when the problem showed up (so a
    caller falling back to another method reuses them instead of drawing again), else None.
    """

    def __init__(self, message: str, labels: Tensor | None = None) -> None:
        super().__init__(message)
        self.labels = labels


# -- what is supported -----------------------------------------------------------------------


def _trainable(m: nn.Module) -> dict[str, Tensor]:
    return {k: p for k, p in m._parameters.items() if p is not None and p.requires_grad}


def _preact_block_type() -> type | None:
    try:
        from fisherlab.models.wrn import PreActBlock
    except ImportError:  # pragma: no cover - the package always ships it
        return None
    return PreActBlock


_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _unsupported_reason(m: nn.Module) -> str | None:
    """Why module ``m``'s own trainable parameters cannot be handled, or None if they can."""
    own = _trainable(m)
    if not own:
        return None
    kind = type(m)
    names = set(own)
    if kind is nn.Linear:
        return None if names <= {"weight", "bias"} else "Linear with extra parameters"
    if kind is nn.Conv2d:
        if not names <= {"weight", "bias"}:
            return "Conv2d with extra parameters (weight norm?)"
        if m.groups != 1:
            return f"Conv2d with groups={m.groups}"
        if m.padding_mode != "zeros":
            return f"Conv2d with padding_mode={m.padding_mode!r}"
        return None
    if kind in _BATCHNORMS:
        if not names <= {"weight", "bias"}:
            return f"{kind.__name__} with extra parameters"
        if m.running_mean is None or m.running_var is None:
            return f"{kind.__name__} without running statistics (batch statistics in eval mode)"
        return None
    block = _preact_block_type()
    if block is not None and kind is block:
        if names != {"alpha"} or not isinstance(getattr(m, "conv2", None), nn.Conv2d):
            return "PreActBlock with unexpected parameters"
        return None
    return f"{kind.__name__} has trainable parameters ({', '.join(sorted(names))})"


def check_supported(model: nn.Module) -> None:
    """Raise :class:`UnsupportedModelError` if the static checks fail (see the module doc)."""
    seen: dict[int, str] = {}
    for name, m in model.named_modules(remove_duplicate=False):
        reason = _unsupported_reason(m)
        if reason is not None:
            raise UnsupportedModelError(f"module {name or '<root>'}: {reason}")
        for pname, p in _trainable(m).items():
            if id(p) in seen and seen[id(p)] != f"{name}.{pname}":
                raise UnsupportedModelError(
                    f"parameter {name}.{pname} is shared with {seen[id(p)]}"
                )
            seen[id(p)] = f"{name}.{pname}"


def hooks_supported(model: nn.Module) -> bool:
    """True when :func:`check_supported` passes (run-time checks can still fail)."""
    try:
        check_supported(model)
    except UnsupportedModelError:
        return False
    return True


# -- capture ---------------------------------------------------------------------------------


@dataclass
class _Site:
    """One module with trainable parameters: what its forward saw and produced."""

    module: nn.Module
    params: dict[str, Tensor]
    calls: int = 0
    inp: Tensor | None = None
    out: Tensor | None = None
    branch: Tensor | None = None  # PreActBlock: the output of conv2
    branch_calls: int = 0
    versions: list[tuple[Tensor, int]] = field(default_factory=list)

    def keep(self, t: Tensor) -> Tensor:
        self.versions.append((t, t._version))
        return t


class _OwnerGuard(TorchFunctionMode):
    """Fails when a tracked parameter enters a torch function outside its owner's forward."""

    def __init__(self, owners: dict[int, nn.Module]) -> None:
        super().__init__()
        self.owners = owners
        self.active: dict[int, int] = {}  # id(module) -> depth of nested calls
        self.violation: str | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if self.violation is None:
            for leaf in tree_leaves((args, kwargs)):
                owner = self.owners.get(id(leaf)) if isinstance(leaf, Tensor) else None
                if owner is not None and not self.active.get(id(owner)):
                    name = getattr(func, "__name__", str(func))
                    self.violation = f"a parameter of {type(owner).__name__} is used by {name} "
                    self.violation += "outside that module's forward"
                    break
        return func(*args, **kwargs)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


@contextlib.contextmanager
def _capture(model: nn.Module) -> Iterator[tuple[list[_Site], _OwnerGuard]]:
    """Install the hooks for one forward; remove them on exit, whatever happens."""
    sites: list[_Site] = []
    owners: dict[int, nn.Module] = {}
    for m in model.modules():
        params = _trainable(m)
        if params:
            sites.append(_Site(m, params))
            owners.update({id(p): m for p in params.values()})
    guard = _OwnerGuard(owners)
    handles = []
    block = _preact_block_type()

    def pre_hook(module: nn.Module, args: tuple) -> None:
        guard.active[id(module)] = guard.active.get(id(module), 0) + 1

    def make_hook(site: _Site) -> Callable:
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            guard.active[id(module)] -= 1
            site.calls += 1
            if not isinstance(output, Tensor) or not args or not isinstance(args[0], Tensor):
                guard.violation = guard.violation or f"{type(module).__name__}: not tensor→tensor"
                return
            site.inp, site.out = site.keep(args[0]), site.keep(output)

        return hook

    def make_branch_hook(site: _Site) -> Callable:
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            site.branch_calls += 1
            if isinstance(output, Tensor):
                site.branch = site.keep(output)

        return hook

    try:
        for site in sites:
            handles.append(site.module.register_forward_pre_hook(pre_hook))
            handles.append(site.module.register_forward_hook(make_hook(site)))
            if block is not None and type(site.module) is block:
                conv2 = site.module.conv2
                handles.append(conv2.register_forward_hook(make_branch_hook(site)))
        yield sites, guard
    finally:
        for h in handles:
            h.remove()


def _run_checks(sites: list[_Site], guard: _OwnerGuard) -> str | None:
    if guard.violation is not None:
        return guard.violation
    block = _preact_block_type()
    for s in sites:
        name = type(s.module).__name__
        if s.calls != 1:
            return f"a {name} was called {s.calls} times in one forward (need exactly 1)"
        if block is not None and type(s.module) is block and s.branch_calls != 1:
            return f"a PreActBlock's conv2 was called {s.branch_calls} times"
        if not s.out.requires_grad:  # type: ignore[union-attr]
            return f"the output of a {name} does not require grad"
        for t, version in s.versions:
            if t._version != version:
                return f"a tensor captured at a {name} was modified in place"
    return None


# -- per-layer squared norms -----------------------------------------------------------------


class _Scratch:
    """Work buffers reused by the conv terms of every layer of one pass.

    Freshly allocated large CPU tensors are fresh pages, and their first touch (page faults)
    costs more than the arithmetic on them: reusing one buffer for all layers cut Tr(F) of
    ResNet-26 by about a third on CPU (``benchmarks/README.md``).
    """

    def __init__(self) -> None:
        self._flat: dict[str, Tensor] = {}

    def zeros(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        numel = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.numel() < numel or flat.dtype != like.dtype:
            flat = self._flat[name] = like.new_empty(numel)
        out = flat[:numel].view(shape)
        out.zero_()
        return out


def _group(n: int, per_example: int) -> int:
    return max(1, min(n, UNFOLD_BUDGET // max(per_example, 1)))


def _positions_sq_norm(d: Tensor, u_fn: Callable[[int, int], Tensor], k: int) -> Tensor:
    """‖Σ_t δ_t a_tᵀ‖² per example; d (N, O, T), u_fn(s, e) the inputs (e−s, K, T) of s:e."""
    n, o, t = d.shape
    gram = t * (k + o) < k * o
    per_example = k * t + (2 * t * t if gram else o * k)
    step = _group(n, per_example)
    out = []
    for s in range(0, n, step):
        u, dd = u_fn(s, min(n, s + step)), d[s : s + step]
        if gram:
            aa = torch.bmm(u.transpose(1, 2), u)
            out.append((aa * torch.bmm(dd.transpose(1, 2), dd)).sum(dim=(1, 2)))
        else:
            out.append(torch.bmm(dd, u.transpose(1, 2)).pow(2).sum(dim=(1, 2)))
    return torch.cat(out)


def _linear(site: _Site, d: Tensor) -> Tensor:
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
        total += _positions_sq_norm(d3, lambda s, e: a3[s:e], a3.shape[1]).double()
    if "bias" in site.params:
        total += d3.sum(2).pow(2).sum(1).double()
    return total


def _conv2d(site: _Site, d: Tensor, scratch: _Scratch) -> Tensor:
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
    scratch: _Scratch,
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
        )
    st = stride[0]
    hp, wp = h + 2 * padding[0], w + 2 * padding[1]
    tq = (ho - 1) * wp + wo
    offsets = [i * dilation[0] * wp + j * dilation[1] for i in range(kh) for j in range(kw)]
    length = max(hp * wp, offsets[-1] + st * (tq - 1) + 1)
    per_example = c * length + o * ho * wp + o * c
    step = _group(n, per_example)
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


def _batchnorm(site: _Site, d: Tensor) -> Tensor:
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


def _skipinit(site: _Site, d: Tensor) -> Tensor:
    b = site.branch
    assert b is not None
    return (d * b).reshape(len(d), -1).sum(1).pow(2).double()


def _site_sq_norms(site: _Site, d: Tensor | None, scratch: _Scratch) -> Tensor:
    kind = type(site.module)
    if d is None:  # the output does not reach the loss: zero gradient
        return torch.zeros(len(site.out), dtype=torch.float64, device=site.out.device)  # type: ignore[arg-type]
    if kind is nn.Linear:
        return _linear(site, d)
    if kind is nn.Conv2d:
        return _conv2d(site, d, scratch)
    if kind in _BATCHNORMS:
        return _batchnorm(site, d)
    return _skipinit(site, d)


# -- the pass --------------------------------------------------------------------------------


def _hooked_pass(
    model: nn.Module, inputs: Tensor, labels: LabelSource | None
) -> tuple[Tensor, Tensor | None, Tensor]:
    """(squared norms, labels drawn here or None, logits) for one group of examples.

    ``labels=None``: every class in turn (one forward, C backwards), norms of shape (N, C).
    """
    drawn = None
    with _capture(model) as (sites, guard), torch.enable_grad():
        with guard:
            logits = model(inputs)
        problem = _run_checks(sites, guard)
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
        scratch = _Scratch()
        for k, y in enumerate(targets):
            loss = F.cross_entropy(logits, y, reduction="sum")
            deltas = torch.autograd.grad(
                loss, outs, allow_unused=True, retain_graph=k < len(targets) - 1
            )  # type: ignore[arg-type]
            total = torch.zeros(len(inputs), dtype=torch.float64, device=inputs.device)
            with torch.no_grad():
                for site, d in zip(sites, deltas, strict=True):
                    total += _site_sq_norms(site, d, scratch)
            columns.append(total)
            del loss, deltas
        problem = _run_checks(sites, guard)  # nothing may have changed, but be sure
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
    with _eval_mode(model):
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
    with _eval_mode(model):
        parts = [_hooked_pass(model, inputs[i : i + chunk], None) for i in range(0, n, chunk)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[2] for p in parts])
