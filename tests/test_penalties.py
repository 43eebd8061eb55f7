"""Penalties and regularisers against brute-force definitions (loops, finite differences)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fisherlab.config import TrainConfig
from fisherlab.data.batches import step_generator
from fisherlab.models import build_model
from fisherlab.penalties import (
    fisher_penalty,
    fisher_penalty_grad_fd,
    gradient_norm_penalty,
    input_gradient_penalty,
    per_example_fisher_penalty,
    sample_model_labels,
    sample_uniform_labels,
)
from fisherlab.regularizers import (
    MIXUP_STREAM,
    PENALTY_STREAM,
    FiniteDifferenceFisherPenalty,
    Mixup,
    NoRegularizer,
    Penalty,
    build_regularizer,
)


def _params(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rel_err(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _cos(a: Tensor, b: Tensor) -> float:
    return float(F.cosine_similarity(a.double(), b.double(), dim=0))


def _grad_of(penalty: Tensor, model: nn.Module) -> Tensor:
    return _flat(list(torch.autograd.grad(penalty, _params(model))))


def _fd_gradient(model: nn.Module, value: Callable[[nn.Module], float], h: float = 1e-6) -> Tensor:
    """Central differences of ``value`` along every coordinate of every trainable parameter."""
    out = []
    for p in _params(model):
        g = torch.zeros(p.numel(), dtype=torch.float64)
        for j in range(p.numel()):
            with torch.no_grad():
                x0 = float(p.view(-1)[j])
                p.view(-1)[j] = x0 + h
            up = value(model)
            with torch.no_grad():
                p.view(-1)[j] = x0 - h
            down = value(model)
            with torch.no_grad():
                p.view(-1)[j] = x0
            g[j] = (up - down) / (2 * h)
        out.append(g)
    return torch.cat(out)


def _example_grad(model: nn.Module, xi: Tensor, yi: int) -> Tensor:
    loss = F.cross_entropy(model(xi.unsqueeze(0)), torch.tensor([yi]))
    return _flat(list(torch.autograd.grad(loss, _params(model))))


# --- the penalties -------------------------------------------------------------------------------


def test_gradient_norm_penalty_is_squared_norm_of_mean_gradient(small_case):
    model, x, y = small_case
    got = float(gradient_norm_penalty(model, x, y).detach())
    ref = copy.deepcopy(model)  # same mode: train-mode BN couples the batch, as in the penalty
    plain = _flat(list(torch.autograd.grad(F.cross_entropy(ref(x), y), _params(ref))))
    assert got == pytest.approx(float(plain.pow(2).sum()), rel=1e-12)
    if not _has_bn(model):  # separable: the mean of per-example gradients
        loop = torch.stack([_example_grad(ref, xi, int(yi)) for xi, yi in zip(x, y, strict=True)])
        assert got == pytest.approx(float(loop.mean(0).pow(2).sum()), rel=1e-10)


PENALTIES: dict[str, Callable[[nn.Module, Tensor, Tensor], Tensor]] = {
    "gp": lambda m, x, y: gradient_norm_penalty(m, x, y),
    "fp": lambda m, x, y: fisher_penalty(m, x, generator=_gen(7)),
    "fp_exact": lambda m, x, y: per_example_fisher_penalty(m, x, generator=_gen(7)),
    "gpx": lambda m, x, y: input_gradient_penalty(m, x, y),
}


@pytest.mark.parametrize("name", list(PENALTIES))
def test_penalty_gradient_matches_finite_differences(small_case, name):
    """The double-backprop gradient of each penalty against central differences (float64)."""
    model, x, y = small_case
    fn = PENALTIES[name]
    exact = _grad_of(fn(model, x, y), model)
    fd = _fd_gradient(model, lambda m: float(fn(m, x, y).detach()))
    assert _rel_err(exact, fd) < 1e-5


def test_fisher_penalty_is_gradient_norm_penalty_with_model_labels(small_case):
    model, x, _ = small_case
    ref = copy.deepcopy(model)
    with torch.no_grad():
        labels = sample_model_labels(ref(x), _gen(11))
    want = gradient_norm_penalty(ref, x, labels)
    got = fisher_penalty(model, x, generator=_gen(11))
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-12)
    assert _rel_err(_grad_of(got, model), _grad_of(want, ref)) < 1e-12


def test_sample_model_labels_follow_the_softmax():
    probs = torch.tensor([[0.7, 0.2, 0.1, 0.0], [0.25, 0.25, 0.25, 0.25], [0.05, 0.05, 0.1, 0.8]])
    n = 20_000
    logits = probs.clamp_min(1e-30).log().float().repeat_interleave(n, 0)  # float32 logits
    labels = sample_model_labels(logits, _gen(0))
    assert labels.dtype == torch.int64 and labels.shape == (3 * n,)
    assert torch.equal(labels, sample_model_labels(logits, _gen(0)))  # seeded: reproducible
    assert not torch.equal(labels, sample_model_labels(logits, _gen(1)))
    freq = torch.stack([torch.bincount(r, minlength=4) for r in labels.view(3, n)]).double() / n
    sigma = (probs * (1 - probs) / n).sqrt()
    assert torch.all((freq - probs).abs() <= 5 * sigma + 1e-12)
    assert freq[0, 3] == 0  # a zero-probability label is never drawn


def test_sample_uniform_labels_are_uniform():
    n, k = 35_000, 7
    labels = sample_uniform_labels(n, k, _gen(0))
    assert labels.dtype == torch.int64 and int(labels.min()) == 0 and int(labels.max()) == k - 1
    assert torch.equal(labels, sample_uniform_labels(n, k, _gen(0)))
    freq = torch.bincount(labels, minlength=k).double() / n
    assert torch.all((freq - 1 / k).abs() <= 5 * math.sqrt((1 / k) * (1 - 1 / k) / n))


def test_per_example_fisher_penalty_is_first_example_in_eval_mode(small_case):
    model, x, _ = small_case
    model.train()
    list(model.modules())[2].eval()  # mixed flags, each of which must be restored
    flags = [m.training for m in model.modules()]
    got = float(per_example_fisher_penalty(model, x, generator=_gen(3)).detach())
    assert [m.training for m in model.modules()] == flags
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        y1 = int(sample_model_labels(ref(x[:1]), _gen(3)))
    want = float(_example_grad(ref, x[0], y1).pow(2).sum())
    assert got == pytest.approx(want, rel=1e-12)


def test_input_gradient_penalty_matches_per_example_loop(small_case):
    model, x, y = small_case
    got = float(input_gradient_penalty(model, x, y).detach())
    ref = copy.deepcopy(model)
    if not _has_bn(model):
        total = 0.0
        for xi, yi in zip(x, y, strict=True):
            xi = xi.unsqueeze(0).requires_grad_(True)
            (gx,) = torch.autograd.grad(F.cross_entropy(ref(xi), yi.view(1)), xi)
            total += float(gx.pow(2).sum())
        want = total / len(x)
    else:  # train-mode BN: x_i also reaches the other losses through the batch statistics
        xr = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(F.cross_entropy(ref(xr), y, reduction="sum"), xr)
        want = float(gx.pow(2).sum()) / len(x)
    assert got == pytest.approx(want, rel=1e-12)


# --- the regularisers ----------------------------------------------------------------------------


def _config(name: str, **changes) -> TrainConfig:
    return TrainConfig(regularizer=name, alpha=0.0 if name == "none" else 0.3, **changes)


def _added_grad(reg, model, x, y, *, step: int, epoch: int = 0, seed: int = 5):
    """(what ``add_penalty_grad`` adds to a zero ``.grad``, its return value)."""
    for p in _params(model):
        p.grad = torch.zeros_like(p)
    value = reg.add_penalty_grad(model, x, y, step=step, epoch=epoch, seed=seed)
    return _flat([p.grad for p in _params(model)]), value


def _perturb(model: nn.Module, seed: int) -> None:
    gen = _gen(seed)
    with torch.no_grad():
        for p in _params(model):
            p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _reference(name: str, model: nn.Module, x: Tensor, y: Tensor, step: int, seed: int = 5):
    """(penalty, α∇penalty) computed directly, on a copy, with the step's penalty generator."""
    m = copy.deepcopy(model)
    gen = step_generator(seed, step, PENALTY_STREAM)
    penalty = {
        "gp": lambda: gradient_norm_penalty(m, x, y),
        "gpr": lambda: gradient_norm_penalty(m, x, sample_uniform_labels(len(x), 3, gen)),
        "gpx": lambda: input_gradient_penalty(m, x, y),
        "fp": lambda: fisher_penalty(m, x, generator=gen),
        "fp_exact": lambda: per_example_fisher_penalty(m, x, generator=gen),
    }[name]()
    return float(penalty.detach()), 0.3 * _grad_of(penalty, m)


