"""Tests of fisherlab.models: parameter counts, shapes, one training step, errors, inits."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
from torch import nn

from fisherlab.models import MODEL_NAMES, build_model, model_options

torch.set_num_threads(1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(c_in: int, c_out: int, k: int = 3, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


# --------------------------------------------------------------------------- expected counts
# Computed from the architecture descriptions, independently of the code under test.


def expected_vgg11(classes: int) -> int:
    widths = [3, 64, 128, 256, 256, 512, 512, 512, 512]
    convs = sum(conv(a, b) for a, b in itertools.pairwise(widths))
    return convs + 512 * classes + classes


def expected_wrn(n: int, k: int, classes: int, bn: bool) -> int:
    total = conv(3, 16, bias=not bn)
    c_in = 16
    for stage, c in enumerate((16 * k, 32 * k, 64 * k)):
        for i in range(n):
            block = conv(c_in, c, bias=not bn) + conv(c, c, bias=not bn)
            block += 2 * c_in + 2 * c if bn else 1  # two BNs, or the SkipInit scalar
            if c_in != c or (stage > 0 and i == 0):
                block += conv(c_in, c, k=1, bias=not bn)
            total += block
            c_in = c
    head_bn = 2 * c_in if bn else 0
    return total + head_bn + c_in * classes + classes


def expected_densenet(depth: int, k: int, classes: int) -> int:
    per_block = (depth - 4) // 3
    c = 16
    total = conv(3, 16, bias=False)
    for block in range(3):
        for _ in range(per_block):
            total += 2 * c + conv(c, k, bias=False)  # BN + 3x3 conv
            c += k
        if block < 2:
            total += 2 * c + conv(c, c, k=1, bias=False)  # transition BN + 1x1 conv
    return total + 2 * c + c * classes + classes


def expected_arpit_resnet(n: int, classes: int) -> int:
    total = conv(3, 16)
    c_in = 16
    for c in (16, 32, 64):
        for _ in range(n):
            total += conv(c_in, c) + conv(c, c)
            if c_in != c:  # strided 1x1 projection at the start of stages 2 and 3
                total += conv(c_in, c, k=1)
            c_in = c
    return total + 64 * classes + classes


EXPECTED: dict[str, int] = {
    # 896 + 9,248 + 18,496 + 36,928 (convs) + 2,304*128+128 + 128*10+10 (FCs)
    "simplecnn": 361_898,
    "mlp": 3 * 32 * 32 * 64 + 64 + 64 * 10 + 10,
    "vgg11": expected_vgg11(10),
    "wrn": expected_wrn(7, 3, 10, bn=True),
    "densenet": expected_densenet(40, 12, 10),
    "resnet26": expected_arpit_resnet(4, 10),
    "resnet56": expected_arpit_resnet(9, 10),
}


def test_expected_formulas_sanity() -> None:
    assert EXPECTED["mlp"] == 197_322
    assert EXPECTED["vgg11"] == 9_225_610
    assert 0.95e6 < EXPECTED["densenet"] < 1.1e6  # "1.0M" in Huang et al. (2017), Table 2


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_param_count_defaults(name: str) -> None:
    assert n_params(build_model(name)) == EXPECTED[name]


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("simplecnn", {}, 361_898 - 1_290 + 128 * 100 + 100),
        ("vgg11", {}, expected_vgg11(100)),
        ("wrn", {}, expected_wrn(7, 3, 100, bn=True)),
        ("wrn", {"bn": False}, expected_wrn(7, 3, 100, bn=False)),
        ("densenet", {}, expected_densenet(40, 12, 100)),
        ("resnet26", {}, expected_arpit_resnet(4, 100)),
        ("resnet56", {}, expected_arpit_resnet(9, 100)),
    ],
)
def test_param_count_100_classes(name: str, options: dict[str, Any], expected: int) -> None:
    assert n_params(build_model(name, 100, **options)) == expected


def test_param_count_variants() -> None:
    assert n_params(build_model("wrn", bn=False)) == expected_wrn(7, 3, 10, bn=False)
    assert n_params(build_model("wrn", depth=8, width=1)) == expected_wrn(1, 1, 10, bn=True)
    assert n_params(build_model("densenet", depth=10, growth_rate=4)) == expected_densenet(
        10, 4, 10
    )
    assert n_params(build_model("mlp", batchnorm=True)) == EXPECTED["mlp"] + 2 * 64
    assert n_params(build_model("mlp", hidden=(8, 4))) == 3072 * 8 + 8 + 8 * 4 + 4 + 4 * 10 + 10


# --------------------------------------------------------------------------- forward shapes


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("classes", [10, 100])
def test_forward_shape(name: str, classes: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, classes)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("simplecnn", {}),
        ("simplecnn", {"width": 0.25}),
        ("mlp", {}),
        ("mlp", {"batchnorm": True}),
        ("vgg11", {"width": 0.125}),
        ("wrn", {"depth": 8, "width": 1}),
        ("densenet", {"depth": 10, "growth_rate": 4}),
        ("resnet26", {}),
    ],
)
def test_forward_shape_64px_one_channel(name: str, options: dict[str, Any]) -> None:
    model = build_model(name, 7, in_channels=1, image_size=64, **options)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 7)


def test_simplecnn_flatten_size_other_sizes() -> None:
    for size in (10, 28, 33, 64):
        model = build_model("simplecnn", in_channels=1, image_size=size, width=0.125)
        assert model(torch.randn(2, 1, size, size)).shape == (2, 10)


# --------------------------------------------------------------------------- one SGD step

SMALL: list[tuple[str, dict[str, Any]]] = [
    ("simplecnn", {"width": 0.25}),
    ("simplecnn", {"init": "torch"}),
    ("mlp", {"hidden": (16, 8), "batchnorm": True}),
    ("vgg11", {"width": 0.125}),
    ("wrn", {"depth": 14, "width": 1}),
    ("wrn", {"depth": 14, "width": 1, "bn": False}),
    ("densenet", {"depth": 13, "growth_rate": 6}),
    ("resnet26", {}),
    ("resnet56", {}),
]


@pytest.mark.parametrize(("name", "options"), SMALL)
def test_one_sgd_step(name: str, options: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = build_model(name, 10, **options)
    model.train()
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = [p.detach().clone() for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(x), y)
    assert torch.isfinite(loss)
    opt.zero_grad()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert torch.isfinite(nn.functional.cross_entropy(model(x), y))


# --------------------------------------------------------------------------- errors


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="model='nosuchnet'") as err:
        build_model("nosuchnet")
    for name in MODEL_NAMES:
        assert name in str(err.value)


def test_model_names() -> None:
    assert set(MODEL_NAMES) == {
        "simplecnn",
        "mlp",
        "vgg11",
        "wrn",
        "densenet",
        "resnet26",
        "resnet56",
    }


def test_unknown_option_names_option_and_accepted() -> None:
    with pytest.raises(ValueError, match="dropout") as err:
        build_model("simplecnn", dropout=0.5)
    for option in ("in_channels", "image_size", "width", "init"):
        assert option in str(err.value)
    with pytest.raises(ValueError, match="depth"):
        build_model("resnet26", depth=56)


def test_model_options() -> None:
    assert model_options("wrn") == {
        "in_channels": 3,
        "image_size": 32,
        "depth": 44,
        "width": 3,
        "bn": True,
    }
    for name in MODEL_NAMES:
        assert {"in_channels", "image_size"} <= set(model_options(name))


@pytest.mark.parametrize("depth", [43, 45, 40, 2])
def test_wrn_depth_must_be_6n_plus_2(depth: int) -> None:
    with pytest.raises(ValueError, match="depth"):
        build_model("wrn", depth=depth)


@pytest.mark.parametrize(
    ("name", "options", "param"),
    [
        ("simplecnn", {"num_classes": 1}, "num_classes"),
        ("mlp", {"num_classes": 2.0}, "num_classes"),
        ("simplecnn", {"width": 0}, "width"),
        ("simplecnn", {"width": -1.0}, "width"),
        ("simplecnn", {"init": "glorot"}, "init"),
        ("simplecnn", {"image_size": 9}, "image_size"),
        ("vgg11", {"image_size": 16}, "image_size"),
        ("vgg11", {"width": float("nan")}, "width"),
        ("mlp", {"hidden": (0,)}, "hidden"),
        ("mlp", {"hidden": 64}, "hidden"),
        ("mlp", {"batchnorm": 1}, "batchnorm"),
        ("wrn", {"width": 0}, "width"),
        ("wrn", {"width": 1.5}, "width"),
        ("wrn", {"bn": "no"}, "bn"),
        ("densenet", {"depth": 41}, "depth"),
        ("densenet", {"growth_rate": 0}, "growth_rate"),
        ("resnet56", {"width": 0}, "width"),
        ("resnet26", {"in_channels": 0}, "in_channels"),
    ],
)
def test_bad_values_raise_naming_parameter(
    name: str, options: dict[str, Any], param: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_allocation(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("weights allocated before validation")

    # Validation must happen before any layer (hence any weight) is created.
    for layer in (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d):
        monkeypatch.setattr(layer, "__init__", no_allocation)
    num_classes = options.pop("num_classes", 10)
    with pytest.raises(ValueError, match=param):
        build_model(name, num_classes, **options)


# --------------------------------------------------------------------------- initialisation


def test_skipinit_branches_are_zero_at_init() -> None:
    torch.manual_seed(0)
    model = build_model("wrn", depth=14, width=1, bn=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    alphas = [p for n, p in model.named_parameters() if n.endswith("alpha")]
    assert len(alphas) == 3 * 2
    assert all(a.item() == 0.0 for a in alphas)
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    with torch.no_grad():  # changing any residual-branch weight must not change the output
        for name, p in model.named_parameters():
            if ".conv1." in name or ".conv2." in name:
                p.add_(torch.randn_like(p))
    torch.testing.assert_close(model(x), out)
    with torch.no_grad():
        alphas[0].fill_(1.0)
    assert not torch.allclose(model(x), out)
    assert all(not n.endswith("alpha") for n, _ in build_model("wrn").named_parameters())


def test_simplecnn_keras_init() -> None:
    torch.manual_seed(0)
    model = build_model("simplecnn")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 6
    for m in layers:
        assert m.bias is not None and torch.count_nonzero(m.bias) == 0
        receptive = m.weight[0, 0].numel()
        fan_in, fan_out = m.weight.shape[1] * receptive, m.weight.shape[0] * receptive
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert m.weight.abs().max().item() <= bound
        assert m.weight.abs().max().item() > 0.9 * bound  # uniform, filling the range
    torch_init = build_model("simplecnn", init="torch")
    assert any(
        torch.count_nonzero(m.bias) > 0 for m in torch_init.modules() if isinstance(m, nn.Conv2d)
    )


@pytest.mark.parametrize(("name", "n"), [("resnet26", 4), ("resnet56", 9)])
def test_arpit_init(name: str, n: int) -> None:
    torch.manual_seed(0)
    model = build_model(name)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in model.modules())

    def check(layer: nn.Conv2d, gain: float) -> None:
        c_out, c_in = layer.weight.shape[:2]
        rows = layer.weight.detach().reshape(c_out, -1)
        g2 = gain * c_in / c_out
        torch.testing.assert_close(rows.norm(dim=1), torch.full((c_out,), math.sqrt(g2)))
        if c_out <= rows.shape[1]:  # orthogonal rows
            torch.testing.assert_close(rows @ rows.T, g2 * torch.eye(c_out), atol=1e-5, rtol=0)
        assert layer.bias is not None and torch.count_nonzero(layer.bias) == 0

    check(model.stem, 1.0)
    blocks = list(model.blocks)
    assert len(blocks) == 3 * n
    for block in blocks:
        check(block.conv1, 2.0)
        check(block.conv2, 1.0 / n)
        if block.shortcut is not None:
            check(block.shortcut, 1.0)
    assert sum(b.shortcut is not None for b in blocks) == 2

    # Forward norm: ||h||^2 grows by at most ~(1 + 1/n)^n < e per stage, so < e^3 overall.
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        h0 = model.stem(x)
        h = model.blocks(h0)
    ratio = (h.pow(2).sum(1).mean() / h0.pow(2).sum(1).mean()).item()
    assert 1.0 < ratio < 1.5 * math.e**3
