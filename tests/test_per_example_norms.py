"""The hook path for per-example squared gradient norms against torch.func (vmap) and loops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_untouched, snapshot
from torch import Tensor, nn
from torch.func import vmap

from fisherlab import per_example_norms as pen
from fisherlab.estimators import _per_example_sq_norm_fn, _state, eval_mode, trace_fisher
from fisherlab.models import build_model
from fisherlab.per_example_norms import (
    UnsupportedModelError,
    hooks_supported,
    per_example_sq_grad_norms,
    per_example_sq_grad_norms_all_labels,
)


def vmap_sq_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """The reference: ‖∂/∂θ CE(f(x_i), y_i)‖² by torch.func, in eval mode."""
    with eval_mode(model):
        params, buffers = _state(model)
        return vmap(_per_example_sq_norm_fn(model, params, buffers))(x, y).double()


def loop_sq_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    out = []
    with eval_mode(model):
        for xi, yi in zip(x, y, strict=True):
            loss = F.cross_entropy(model(xi.unsqueeze(0)), yi.unsqueeze(0))
            out.append(sum(g.double().pow(2).sum() for g in torch.autograd.grad(loss, params)))
    return torch.stack(out)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _warm(model: nn.Module, x: Tensor) -> None:
    """Non-trivial BN statistics and affine parameters; non-zero SkipInit scalars."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(x * 1.5 + 0.3)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
            alpha = getattr(m, "alpha", None)
            if isinstance(alpha, nn.Parameter):
                alpha.fill_(0.7)


# -- the conftest models (float64) ------------------------------------------------------------


def test_hooks_match_per_example_loop(small_case):
    model, x, y = small_case
    assert hooks_supported(model)
    got = per_example_sq_grad_norms(model, x, y)
    torch.testing.assert_close(got, loop_sq_norms(model, x, y), rtol=1e-10, atol=0)


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_trace_fisher_hooks_equals_vmap(small_case, chunk_size):
    model, x, _ = small_case
    F.cross_entropy(model(x), torch.zeros(len(x), dtype=torch.long)).backward()
    before = snapshot(model)
    kw = {"chunk_size": chunk_size}
    hooks = trace_fisher(model, x, generator=_gen(4), method="hooks", **kw)
    assert_untouched(model, before, no_hooks=True)
    vm = trace_fisher(model, x, generator=_gen(4), method="vmap", **kw)
    auto = trace_fisher(model, x, generator=_gen(4), **kw)
    assert hooks == pytest.approx(vm, rel=1e-10)
    assert auto == hooks


@pytest.mark.parametrize("chunk_size", [None, 4])
def test_exact_trace_fisher_hooks_equals_vmap(small_case, chunk_size):
    model, x, _ = small_case
    before = snapshot(model)
    hooks = trace_fisher(model, x, labels="exact", method="hooks", chunk_size=chunk_size)
    assert_untouched(model, before, no_hooks=True)
    vm = trace_fisher(model, x, labels="exact", method="vmap", chunk_size=chunk_size)
    assert hooks == pytest.approx(vm, rel=1e-10)


def test_all_labels_match_loop(small_case):
    model, x, _ = small_case
    sq, logits = per_example_sq_grad_norms_all_labels(model, x)
    assert sq.shape == logits.shape == (len(x), 3)
    for c in range(3):
        y = torch.full((len(x),), c)
        torch.testing.assert_close(sq[:, c], loop_sq_norms(model, x, y), rtol=1e-10, atol=0)


# -- the project's models --------------------------------------------------------------------

ZOO = [
    ("simplecnn", {"width": 0.25}, 10),
    ("vgg11", {"width": 0.125}, 32),
    ("resnet26", {}, 8),
    ("wrn", {"depth": 8, "width": 1, "bn": True}, 8),
    ("wrn", {"depth": 8, "width": 1, "bn": False}, 8),
    ("densenet", {"depth": 7, "growth_rate": 4}, 8),
    ("mlp", {"hidden": (16,), "batchnorm": True}, 6),
]


