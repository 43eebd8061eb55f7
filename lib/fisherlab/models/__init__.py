"""Architectures of the paper (Supplement I.1, I.2, I.4) behind one factory.

``build_model(name, num_classes=10, **options)`` returns an ``nn.Module`` mapping float images
``(N, C, H, W)`` to logits ``(N, num_classes)``. Every model accepts ``in_channels`` (default 3)
and ``image_size`` (default 32); the other options are model-specific (see each class). All
arguments are validated before any weight is allocated; problems raise ``ValueError`` naming
the offending parameter.

========== =========================================== =======================================
name       class                                       paper
========== =========================================== =======================================
simplecnn  :class:`~.simplecnn.SimpleCNN`              Keras cifar10_cnn, no dropout, FC 128
mlp        :class:`~.mlp.MLP`                          (tests / smoke runs only)
vgg11      :class:`~.vgg.VGG11`                        VGG-11, no BN, no dropout
wrn        :class:`~.wrn.WideResNet`                   "Wide ResNet depth 44 width 3"
densenet   :class:`~.densenet.DenseNet`                DenseNet (L=40, k=12)
resnet26   :func:`~.resnet.resnet26`                   ResNet-26, no BN, Arpit et al. init
resnet56   :func:`~.resnet.resnet56`                   ResNet-56, no BN, Arpit et al. init
========== =========================================== =======================================
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from .densenet import DenseNet
from .mlp import MLP
from .resnet import ArpitResNet, resnet26, resnet56
from .simplecnn import SimpleCNN
from .vgg import VGG11
from .wrn import WideResNet

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "densenet": DenseNet,
    "mlp": MLP,
    "resnet26": resnet26,
    "resnet56": resnet56,
    "simplecnn": SimpleCNN,
    "vgg11": VGG11,
    "wrn": WideResNet,
}

MODEL_NAMES: tuple[str, ...] = tuple(sorted(_REGISTRY))


def _check_name(name: Any) -> Callable[..., nn.Module]:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"model={name!r} is not known; valid models: {', '.join(MODEL_NAMES)}")
    return _REGISTRY[name]


def model_options(name: str) -> dict[str, Any]:
    """The keyword options model ``name`` accepts, with their defaults (``num_classes`` aside)."""
    signature = inspect.signature(_check_name(name))
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def build_model(name: str, num_classes: int = 10, **options: Any) -> nn.Module:
    """Build model ``name`` (one of :data:`MODEL_NAMES`) with ``num_classes`` outputs.

    Raises ``ValueError`` for an unknown ``name`` (listing the valid models), an option the
    model does not accept (listing the accepted ones), or a bad value (naming the parameter);
    all checks happen before any weights are allocated.
    """
    factory = _check_name(name)
    accepted = model_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for model={name!r}; "
            f"accepted options: {', '.join(accepted)}"
        )
    return factory(num_classes, **options)


__all__ = [
    "MLP",
    "MODEL_NAMES",
    "VGG11",
    "ArpitResNet",
    "DenseNet",
    "SimpleCNN",
    "WideResNet",
    "build_model",
    "model_options",
    "resnet26",
    "resnet56",
]