def test_penalty_caching_schedule_and_return_values(small_case):
    model, x, y = small_case
    reg = build_regularizer(_config("gp", penalty_every=3), num_classes=3)
    last = None
    for step in range(8):
        _perturb(model, step)  # parameters move between steps: a recompute would differ
        added, value = _added_grad(reg, model, x, y, step=step)
        want_value, want = _reference("gp", model, x, y, step)
        if step % 3 == 0:
            assert value == pytest.approx(want_value, rel=1e-12)
            assert _rel_err(added, want) < 1e-12
            last = added
        else:
            assert value is None
            assert torch.equal(added, last)
            assert _rel_err(added, want) > 1e-6


def test_penalty_adds_to_existing_grad_without_aliasing(small_case):
    model, x, y = small_case
    reg = build_regularizer(_config("gp", penalty_every=2), num_classes=3)
    for p in _params(model):
        p.grad = None
    reg.add_penalty_grad(model, x, y, step=0, epoch=0, seed=5)
    first = _flat([p.grad for p in _params(model)]).clone()
    for p in _params(model):
        p.grad.mul_(-7.0)  # must not reach the cache
    base = _flat([p.grad for p in _params(model)]).clone()
    reg.add_penalty_grad(model, x, y, step=1, epoch=0, seed=5)
    assert torch.allclose(_flat([p.grad for p in _params(model)]), base + first, rtol=0, atol=1e-14)


