"""One training run: SGD with step decay, measurements on a schedule, checkpoints, divergence.

``train(config, run_dir)`` is the only entry point. All randomness after initialisation comes
from generators seeded by (seed, epoch) or (seed, step), and the checkpoint holds the whole loop
state, so a run killed at any point and started again ends bit-identical on CPU to one that was
never interrupted. A non-finite loss ends the run with status ``diverged``, not an exception.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from fisherlab.config import TrainConfig
from fisherlab.data import DataSplits, augment, epoch_order, load_splits, normalize, step_generator
from fisherlab.estimators import eval_mode, hutchinson_trace, trace_fisher, trace_fisher_batch
from fisherlab.models import build_model
from fisherlab.regularizers import build_regularizer

__all__ = ["RunResult", "evaluate", "resolve_device", "summarize", "train"]

CHECKPOINT = "checkpoint.pt"
PROBE_SEED = 4242  # the Tr(F) probe set is the same for every run on the same data
EVAL_BATCH = 500
# generator streams (see data.step_generator); 3 and 4 are the regularisers'
AUGMENT, FISHER, FISHER_BATCH, HESSIAN = 0, 1, 2, 5


@dataclass
class RunResult:
    config: TrainConfig
    history: pd.DataFrame  # tidy: step, epoch, metric, value
    summary: dict[str, Any]


def resolve_device(device: str) -> torch.device:
    """'auto' → CUDA when present, else Apple MPS, else CPU."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


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


def _lr_at(config: TrainConfig, epoch: float) -> float:
    passed = sum(epoch >= m for m in config.lr_milestones)
    return config.lr * config.lr_factor**passed


