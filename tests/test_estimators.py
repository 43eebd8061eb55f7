"""Estimators against brute-force definitions (loops over examples and labels, exact Hessians)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_untouched, snapshot
from torch import nn

from fisherlab.estimators import hutchinson_trace, trace_fisher, trace_fisher_batch


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def _example_grad(model: nn.Module, x: torch.Tensor, y: int) -> torch.Tensor:
    loss = F.cross_entropy(model(x.unsqueeze(0)), torch.tensor([y]))
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, _params(model))])


def _sampled_labels(model: nn.Module, x: torch.Tensor, seed: int) -> torch.Tensor:
    """The draw the estimators make: softmax in float64, multinomial with a seeded generator."""
    with torch.no_grad():
        probs = torch.softmax(model(x).double(), -1)
    return torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(seed)).squeeze(1)


def brute_trace_fisher_exact(model: nn.Module, x: torch.Tensor) -> float:
    model.eval()
    total = 0.0
    for xi in x:
        with torch.no_grad():
            p = torch.softmax(model(xi.unsqueeze(0)), -1).squeeze(0)
        for y in range(len(p)):
            total += float(p[y]) * float(_example_grad(model, xi, y).pow(2).sum())
    return total / len(x)


def brute_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The Hessian of the mean CE over all parameters (flattened in ``parameters()`` order)."""
    model.eval()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for p in _params(model)]
    flat = torch.cat([p.detach().reshape(-1) for p in _params(model)])
    buffers = dict(model.named_buffers())

    def loss(theta: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(theta, [math.prod(s) for s in shapes])
        params = {n: c.reshape(s) for n, c, s in zip(names, chunks, shapes, strict=True)}
        out = torch.func.functional_call(model, (params, buffers), (x,))
        return F.cross_entropy(out, y)

    return torch.autograd.functional.hessian(loss, flat)


def brute_hessian_trace(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(Tr(H), Σ_{i≠j} H_ij²) of the mean CE via torch.autograd.functional.hessian."""
    h = brute_hessian(model, x, y)
    off = h.pow(2).sum() - h.diagonal().pow(2).sum()
    return float(h.trace()), float(off)


def probe_variance(h: torch.Tensor, dist: str) -> float:
    """Var(vᵀHv) for one probe: 2‖H‖_F² (Gaussian), 2 Σ_{i≠j} H_ij² (Rademacher)."""
    fro = float(h.pow(2).sum())
    return 2 * fro if dist == "gaussian" else 2 * (fro - float(h.diagonal().pow(2).sum()))


def test_trace_fisher_exact_matches_loop_over_labels(small_case):
    model, x, _ = small_case
    got = trace_fisher(model, x, labels="exact")
    want = brute_trace_fisher_exact(copy.deepcopy(model), x)
    assert got == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_trace_fisher_sampled_matches_per_example_loop(small_case, chunk_size):
    model, x, _ = small_case
    ref = copy.deepcopy(model).eval()
    y = _sampled_labels(ref, x, seed=3)
    want = sum(
        float(_example_grad(ref, xi, int(yi)).pow(2).sum()) for xi, yi in zip(x, y, strict=True)
    ) / len(x)
    got = trace_fisher(model, x, generator=torch.Generator().manual_seed(3), chunk_size=chunk_size)
    assert got == pytest.approx(want, rel=1e-4)


def test_trace_fisher_sampled_is_unbiased_for_exact(small_case):
    model, x, _ = small_case
    exact = trace_fisher(model, x, labels="exact")
    gen = torch.Generator().manual_seed(0)
    draws = torch.tensor([trace_fisher(model, x, generator=gen) for _ in range(400)])
    sem = float(draws.std()) / math.sqrt(len(draws))
    assert abs(float(draws.mean()) - exact) < 4 * sem + 1e-9


def test_trace_fisher_batch_matches_norm_of_mean_gradient(small_case):
    model, x, _ = small_case
    ref = copy.deepcopy(model).eval()
    y = _sampled_labels(ref, x, seed=5)
    mean_grad = torch.stack(
        [_example_grad(ref, xi, int(yi)) for xi, yi in zip(x, y, strict=True)]
    ).mean(0)
    got = trace_fisher_batch(model, x, generator=torch.Generator().manual_seed(5))
    assert got == pytest.approx(float(mean_grad.pow(2).sum()), rel=1e-4)


@pytest.mark.parametrize("dist", ["rademacher", "gaussian"])
def test_hutchinson_within_its_own_standard_error(small_case, dist):
    model, x, y = small_case
    h = brute_hessian(copy.deepcopy(model), x, y)
    probes = 2000
    gen = torch.Generator().manual_seed(1)
    got = hutchinson_trace(model, x, y, probes=probes, probe_dist=dist, generator=gen)
    sigma = math.sqrt(probe_variance(h, dist) / probes)
    assert abs(got - float(h.trace())) < 4 * sigma + 1e-8 * abs(float(h.trace()))


@pytest.mark.parametrize("dist", ["rademacher", "gaussian"])
def test_hutchinson_is_the_mean_quadratic_form_of_its_probes(small_case, dist):
    """(1/M) Σ vᵀHv over exactly the probes drawn: ±1 entries, or standard normal ones."""
    model, x, y = small_case
    h = brute_hessian(copy.deepcopy(model), x, y)
    probes, gen = 3, torch.Generator().manual_seed(2)
    draws = []
    for p in _params(model):
        shape = (probes, *p.shape)
        if dist == "gaussian":
            draws.append(torch.randn(shape, generator=gen, dtype=p.dtype))
        else:
            draws.append(torch.randint(0, 2, shape, generator=gen).to(p.dtype) * 2 - 1)
    v = torch.cat([d.reshape(probes, -1) for d in draws], dim=1)
    want = float(torch.einsum("mi,ij,mj->m", v, h, v).mean())
    got = hutchinson_trace(
        model, x, y, probes=probes, probe_dist=dist, generator=torch.Generator().manual_seed(2)
    )
    assert got == pytest.approx(want, rel=1e-9)


def test_gaussian_probes_have_the_larger_variance():
    """Per probe 2‖H‖_F² against 2(‖H‖_F² − Σ H_ii²): softmax regression's Hessian has a
    diagonal of ~40% of ‖H‖_F², so Gaussian probes give ~1.7x the Rademacher variance."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3).double()
    x, y = torch.randn(7, 4).double(), torch.randint(0, 3, (7,))
    h = brute_hessian(copy.deepcopy(model), x, y)
    want = {d: probe_variance(h, d) for d in ("rademacher", "gaussian")}
    assert want["gaussian"] > 1.6 * want["rademacher"]
    got = {}
    for dist in want:
        gen = torch.Generator().manual_seed(0)
        draws = [
            hutchinson_trace(model, x, y, probes=1, probe_dist=dist, generator=gen)
            for _ in range(1200)
        ]
        got[dist] = float(torch.tensor(draws, dtype=torch.float64).var())
        assert got[dist] == pytest.approx(want[dist], rel=0.2)
    assert got["gaussian"] > 1.35 * got["rademacher"]


def test_piecewise_linear_nets_have_hessian_trace_equal_exact_fisher(small_case):
    """Tr(H) = Tr(GGN) = exact Tr(F) for nets linear in each single parameter (issue 7)."""
    model, x, y = small_case
    exact_h, _ = brute_hessian_trace(copy.deepcopy(model), x, y)
    assert trace_fisher(model, x, labels="exact") == pytest.approx(exact_h, rel=1e-6)


def test_identity_fails_for_a_smooth_nonlinearity():
    """The identity above is specific to piecewise-linear nets: with tanh it must break."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    x, y = torch.randn(7, 4).double(), torch.randint(0, 3, (7,))
    exact_h, _ = brute_hessian_trace(copy.deepcopy(model), x, y)
    assert abs(trace_fisher(model, x, labels="exact") - exact_h) > 1e-3 * abs(exact_h)


@pytest.mark.parametrize(
    "estimate",
    [
        lambda m, x, y: trace_fisher(m, x, generator=torch.Generator().manual_seed(0)),
        lambda m, x, y: trace_fisher(m, x, labels="exact"),
        lambda m, x, y: trace_fisher_batch(m, x),
        lambda m, x, y: hutchinson_trace(m, x, y, probes=3),
        lambda m, x, y: hutchinson_trace(m, x, y, probes=3, probe_dist="gaussian"),
    ],
    ids=["sampled", "exact", "batch", "hutchinson", "hutchinson-gaussian"],
)
def test_estimators_leave_model_untouched(small_case, estimate):
    model, x, y = small_case
    F.cross_entropy(model(x), y).backward()  # populate .grad (and BN running stats)
    before = snapshot(model)
    estimate(model, x, y)
    assert_untouched(model, before)


def test_batchnorm_is_measured_in_eval_mode(small_case):
    """Per-example Tr(F) on a BN net equals the loop in eval mode, whatever mode the model is in."""
    model, x, _ = small_case
    model.train()
    a = trace_fisher(model, x, labels="exact")
    model.eval()
    assert trace_fisher(model, x, labels="exact") == pytest.approx(a, rel=1e-12)


def test_bad_arguments():
    model = nn.Linear(2, 3)
    with pytest.raises(ValueError, match="labels"):
        trace_fisher(model, torch.randn(2, 2), labels="true")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probes"):
        hutchinson_trace(model, torch.randn(2, 2), torch.tensor([0, 1]), probes=0)
    with pytest.raises(ValueError, match=r"probe_dist='normal'.*'rademacher', 'gaussian'"):
        hutchinson_trace(model, torch.randn(2, 2), torch.tensor([0, 1]), probe_dist="normal")  # type: ignore[arg-type]