def test_penalty_start_epoch(small_case):
    model, x, y = small_case
    reg = build_regularizer(_config("gp", penalty_every=3, penalty_start_epoch=2), num_classes=3)
    for step, epoch in [(0, 0), (4, 0), (5, 1), (9, 1)]:
        for p in _params(model):
            p.grad = None
        assert reg.add_penalty_grad(model, x, y, step=step, epoch=epoch, seed=5) is None
        assert all(p.grad is None for p in _params(model))
        added, value = _added_grad(reg, model, x, y, step=step, epoch=epoch)
        assert value is None and not added.any()
    recomputed = []
    for step in range(10, 18):  # epoch 2 starts at step 10: recompute at 10, 13, 16
        _perturb(model, step)
        added, value = _added_grad(reg, model, x, y, step=step, epoch=2)
        recomputed.append(value is not None)
        if value is not None:
            assert _rel_err(added, _reference("gp", model, x, y, step)[1]) < 1e-12
    assert recomputed == [True, False, False, True, False, False, True, False]


def test_penalty_state_dict_round_trip(small_case):
    model, x, y = small_case
    config = _config("fp", penalty_every=3)
    reg = build_regularizer(config, num_classes=3)
    for step in range(5):
        _perturb(model, step)
        _added_grad(reg, model, x, y, step=step)
    state = copy.deepcopy(reg.state_dict())
    twin_model, twin = copy.deepcopy(model), build_regularizer(config, num_classes=3)
    twin.load_state_dict(state)
    for step in range(5, 10):  # 5: from the restored cache; 6 and 9: recomputed
        for m in (model, twin_model):
            _perturb(m, step)
        a, va = _added_grad(reg, model, x, y, step=step)
        b, vb = _added_grad(twin, twin_model, x, y, step=step)
        assert torch.equal(a, b) and va == vb
        assert (va is not None) == (step in (6, 9))


