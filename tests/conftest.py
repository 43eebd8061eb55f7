"""Shared fixtures: tiny models with and without BatchNorm, and brute-force references."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn

torch.set_num_threads(int(os.environ.get("FISHERLAB_TEST_THREADS", "2")))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


class TinyCNN(nn.Module):
    """Conv-ReLU-(BN)-MaxPool-Linear on 1x6x6 inputs: small enough for an exact Hessian."""

    def __init__(self, batchnorm: bool = False, num_classes: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, 2, 3, padding=1)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(2))
        layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 3 * 3, num_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def tiny_mlp(batchnorm: bool = False, num_classes: int = 3) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(4, 5)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(5))
    layers += [nn.ReLU(), nn.Linear(5, num_classes)]
    return nn.Sequential(*layers)


def _warm_bn(model: nn.Module, x: torch.Tensor) -> None:
    """Give BatchNorm non-trivial running statistics and affine parameters."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x * 1.5 + 0.3)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)


@pytest.fixture(
    params=["mlp", "mlp-bn", "cnn", "cnn-bn"],
)
def small_case(request: pytest.FixtureRequest) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """(model in train mode, inputs, targets) in float64 for tight brute-force comparisons."""
    torch.manual_seed(0)
    kind = request.param
    bn = kind.endswith("-bn")
    if kind.startswith("mlp"):
        model = tiny_mlp(bn)
        x = torch.randn(7, 4)
    else:
        model = TinyCNN(bn)
        x = torch.randn(6, 1, 6, 6)
    model = model.double()
    x = x.double()
    if bn:
        _warm_bn(model, x)
    model.train()
    y = torch.randint(0, 3, (len(x),))
    return model, x, y


def snapshot(model: nn.Module) -> dict:
    """Everything an estimator must leave as it was: state, train/eval flags, ``.grad``."""
    return {
        "state": copy.deepcopy(model.state_dict()),
        "modes": [m.training for m in model.modules()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
    }


def assert_untouched(model: nn.Module, before: dict, *, no_hooks: bool = False) -> None:
    after = snapshot(model)
    assert after["modes"] == before["modes"]
    for k, v in before["state"].items():
        assert torch.equal(v, after["state"][k]), k
    for g0, g1 in zip(before["grads"], after["grads"], strict=True):
        assert (g0 is None and g1 is None) or torch.equal(g0, g1)
    if no_hooks:
        for m in model.modules():
            assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks


def _smoke_parameters(tmp_path: Path, params: dict) -> dict:
    return {
        "profile": "smoke",
        "output_dir": str(tmp_path / "out"),
        "runs_dir": str(tmp_path / "runs"),
        **params,
    }


def execute(name: str, tmp_path: Path, **params) -> tuple[dict, Path]:
    """Run notebook ``name`` at the smoke profile into tmp_path; (executed JSON, output dir)."""
    import papermill as pm

    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(
        REPO / "notebooks" / f"{name}.ipynb",
        out,
        parameters=_smoke_parameters(tmp_path, params),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(REPO / "notebooks"),
    )
    return json.loads(out.read_text()), tmp_path / "out"


def execute_parameter_cells(name: str, tmp_path: Path, **params) -> dict:
    """Run notebook ``name``'s parameters cell, ``params`` injected as papermill injects them,
    and its next code cell (which resolves and checks every parameter), in this process; returns
    their namespace. For tests that bad parameters fail before any data is read or any run made:
    no kernel start (about 10 s of CPU each), the notebook's own code all the same."""
    from papermill.translators import PythonTranslator

    nb = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    injected = PythonTranslator.codify(_smoke_parameters(tmp_path, params))
    namespace: dict = {"__name__": "__main__"}
    for label, source in (("parameters", code[0]), ("injected", injected), ("resolve", code[1])):
        exec(compile(source, f"<{name}: {label} cell>", "exec"), namespace)
    return namespace
