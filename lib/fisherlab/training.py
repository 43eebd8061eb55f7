"""One training run: SGD with step decay, measurements on a schedule, checkpoints, divergence.

``train(config, run_dir)`` is the only entry point. All randomness after initialisation comes
from generators seeded by (seed, epoch) or (seed, step), and the checkpoint holds the whole loop
state, so a run killed at any point and started again ends bit-identical on CPU (same device
type, torch version and ``threads``) to one that was never interrupted.

A step and its measurements form one transaction: the loop state is snapshotted before each
step, and a KeyboardInterrupt raised anywhere inside it (forward, backward, just after
``opt.step()``, a Tr(F) measurement, an evaluation, a checkpoint write) rolls the model, the
optimizer, the regulariser and the history back to that snapshot before checkpointing, so
the resumed run redoes the step exactly once. A non-finite loss, gradient norm, Tr(F) or
evaluation loss ends the run with status ``diverged``, not an exception.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from fisherlab.checkpoints import CHECKPOINT, Snapshot, load_checkpoint, write_checkpoint
from fisherlab.config import TrainConfig
from fisherlab.data import DataSplits, augment, epoch_order, load_splits, normalize, step_generator
from fisherlab.evaluation import Evaluations
from fisherlab.measurements import Probes, evaluate, fisher_due
from fisherlab.models import build_model
from fisherlab.regularizers import build_regularizer
from fisherlab.step import sgd_step
from fisherlab.summary import summarize

__all__ = ["CHECKPOINT", "RunResult", "evaluate", "resolve_device", "summarize", "train"]

AUGMENT = 0  # generator stream of the batch augmentation (see data.step_generator)


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


def _lr_at(config: TrainConfig, epoch: float) -> float:
    passed = sum(epoch >= m for m in config.lr_milestones)
    return config.lr * config.lr_factor**passed


class _Loop(Evaluations):
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
        self.probes = Probes(config, data)
        self.step = 0
        self.rows: list[tuple[int, float, str, float]] = []
        self.window = torch.zeros(5, dtype=torch.float64)  # loss, correct, count, ‖g‖ sum, steps
        self.epoch_acc = torch.zeros(2, dtype=torch.float64)  # correct, count
        self.wall = 0.0
        self.train_time = 0.0  # seconds inside SGD steps (incl. regulariser), no measurements
        self.status = "running"
        self.stop_reason = ""
        self.finalized = False
        # best validation point; its weights are kept only when test evaluations use a subset
        self.best_val, self.best_step = -1.0, -1
        self.best_state: dict[str, Tensor] | None = None
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
            "best_val": self.best_val,
            "best_step": self.best_step,
            "best_state": self.best_state,
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
        for name, default in (("best_val", -1.0), ("best_step", -1), ("best_state", None)):
            setattr(self, name, state.get(name, default))  # absent in older checkpoints

    # -- one SGD step --------------------------------------------------------------------------
    def sgd_step(self) -> bool:
        """One step; returns False when the loss, the gradient norm or the penalty is not
        finite (the run diverged); the model is then left as it was before the step."""
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
        r = sgd_step(
            self.model, self.opt, self.reg, x, y, step=self.step, epoch=epoch, seed=cfg.seed
        )
        if not r.ok:
            return False
        if r.penalty is not None:
            self.log("penalty", r.penalty)
        correct = float(r.correct)
        self.window += torch.tensor([r.loss * len(y), correct, len(y), r.grad_norm, 1])
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


def _run_loop(
    loop: _Loop,
    config: TrainConfig,
    run_dir: Path | None,
    bar: tqdm,
    snap: Snapshot,
    started: float,
) -> None:
    """Steps until the run ends; ``snap`` always holds the last step boundary."""
    spe = loop.steps_per_epoch
    eval_period = max(1, round(config.eval_every * spe))
    if loop.step == 0 and not loop.rows:
        if not math.isfinite(loop.measure_fisher()):
            loop.diverge("non-finite Tr(F)")
        elif not loop.evaluate_all():
            loop.diverge("non-finite evaluation loss")
    while loop.status == "running":
        snap.take(loop)
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
            snap.restore(loop)  # keep the last finite weights
            loop.diverge("non-finite loss or gradient")
            break
        bar.update(1)
        step = loop.step
        if fisher_due(config, step, spe):
            value = loop.measure_fisher()
            if not math.isfinite(value):
                loop.diverge("non-finite Tr(F)")
                break
            bar.set_postfix_str(f"Tr(F)={value:.3g}", refresh=False)
        if (step % eval_period == 0 or step == loop.total_steps) and not loop.evaluate_all():
            loop.diverge("non-finite evaluation loss")
            break
        if step % spe == 0:  # end of an epoch
            correct, count = loop.epoch_acc.tolist()
            loop.log("epoch_train_acc", correct / count)
            loop.epoch_acc.zero_()
            if config.stop_train_acc is not None and correct / count >= config.stop_train_acc:
                loop.status, loop.stop_reason = "finished", "train_acc"
            loop.wall = time.perf_counter() - started
            write_checkpoint(loop, run_dir)


def train(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    progress: bool = True,
    data: DataSplits | None = None,
    init_state: dict[str, Any] | None = None,
) -> RunResult:
    """Run ``config`` to the end (or resume it from ``run_dir/checkpoint.pt``).

    Measurements: Tr(F) (``trace_fisher`` on ``fisher_probe`` fixed training examples) and
    Tr(F^B) (mean over the probe's mini-batches) every ``fisher_every`` steps up to
    ``fisher_dense_until``, then every ``fisher_every_late`` steps (default once an epoch);
    train loss/accuracy/gradient norm per ``log_every`` steps; validation and test every
    ``eval_every`` epochs. Checkpoints at every epoch end and on KeyboardInterrupt (rolled back
    to the last step boundary first). ``init_state``: a checkpoint whose model weights start
    the run (``config.init_from``; the run store hands it over). On CPU the run uses
    ``config.threads`` torch threads and restores the caller's count afterwards.
    """
    device = resolve_device(config.device)
    if config.init_from is not None and init_state is None:
        raise ValueError(
            f"init_from={config.init_from!r}: pass that run's checkpoint as init_state"
        )
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(config.threads)
    try:
        return _train(config, run_dir, progress, data, init_state, device)
    finally:
        torch.set_num_threads(threads)


def _train(
    config: TrainConfig,
    run_dir: str | Path | None,
    progress: bool,
    data: DataSplits | None,
    init_state: dict[str, Any] | None,
    device: torch.device,
) -> RunResult:
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
    if init_state is not None:
        loop.model.load_state_dict(init_state["model"])
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        state = load_checkpoint(run_dir, device)
        if state is not None:
            loop.load(state)
    bar = tqdm(
        total=loop.total_steps,
        initial=loop.step,
        disable=not progress,
        desc=f"lr={config.lr:g} {config.regularizer}",
        unit="step",
        mininterval=2.0,
    )
    started = time.perf_counter() - loop.wall
    snap = Snapshot(loop)
    snap.take(loop)
    try:
        _run_loop(loop, config, run_dir, bar, snap, started)
        if not loop.finalized:
            snap.take(loop)
            loop.finalize()
            loop.finalized = True
            loop.wall = time.perf_counter() - started
            write_checkpoint(loop, run_dir)
    except KeyboardInterrupt:
        snap.restore(loop)
        loop.wall = time.perf_counter() - started
        write_checkpoint(loop, run_dir)
        raise
    finally:
        bar.close()
    spe = loop.steps_per_epoch
    history = pd.DataFrame(loop.rows, columns=["step", "epoch", "metric", "value"])
    summary = summarize(history, config, status=loop.status, stop_reason=loop.stop_reason)
    summary.update(wall_time_s=loop.wall, steps_per_epoch=spe, device=str(device))
    epochs_done = max(loop.step / spe, 1e-9)
    summary["time_per_epoch_s"] = loop.wall / epochs_done
    summary["train_time_per_epoch_s"] = loop.train_time / epochs_done
    return RunResult(config=config, history=history, summary=summary)