@pytest.mark.parametrize(("name", "options", "size"), ZOO, ids=lambda v: str(v))
def test_project_models_hooks_equal_vmap(name, options, size):
    torch.manual_seed(0)
    model = build_model(name, in_channels=3, image_size=size, **options).double()
    x = torch.randn(4, 3, size, size, dtype=torch.float64)
    _warm(model, x)
    assert hooks_supported(model)
    y = torch.randint(0, 10, (4,))
    F.cross_entropy(model(x), y).backward()
    before = snapshot(model)
    got = per_example_sq_grad_norms(model, x, y)
    assert_untouched(model, before, no_hooks=True)
    torch.testing.assert_close(got, vmap_sq_norms(model, x, y), rtol=1e-9, atol=0)
    hooks = trace_fisher(model, x, generator=_gen(1), method="hooks")
    assert_untouched(model, before, no_hooks=True)
    assert hooks == pytest.approx(trace_fisher(model, x, generator=_gen(1), method="vmap"), 1e-9)
    exact = trace_fisher(model, x, labels="exact", method="hooks")
    assert exact == pytest.approx(trace_fisher(model, x, labels="exact", method="vmap"), 1e-9)


def test_float32_simplecnn():
    torch.manual_seed(0)
    model = build_model("simplecnn", width=0.5)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    got = per_example_sq_grad_norms(model, x, y)
    torch.testing.assert_close(got, vmap_sq_norms(model, x, y), rtol=1e-5, atol=0)


# -- layer variants ---------------------------------------------------------------------------


