"""What a training run measures, and when: Tr(F), Tr(F^B), Tr(H), clean/noisy probes, and
validation/test accuracy — each a pure function of (model, fixed probe data, step).

The schedule (``fisher_due``): Tr(F) every ``fisher_every`` steps during the early phase
(``fisher_dense_until``), then every ``fisher_every_late`` steps (default once an epoch).
Every random draw comes from a generator seeded by (seed, step, stream), so a measurement
redone after a resume gives the same number.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fisherlab.config import TrainConfig
from fisherlab.data import DataSplits, normalize, step_generator
from fisherlab.estimators import (
    NonFiniteError,
    eval_mode,
    hutchinson_trace,
    trace_fisher,
    trace_fisher_batch,
)

__all__ = [
    "PROBE_SEED",
    "Probes",
    "evaluate",
    "fisher_due",
    "fisher_metrics",
    "hessian_trace",
    "noise_metrics",
]

PROBE_SEED = 4242  # the Tr(F) probe set is the same for every run on the same data
EVAL_BATCH = 500
# generator streams (see data.step_generator); 0 is augmentation, 3 and 4 the regularisers'
FISHER, FISHER_BATCH, HESSIAN = 1, 2, 5


def fisher_due(config: TrainConfig, step: int, steps_per_epoch: int) -> bool:
    """Whether Tr(F) is measured after ``step`` steps (dense early, sparse later)."""
    if step <= config.fisher_dense_until:
        return step % config.fisher_every == 0
    every = config.fisher_every_late or steps_per_epoch
    return step % every == 0


class Probes:
    """Fixed, normalised probe sets of one run's data: ``fisher_probe`` training examples for
    Tr(F); under label noise, as many clean and noisy ones (Fig. 5, 12); a fixed test subset."""

    def __init__(self, config: TrainConfig, data: DataSplits) -> None:
        n = len(data.train_images)
        dev = data.train_images.device
        gen = torch.Generator().manual_seed(PROBE_SEED)
        idx = torch.randperm(n, generator=gen)[: config.fisher_probe].to(dev)
        self.x = normalize(data.train_images[idx], data.mean, data.std)
        self.y = data.train_labels[idx]
        self.noise: dict[str, tuple[Tensor, Tensor]] = {}
        if bool(data.noise_mask.any()):
            for name, mask in (("clean", ~data.noise_mask), ("noisy", data.noise_mask)):
                sel = torch.nonzero(mask.cpu()).squeeze(1)
                sel = sel[torch.randperm(len(sel), generator=gen)[: config.fisher_probe]].to(dev)
                x = normalize(data.train_images[sel], data.mean, data.std)
                self.noise[name] = (x, data.train_labels[sel])
        n_test = len(data.test_images)
        self.test_idx: Tensor | None = None
        if config.test_subset is not None and config.test_subset < n_test:
            gen_test = torch.Generator().manual_seed(PROBE_SEED + 1)
            self.test_idx = torch.randperm(n_test, generator=gen_test)[: config.test_subset].to(
                data.test_images.device
            )


@torch.no_grad()
def evaluate(
    model: nn.Module, images: Tensor, labels: Tensor, data: DataSplits
) -> tuple[float, float]:
    """(mean CE loss, accuracy) in eval mode over uint8 ``images``."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(images), EVAL_BATCH):
        logits = model(normalize(images[i : i + EVAL_BATCH], data.mean, data.std))
        y = labels[i : i + EVAL_BATCH]
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    model.train(was_training)
    n = max(len(images), 1)
    return loss_sum / n, correct / n


def fisher_metrics(
    model: nn.Module, probes: Probes, config: TrainConfig, step: int
) -> dict[str, float]:
    """Tr(F) on the probe set (eq. 1, labels sampled from the model) and Tr(F^B), the mean of
    ‖(1/B) Σ g(x_i, ŷ_i)‖² over the probe's mini-batches of ``batch_size`` (Section 4)."""
    seed, b = config.seed, config.batch_size
    try:
        return _fisher_metrics(model, probes, config, step, seed, b)
    except NonFiniteError:  # the loop records the run as diverged
        return {"trace_fisher": math.nan, "trace_fisher_batch": math.nan}


def _fisher_metrics(
    model: nn.Module, probes: Probes, config: TrainConfig, step: int, seed: int, b: int
) -> dict[str, float]:
    value = trace_fisher(
        model, probes.x, generator=step_generator(seed, step, FISHER), chunk_size=256
    )
    gen = step_generator(seed, step, FISHER_BATCH)
    chunks = [probes.x[i : i + b] for i in range(0, len(probes.x), b)]
    fb = sum(trace_fisher_batch(model, x, generator=gen) for x in chunks) / len(chunks)
    return {"trace_fisher": value, "trace_fisher_batch": fb}


def noise_metrics(model: nn.Module, probes: Probes) -> dict[str, float]:
    """Clean vs noisy examples (Section 4.1, Fig. 5, 12): accuracy on their training labels,
    mini-batch gradient norms, their ratio and the cosine between the two gradients."""
    out, grads = {}, {}
    with eval_mode(model):
        params = [p for p in model.parameters() if p.requires_grad]
        for name, (x, y) in probes.noise.items():
            logits = model(x)
            out[f"train_acc_{name}"] = float((logits.argmax(1) == y).float().mean())
            g = torch.autograd.grad(F.cross_entropy(logits, y), params)
            grads[name] = torch.cat([t.reshape(-1) for t in g]).double()
            out[f"grad_norm_{name}"] = float(grads[name].norm())
    clean, noisy = grads["clean"], grads["noisy"]
    out["grad_norm_ratio_clean_noisy"] = float(clean.norm() / noisy.norm())
    out["grad_cos_clean_noisy"] = float(clean @ noisy / (clean.norm() * noisy.norm()))
    return out


def hessian_trace(model: nn.Module, probes: Probes, config: TrainConfig, step: int) -> float:
    """Tr(H) by Hutchinson (Supplement B) on the first ``batch_size`` probe examples."""
    b = min(config.batch_size, len(probes.x))
    return hutchinson_trace(
        model,
        probes.x[:b],
        probes.y[:b],
        probes=config.hessian_probes,
        probe_dist=config.hessian_probe_dist,  # type: ignore[arg-type]
        generator=step_generator(config.seed, step, HESSIAN),
    )