@pytest.mark.parametrize("name", ["gp", "gpr", "gpx", "fp", "fp_exact"])
def test_build_regularizer_penalties(small_case, name):
    model, x, y = small_case
    reg = build_regularizer(_config(name, penalty_every=4, penalty_start_epoch=1), num_classes=3)
    assert isinstance(reg, Penalty) and reg.alpha == 0.3 and reg.start_epoch == 1
    assert reg.every == (1 if name == "fp_exact" else 4)  # eq. 6 is applied at every step
    logits, loss = reg.loss(model, x, y, step=0, seed=5)
    assert float(loss.detach()) == pytest.approx(
        float(F.cross_entropy(logits, y).detach()), rel=1e-14
    )
    value, added = None, None
    for step in range(3):
        added, value = _added_grad(reg, model, x, y, step=10 + step, epoch=1)
    assert value is not None if name == "fp_exact" else value is None
    want_value, want = _reference(name, model, x, y, step=10)
    if name == "fp_exact":  # recomputed at step 12
        want_value, want = _reference(name, model, x, y, step=12)
    assert value is None or value == pytest.approx(want_value, rel=1e-12)
    assert _rel_err(added, want) < 1e-12
    others = [n for n in ("gp", "gpr", "gpx", "fp") if n not in (name, "fp_exact")]
    for other in others:  # the reference tells the label choices apart
        assert _rel_err(_reference(other, model, x, y, step=10)[1], want) > 1e-3


def test_build_regularizer_none_and_mixup(small_case):
    model, x, y = small_case
    reg = build_regularizer(_config("none"), num_classes=3)
    assert type(reg) is NoRegularizer
    _, loss = reg.loss(model, x, y, step=0, seed=0)
    assert float(loss.detach()) == pytest.approx(
        float(F.cross_entropy(model(x), y).detach()), rel=1e-14
    )
    added, value = _added_grad(reg, model, x, y, step=0)
    assert value is None and not added.any()
    mix = build_regularizer(TrainConfig(regularizer="mixup", alpha=0.4), num_classes=3)
    assert isinstance(mix, Mixup) and mix.alpha == 0.4


def test_mixup_loss_and_determinism():
    """An identity 'model' on one-hot rows reveals λ and π from the logits Mixup returns."""
    b = 8
    x, y = torch.eye(b, dtype=torch.float64), torch.tensor([3, 1, 4, 1, 5, 2, 6, 5])
    model = nn.Identity()
    mix = Mixup(0.3)
    lams = []
    for step in range(300):
        logits, loss = mix.loss(model, x, y, step=step, seed=2)
        again, loss2 = mix.loss(model, x, y, step=step, seed=2)
        assert torch.equal(logits, again) and float(loss) == float(loss2)
        off_diagonal = logits * (1 - torch.eye(b))
        moved = off_diagonal.amax(1) > 0  # row i = λ e_i + (1 − λ) e_π(i)
        if not moved.any():
            continue
        lam = float(logits.diagonal()[moved][0])
        perm = torch.where(moved, off_diagonal.argmax(1), torch.arange(b))
        assert sorted(perm.tolist()) == list(range(b))
        assert torch.allclose(logits, lam * x + (1 - lam) * x[perm], rtol=0, atol=1e-12)
        want = lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[perm])
        assert float(loss) == pytest.approx(float(want), rel=1e-10)
        lams.append(lam)
    lam_t = torch.tensor(lams)
    other_seed, _ = mix.loss(model, x, y, step=0, seed=3)
    assert not torch.equal(other_seed, mix.loss(model, x, y, step=0, seed=2)[0])
    # Beta(0.3, 0.3): mean 1/2, variance 1 / (4 (2α + 1)) = 0.1563
    assert abs(float(lam_t.mean()) - 0.5) < 5 * math.sqrt(0.1563 / len(lams))
    assert float(lam_t.var()) == pytest.approx(0.1563, abs=0.04)
    assert MIXUP_STREAM != PENALTY_STREAM


# --- the finite-difference Fisher penalty gradient ----------------------------------------------


def _exact_fp(model: nn.Module, x: Tensor, seed: int) -> tuple[float, Tensor, dict[str, Tensor]]:
    """(value, double-backprop gradient, state afterwards) on a copy of ``model``."""
    m = copy.deepcopy(model)
    penalty = fisher_penalty(m, x, generator=_gen(seed))
    grad = _grad_of(penalty, m)
    return float(penalty.detach()), grad, copy.deepcopy(m.state_dict())


