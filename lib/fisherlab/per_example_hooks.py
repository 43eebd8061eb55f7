"""Hooks that capture each trainable layer's input and output in one forward, with the checks
that decide whether :mod:`fisherlab.per_example_norms` can handle a model.

Static checks (:func:`check_supported`): every trainable parameter belongs to a Linear, a
Conv2d (groups = 1, zero padding), a BatchNorm1d/2d/3d with running statistics or a SkipInit
block (``models.wrn.PreActBlock``) — exact types only, a subclass may change ``forward`` — and
no parameter is shared between modules. Run-time checks (:func:`run_checks`, after the
forward): each such module called exactly once, its parameters used inside its own forward
only (:class:`_OwnerGuard`), its output requiring grad, and no captured tensor modified in
place. A failed check raises :class:`UnsupportedModelError`, on which
``fisherlab.estimators.trace_fisher`` falls back to its ``torch.func.vmap`` path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

__all__ = [
    "BATCHNORMS",
    "Site",
    "UnsupportedModelError",
    "capture",
    "check_supported",
    "eval_mode",
    "hooks_supported",
    "preact_block_type",
    "run_checks",
]


class UnsupportedModelError(RuntimeError):
    """The hook path cannot compute this model's per-example gradient norms.

    ``labels`` holds the labels if they were already drawn when the problem showed up (so a
    caller falling back to another method reuses them instead of drawing again), else None.
    """

    def __init__(self, message: str, labels: Tensor | None = None) -> None:
        super().__init__(message)
        self.labels = labels


def trainable(m: nn.Module) -> dict[str, Tensor]:
    """Module ``m``'s own parameters that require grad (not its children's), by name."""
    return {k: p for k, p in m._parameters.items() if p is not None and p.requires_grad}


def preact_block_type() -> type | None:
    """``models.wrn.PreActBlock``, the one module type with a SkipInit scalar."""
    try:
        from fisherlab.models.wrn import PreActBlock
    except ImportError:  # pragma: no cover - the package always ships it
        return None
    return PreActBlock


BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _unsupported_reason(m: nn.Module) -> str | None:
    """Why module ``m``'s own trainable parameters cannot be handled, or None if they can."""
    own = trainable(m)
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
    if kind in BATCHNORMS:
        if not names <= {"weight", "bias"}:
            return f"{kind.__name__} with extra parameters"
        if m.running_mean is None or m.running_var is None:
            return f"{kind.__name__} without running statistics (batch statistics in eval mode)"
        return None
    block = preact_block_type()
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
        for pname, p in trainable(m).items():
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


@dataclass
class Site:
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
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Every submodule in eval mode inside the block; each gets its own flag back on exit."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


@contextlib.contextmanager
def capture(model: nn.Module) -> Iterator[tuple[list[Site], _OwnerGuard]]:
    """Install the hooks for one forward; remove them on exit, whatever happens."""
    sites: list[Site] = []
    owners: dict[int, nn.Module] = {}
    for m in model.modules():
        params = trainable(m)
        if params:
            sites.append(Site(m, params))
            owners.update({id(p): m for p in params.values()})
    guard = _OwnerGuard(owners)
    handles = []
    block = preact_block_type()

    def pre_hook(module: nn.Module, args: tuple) -> None:
        guard.active[id(module)] = guard.active.get(id(module), 0) + 1

    def make_hook(site: Site) -> Callable:
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            guard.active[id(module)] -= 1
            site.calls += 1
            if not isinstance(output, Tensor) or not args or not isinstance(args[0], Tensor):
                guard.violation = guard.violation or f"{type(module).__name__}: not tensor→tensor"
                return
            site.inp, site.out = site.keep(args[0]), site.keep(output)

        return hook

    def make_branch_hook(site: Site) -> Callable:
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


def run_checks(sites: list[Site], guard: _OwnerGuard) -> str | None:
    """What went wrong in the captured forward (see the module doc), or None if nothing did."""
    if guard.violation is not None:
        return guard.violation
    block = preact_block_type()
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