def _fisher_due(config: TrainConfig, step: int, steps_per_epoch: int) -> bool:
    if step <= config.fisher_dense_until:
        return step % config.fisher_every == 0
    every = config.fisher_every_late or steps_per_epoch
    return step % every == 0


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class _Loop:
    """The mutable state of a run, all of it saved in the checkpoint."""

    def __init__(self, config: TrainConfig, data: DataSplits, device: torch.device) -> None:
        self.config, self.data, self.device = config, data, device
        torch.manual_seed(config.seed)
        c, h, _ = data.image_shape
        self.model = build_model(
            config.model, data.num_classes, in_channels=c, image_size=h, **config.model_options
        ).to(device)
        self.opt = torch.optim.SGD(
            self.model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self.reg = build_regularizer(config, data.num_classes)
        n = len(data.train_images)
        self.steps_per_epoch = math.ceil(n / config.batch_size)
        total = config.epochs * self.steps_per_epoch
        self.total_steps = min(total, config.max_steps) if config.max_steps else total
        gen = torch.Generator().manual_seed(PROBE_SEED)
        probe_idx = torch.randperm(n, generator=gen)[: config.fisher_probe].to(
            data.train_images.device
        )
        self.probe = normalize(data.train_images[probe_idx], data.mean, data.std)
        self.probe_labels = data.train_labels[probe_idx]
        # label noise (notebook 05): fixed probes of clean and of noisy examples
        self.noise_probes: dict[str, tuple[Tensor, Tensor]] = {}
        if bool(data.noise_mask.any()):
            for name, mask in (("clean", ~data.noise_mask), ("noisy", data.noise_mask)):
                idx = torch.nonzero(mask.cpu()).squeeze(1)
                idx = idx[torch.randperm(len(idx), generator=gen)[: config.fisher_probe]]
                idx = idx.to(data.train_images.device)
                self.noise_probes[name] = (
                    normalize(data.train_images[idx], data.mean, data.std),
                    data.train_labels[idx],
                )
        self.step = 0
        self.rows: list[tuple[int, float, str, float]] = []
        self.window = torch.zeros(5, dtype=torch.float64)  # loss, correct, count, ‖g‖ sum, steps
        self.epoch_acc = torch.zeros(2, dtype=torch.float64)  # correct, count
        self.wall = 0.0
        self.train_time = 0.0  # seconds inside SGD steps (incl. regulariser), no measurements
        self.status = "running"
        self.stop_reason = ""
        self.finalized = False
        self._order_epoch = -1
        self._order = torch.empty(0, dtype=torch.long)

    # -- bookkeeping -------------------------------------------------------------------------
    def log(self, metric: str, value: float) -> None:
        self.rows.append((self.step, self.step / self.steps_per_epoch, metric, float(value)))

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "reg": self.reg.state_dict(),
            "step": self.step,
            "rows": self.rows,
            "window": self.window,
            "epoch_acc": self.epoch_acc,
            "wall": self.wall,
            "train_time": self.train_time,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "finalized": self.finalized,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.reg.load_state_dict(state["reg"])
        for name in (
            "step",
            "rows",
            "window",
            "epoch_acc",
            "wall",
            "train_time",
            "status",
            "stop_reason",
            "finalized",
        ):
            setattr(self, name, state[name])

    # -- measurements ------------------------------------------------------------------------
    def measure_fisher(self) -> float:
        cfg, seed = self.config, self.config.seed
        value = trace_fisher(
            self.model,
            self.probe,
            generator=step_generator(seed, self.step, FISHER),
            chunk_size=256,
        )
        gen = step_generator(seed, self.step, FISHER_BATCH)
        b = cfg.batch_size
        chunks = [self.probe[i : i + b] for i in range(0, len(self.probe), b)]
        fb = sum(trace_fisher_batch(self.model, x, generator=gen) for x in chunks) / len(chunks)
        self.log("trace_fisher", value)
        self.log("trace_fisher_batch", fb)
        if self.noise_probes:
            self.measure_noise()
        return value

    def measure_noise(self) -> None:
        """Clean vs noisy examples (Section 4.1, Fig. 5, 12): accuracy on their training labels,
        mini-batch gradient norms, their ratio and the cosine between the two gradients."""
        grads = {}
        with eval_mode(self.model):
            params = [p for p in self.model.parameters() if p.requires_grad]
            for name, (x, y) in self.noise_probes.items():
                logits = self.model(x)
                self.log(f"train_acc_{name}", float((logits.argmax(1) == y).float().mean()))
                g = torch.autograd.grad(F.cross_entropy(logits, y), params)
                grads[name] = torch.cat([t.reshape(-1) for t in g]).double()
                self.log(f"grad_norm_{name}", float(grads[name].norm()))
        clean, noisy = grads["clean"], grads["noisy"]
        self.log("grad_norm_ratio_clean_noisy", float(clean.norm() / noisy.norm()))
        self.log("grad_cos_clean_noisy", float(clean @ noisy / (clean.norm() * noisy.norm())))

    def measure_hessian(self) -> None:
        """Tr(H) by Hutchinson (Supplement B) on the first ``batch_size`` probe examples."""
        cfg = self.config
        b = min(cfg.batch_size, len(self.probe))
        value = hutchinson_trace(
            self.model,
            self.probe[:b],
            self.probe_labels[:b],
            probes=cfg.hessian_probes,
            generator=step_generator(cfg.seed, self.step, HESSIAN),
        )
        self.log("trace_hessian", value)

    def evaluate_all(self) -> None:
        d = self.data
        for split, images, labels in (
            ("val", d.val_images, d.val_labels),
            ("test", d.test_images, d.test_labels),
        ):
            if len(images):
                loss, acc = evaluate(self.model, images, labels, d)
                self.log(f"{split}_loss", loss)
                self.log(f"{split}_acc", acc)
        if self.config.hessian_probes:
            self.measure_hessian()

    # -- one SGD step --------------------------------------------------------------------------
    def sgd_step(self) -> bool:
        """One step; returns False when the loss is not finite (the run diverged)."""
        cfg, d = self.config, self.data
        epoch, pos = divmod(self.step, self.steps_per_epoch)
        if self._order_epoch != epoch:
            self._order = epoch_order(len(d.train_images), cfg.seed, epoch).to(
                d.train_images.device
            )
            self._order_epoch = epoch
        idx = self._order[pos * cfg.batch_size : (pos + 1) * cfg.batch_size]
        images = d.train_images[idx]
        if cfg.augment:
            images = augment(images, step_generator(cfg.seed, self.step, AUGMENT))
        x, y = normalize(images, d.mean, d.std), d.train_labels[idx]
        lr = _lr_at(cfg, self.step / self.steps_per_epoch)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        logits, loss = self.reg.loss(self.model, x, y, step=self.step, seed=cfg.seed)
        if not torch.isfinite(loss):
            return False
        loss.backward()
        grad_sq = sum(
            float(p.grad.pow(2).sum()) for p in self.model.parameters() if p.grad is not None
        )
        penalty = self.reg.add_penalty_grad(
            self.model, x, y, step=self.step, epoch=epoch, seed=cfg.seed
        )
        if penalty is not None:
            if not math.isfinite(penalty):
                return False
            self.log("penalty", penalty)
        self.opt.step()
        correct = float((logits.argmax(1) == y).sum())
        self.window += torch.tensor(
            [float(loss.detach()) * len(y), correct, len(y), math.sqrt(grad_sq), 1]
        )
        self.epoch_acc += torch.tensor([correct, len(y)])
        self.step += 1
        if self.step % cfg.log_every == 0 or self.step == self.total_steps:
            loss_sum, corr, count, gn, n_steps = self.window.tolist()
            self.log("train_loss", loss_sum / count)
            self.log("train_acc", corr / count)
            self.log("grad_norm", gn / n_steps)
            self.log("lr", lr)
            self.window.zero_()
        return True


def _write_checkpoint(loop: _Loop, run_dir: Path | None) -> None:
    if run_dir is not None:
        _atomic_save(loop.state(), run_dir / CHECKPOINT)


def train(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    progress: bool = True,
    data: DataSplits | None = None,
) -> RunResult:
    """Run ``config`` to the end (or resume it from ``run_dir/checkpoint.pt``).

    Measurements: Tr(F) (``trace_fisher`` on ``fisher_probe`` fixed training examples) and
    Tr(F^B) (mean over the probe's mini-batches) every ``fisher_every`` steps up to
    ``fisher_dense_until``, then every ``fisher_every_late`` steps (default once an epoch);
    train loss/accuracy/gradient norm per ``log_every`` steps; validation and test every
    ``eval_every`` epochs. Checkpoints at every epoch end and on KeyboardInterrupt.
    """
    device = resolve_device(config.device)
    if data is None:
        data = load_splits(
            config.dataset,
            config.data_root,
            val_size=config.val_size,
            subset=config.subset,
            label_noise_fraction=config.label_noise,
            device=device,
            data_options=config.data_options,
        )
    loop = _Loop(config, data, device)
    run_dir = Path(run_dir) if run_dir is not None else None
    if config.init_from is not None:
        source = None if run_dir is None else run_dir.parent / config.init_from / CHECKPOINT
        if source is None or not source.exists():
            raise FileNotFoundError(
                f"init_from={config.init_from!r}: no finished run {source} in this run store"
            )
        state = torch.load(source, map_location=device, weights_only=False)
        loop.model.load_state_dict(state["model"])
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        if (run_dir / CHECKPOINT).exists():
            loop.load(torch.load(run_dir / CHECKPOINT, map_location=device, weights_only=False))
    spe = loop.steps_per_epoch
    eval_period = max(1, round(config.eval_every * spe))
    bar = tqdm(
        total=loop.total_steps,
        initial=loop.step,
        disable=not progress,
        desc=f"lr={config.lr:g} {config.regularizer}",
        unit="step",
        mininterval=2.0,
    )
    started = time.perf_counter() - loop.wall
    try:
        if loop.step == 0 and not loop.rows:
            loop.measure_fisher()
            loop.evaluate_all()
        while loop.status == "running":
            if loop.step >= loop.total_steps:
                loop.status, loop.stop_reason = (
                    "finished",
                    ("max_steps" if loop.total_steps < config.epochs * spe else "epochs"),
                )
                break
            tick = time.perf_counter()
            ok = loop.sgd_step()
            loop.train_time += time.perf_counter() - tick
            if not ok:
                loop.log("diverged", 1.0)
                loop.status, loop.stop_reason = "diverged", "non-finite loss"
                break
            bar.update(1)
            step = loop.step
            if _fisher_due(config, step, spe):
                value = loop.measure_fisher()
                if not math.isfinite(value):
                    loop.log("diverged", 1.0)
                    loop.status, loop.stop_reason = "diverged", "non-finite Tr(F)"
                    break
                bar.set_postfix_str(f"Tr(F)={value:.3g}", refresh=False)
            end_of_epoch = step % spe == 0
            if step % eval_period == 0 or step == loop.total_steps:
                loop.evaluate_all()
            if end_of_epoch:
                correct, count = loop.epoch_acc.tolist()
                loop.log("epoch_train_acc", correct / count)
                loop.epoch_acc.zero_()
                if config.stop_train_acc is not None and correct / count >= config.stop_train_acc:
                    loop.status, loop.stop_reason = "finished", "train_acc"
                loop.wall = time.perf_counter() - started
                _write_checkpoint(loop, run_dir)
    except KeyboardInterrupt:
        loop.wall = time.perf_counter() - started
        _write_checkpoint(loop, run_dir)
        bar.close()
        raise
    bar.close()
    if loop.status != "diverged" and not loop.finalized:
        if loop.step % eval_period != 0 and loop.step != loop.total_steps:
            loop.evaluate_all()  # stopped early between evaluations
        loss, acc = evaluate(loop.model, data.train_images, data.train_labels, data)
        loop.log("final_train_loss", loss)
        loop.log("final_train_acc", acc)
        if loop.noise_probes:  # Tables 8 and 9: final train accuracy on clean / noisy examples
            for name, mask in (("clean", ~data.noise_mask), ("noisy", data.noise_mask)):
                _, acc = evaluate(
                    loop.model, data.train_images[mask], data.train_labels[mask], data
                )
                loop.log(f"final_train_acc_{name}", acc)
        if not _fisher_due(config, loop.step, spe):
            loop.measure_fisher()
    if not loop.finalized:
        loop.finalized = True
        loop.wall = time.perf_counter() - started
        _write_checkpoint(loop, run_dir)
    history = pd.DataFrame(loop.rows, columns=["step", "epoch", "metric", "value"])
    summary = summarize(history, config, status=loop.status, stop_reason=loop.stop_reason)
    summary.update(wall_time_s=loop.wall, steps_per_epoch=spe, device=str(device))
    epochs_done = max(loop.step / spe, 1e-9)
    summary["time_per_epoch_s"] = loop.wall / epochs_done
    summary["train_time_per_epoch_s"] = loop.train_time / epochs_done
    return RunResult(config=config, history=history, summary=summary)


def summarize(
    history: pd.DataFrame, config: TrainConfig, *, status: str, stop_reason: str
) -> dict[str, Any]:
    """The numbers the paper's tables report, from a run's tidy history."""

    def series(metric: str) -> pd.DataFrame:
        return history[history.metric == metric]

    def last(metric: str) -> float | None:
        s = series(metric)
        return float(s.value.iloc[-1]) if len(s) else None

    def best(metric: str) -> tuple[float | None, int | None]:
        s = series(metric)
        if not len(s):
            return None, None
        i = s.value.idxmax()
        return float(s.value[i]), int(s.step[i])

    fisher = series("trace_fisher")
    late = fisher[fisher.epoch >= config.fisher_max_after_epoch]
    max_f, max_f_step = (None, None)
    if len(late):
        i = late.value.idxmax()
        max_f, max_f_step = float(late.value[i]), int(late.step[i])
    best_val, best_val_step = best("val_acc")
    test = series("test_acc")
    test_at_best_val = None
    if best_val_step is not None:
        at = test[test.step == best_val_step]
        test_at_best_val = float(at.value.iloc[0]) if len(at) else None
    best_test, best_test_step = best("test_acc")
    steps = int(history.step.max()) if len(history) else 0
    diverged = series("diverged")
    return {
        "status": status,
        "stop_reason": stop_reason,
        "diverged_step": int(diverged.step.iloc[0]) if len(diverged) else None,
        "steps": steps,
        "epochs": float(history.epoch.max()) if len(history) else 0.0,
        "max_trace_fisher": max_f,
        "max_trace_fisher_step": max_f_step,
        "final_trace_fisher": last("trace_fisher"),
        "best_val_acc": best_val,
        "best_val_step": best_val_step,
        "test_acc_at_best_val": test_at_best_val,
        "best_test_acc": best_test,
        "best_test_step": best_test_step,
        "final_test_acc": last("test_acc"),
        "final_val_acc": last("val_acc"),
        "final_train_acc": last("final_train_acc"),
        "final_train_loss": last("final_train_loss"),
        "last_epoch_train_acc": last("epoch_train_acc"),
        "final_train_acc_clean": last("final_train_acc_clean"),
        "final_train_acc_noisy": last("final_train_acc_noisy"),
    }