def _check_fd(model: nn.Module, x: Tensor, *, cos_min: float, rel_max: float) -> None:
    value, exact, state_after = _exact_fp(model, x, seed=4)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    params_before = [p.detach().clone() for p in model.parameters()]
    flags = [m.training for m in model.modules()]
    got_value, grads = fisher_penalty_grad_fd(model, x, generator=_gen(4))
    got = _flat(grads)
    assert got_value == pytest.approx(value, rel=1e-6)
    assert _cos(got, exact) >= cos_min
    assert _rel_err(got, exact) < rel_max
    # parameters bit-identical; buffers as after the single forward of fisher_penalty
    assert all(torch.equal(a, b) for a, b in zip(params_before, model.parameters(), strict=True))
    for k, v in model.state_dict().items():
        assert torch.equal(v, state_after[k]), k
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in model.parameters())
    assert [m.training for m in model.modules()] == flags


def test_fd_fisher_gradient_small_models(small_case):
    model, x, _ = small_case
    _check_fd(model, x, cos_min=0.99, rel_max=1e-5)  # float64: rel. error ~1e-8


def test_fd_fisher_gradient_simplecnn_float32():
    torch.manual_seed(0)
    model = build_model("simplecnn", width=0.5).train()
    x = torch.randn(48, 3, 32, 32)
    _check_fd(model, x, cos_min=0.99, rel_max=0.05)  # measured: cos > 0.99999, rel. ~1e-3


class _Kinky(nn.Module):
    """Every ReLU/max-pool spelling _FrozenKinks must catch, plus BatchNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.relu = nn.ReLU(inplace=True)
        self.pool1 = nn.MaxPool1d(2)
        self.fc = nn.Linear(3 * 3 * 3, 8)
        self.out = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        h = self.relu(self.bn(self.conv(x)))
        h, _ = F.max_pool2d(h, 2, return_indices=True)
        h = torch.relu(F.relu(self.fc(h.flatten(1)) - 0.1).sub(0.05)).relu()
        h = h.unsqueeze(1) - 0.02
        torch.relu_(h)  # in place, the return value unused
        return self.out(self.pool1(h).squeeze(1))


def test_fd_fisher_gradient_freezes_every_relu_and_max_pool_spelling():
    torch.manual_seed(1)
    model = _Kinky().double().train()
    x = torch.randn(10, 1, 6, 6, dtype=torch.float64)
    _check_fd(model, x, cos_min=0.99, rel_max=1e-5)


def test_finite_difference_fisher_penalty_regularizer(small_case):
    model, x, y = small_case
    fd_reg = FiniteDifferenceFisherPenalty(0.3, every=3, start_epoch=1)
    exact_reg = build_regularizer(_config("fp", penalty_every=3, penalty_start_epoch=1), 3)
    twin = copy.deepcopy(model)
    assert fd_reg.add_penalty_grad(model, x, y, step=0, epoch=0, seed=5) is None
    last = None
    for step in range(4, 11):
        for m in (model, twin):
            _perturb(m, step)
        a, va = _added_grad(fd_reg, model, x, y, step=step, epoch=1)
        b, vb = _added_grad(exact_reg, twin, x, y, step=step, epoch=1)
        assert (va is None) == (vb is None) == (step not in (4, 7, 10))
        if va is not None:
            assert va == pytest.approx(vb, rel=1e-10)
            last = a
        assert _rel_err(a, b) < 1e-5
        assert torch.equal(a, last)


class _Fickle(nn.Module):
    """Runs one ReLU more (or less) in its second forward: the replay must refuse it."""

    def __init__(self, extra: int) -> None:
        super().__init__()
        self.lin, self.out, self.extra, self.calls = nn.Linear(4, 5), nn.Linear(5, 3), extra, 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        h = self.lin(x)
        for _ in range(1 + (self.extra if self.calls == 2 else 0)):
            h = F.relu(h)
        return self.out(h)


@pytest.mark.parametrize(("extra", "match"), [(1, "more"), (-1, "fewer")])
def test_fd_fisher_gradient_refuses_a_different_pattern_and_restores(extra, match):
    torch.manual_seed(0)
    model = _Fickle(extra).double()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(RuntimeError, match=match):
        fisher_penalty_grad_fd(model, torch.randn(6, 4, dtype=torch.float64), generator=_gen(0))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