class Tokens(nn.Module):
    """Linear on (N, T, F) inputs (weight shared over positions), then pooled."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)
        self.out = nn.Linear(d_out, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(torch.relu(self.lin(x.flatten(2).transpose(1, 2))).mean(1))


LAYERS = {
    "stride2-pad1": lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1),
    "stride3-k5": lambda: nn.Conv2d(2, 4, 5, stride=3, padding=2),
    "dilation2": lambda: nn.Conv2d(2, 4, 3, dilation=2, padding=1),
    "dilation-rows-only": lambda: nn.Conv2d(2, 4, 3, dilation=(2, 1)),
    "same-even-kernel": lambda: nn.Conv2d(2, 4, 4, padding="same", bias=False),
    "same-dilated": lambda: nn.Conv2d(2, 4, 3, padding="same", dilation=2),
    "valid": lambda: nn.Conv2d(2, 4, 3, padding="valid"),
    "unequal-stride": lambda: nn.Conv2d(2, 4, 3, stride=(2, 1), padding=(1, 0)),
    "rect-kernel": lambda: nn.Conv2d(2, 4, (3, 1), padding=(1, 0)),
    "1x1-stride2": lambda: nn.Conv2d(2, 4, 1, stride=2),
    "gram": lambda: nn.Conv2d(2, 24, 3, stride=4),  # 2x2 positions: Gram is cheaper
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_conv_variants(kind):
    torch.manual_seed(0)
    model = nn.Sequential(LAYERS[kind](), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3)).double()
    x = torch.randn(5, 2, 9, 9, dtype=torch.float64)
    model(x)  # materialise the lazy layer
    y = torch.randint(0, 3, (5,))
    torch.testing.assert_close(
        per_example_sq_grad_norms(model, x, y), loop_sq_norms(model, x, y), rtol=1e-10, atol=0
    )


def test_other_layers_frozen_parameters_and_small_groups(monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(6, 2, 5, 5, dtype=torch.float64)
    models = [
        Tokens(2, 6).double(),
        nn.Sequential(nn.Flatten(2), nn.BatchNorm1d(2), nn.Flatten(), nn.Linear(50, 3)).double(),
        nn.Sequential(
            nn.Unflatten(1, (1, 2)), nn.BatchNorm3d(1), nn.Flatten(), nn.Linear(50, 3)
        ).double(),
    ]
    frozen = nn.Sequential(
        nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(27, 3)
    ).double()
    frozen[0].weight.requires_grad_(False)
    frozen[1].bias.requires_grad_(False)
    frozen[4].bias.requires_grad_(False)
    models.append(frozen)
    y = torch.randint(0, 3, (6,))
    for model in models:
        _warm(model, x)
        want = loop_sq_norms(model, x, y)
        torch.testing.assert_close(per_example_sq_grad_norms(model, x, y), want, rtol=1e-10, atol=0)
    monkeypatch.setattr(pen, "UNFOLD_BUDGET", 1)  # one example per group
    for model in (models[0], frozen):
        want = loop_sq_norms(model, x, y)
        torch.testing.assert_close(per_example_sq_grad_norms(model, x, y), want, rtol=1e-10, atol=0)


# -- fallbacks --------------------------------------------------------------------------------


class TwiceCalled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.b(torch.tanh(self.a(torch.tanh(self.a(x)))))


class UsedOutside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.b(torch.tanh(self.a(x))) + F.linear(x, self.a.weight)[:, :3]


class InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.b(self.a(x).relu_())


def _shared() -> nn.Module:
    a = nn.Linear(4, 4)
    b = nn.Linear(4, 4)
    b.weight = a.weight
    return nn.Sequential(a, nn.Tanh(), b, nn.Tanh(), nn.Linear(4, 3))


FALLBACKS = {
    "layernorm": (lambda: nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 3)), True),
    "conv1d": (lambda: nn.Sequential(nn.Unflatten(1, (1, 4)), nn.Conv1d(1, 2, 2),
                                     nn.Flatten(), nn.Linear(6, 3)), True),
    "grouped-conv": (lambda: nn.Sequential(nn.Unflatten(1, (2, 2, 1)), nn.Conv2d(2, 2, 1, groups=2),
                                           nn.Flatten(), nn.Linear(4, 3)), True),
    "shared-parameter": (_shared, True),
    "called-twice": (TwiceCalled, False),
    "used-outside-forward": (UsedOutside, False),
    "in-place-on-output": (InPlace, False),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(FALLBACKS))
@pytest.mark.parametrize("chunk_size", [None, 3])
def test_unsupported_models_fall_back_to_vmap(kind, chunk_size):
    factory, static = FALLBACKS[kind]
    torch.manual_seed(0)
    model = factory().double()
    x = torch.randn(7, 4, dtype=torch.float64)
    assert hooks_supported(model) is not static
    F.cross_entropy(model(x), torch.zeros(7, dtype=torch.long)).backward()
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError):
        trace_fisher(model, x, generator=_gen(2), method="hooks", chunk_size=chunk_size)
    assert_untouched(model, before, no_hooks=True)
    auto = trace_fisher(model, x, generator=_gen(2), chunk_size=chunk_size)
    assert_untouched(model, before, no_hooks=True)
    vm = trace_fisher(model, x, generator=_gen(2), method="vmap", chunk_size=chunk_size)
    assert auto == pytest.approx(vm, rel=1e-12)
    assert auto == pytest.approx(float(loop_sq_norms(model, x, _labels(model, x, 2)).mean()))
    with pytest.raises(UnsupportedModelError):
        trace_fisher(model, x, labels="exact", method="hooks", chunk_size=chunk_size)
    exact = trace_fisher(model, x, labels="exact", chunk_size=chunk_size)
    assert_untouched(model, before, no_hooks=True)
    assert exact == trace_fisher(model, x, labels="exact", method="vmap", chunk_size=chunk_size)


def test_batch_statistics_batchnorm_is_refused():
    """BN without running statistics couples the examples: no per-example gradient exists."""
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False))
    assert not hooks_supported(model)
    with pytest.raises(UnsupportedModelError, match="running statistics"):
        trace_fisher(model, torch.randn(3, 4), method="hooks")


def _labels(model: nn.Module, x: Tensor, seed: int) -> Tensor:
    with torch.no_grad(), eval_mode(model):
        probs = torch.softmax(model(x).double(), -1)
    return torch.multinomial(probs, 1, generator=_gen(seed)).squeeze(1)


def test_bad_method():
    model = nn.Linear(2, 3)
    with pytest.raises(ValueError, match="method"):
        trace_fisher(model, torch.randn(2, 2), method="fast")
