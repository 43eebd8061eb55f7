"""Checkpoints of a training run: atomic writes with the previous one kept, torn-file recovery,
and the in-memory snapshot a Ctrl-C rolls back to.

A checkpoint is the loop's ``state()`` (model, optimizer, regulariser, history rows, counters).
``write_checkpoint`` moves the current file to ``checkpoint.prev.pt`` and writes the new one
under a temporary name before renaming it, so a kill at any point leaves a readable state;
``load_checkpoint`` falls back to the previous file when the current one is unreadable.
``Snapshot`` holds the loop state at a step boundary (model tensors, momentum, counters, the
history's length) so that an interrupted step is undone before the checkpoint is written.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["CHECKPOINT", "PREVIOUS_CHECKPOINT", "Snapshot", "load_checkpoint", "write_checkpoint"]

CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


_SCALARS = (
    "step",
    "wall",
    "train_time",
    "status",
    "stop_reason",
    "finalized",
    "best_val",
    "best_step",
    "best_state",  # replaced, never modified in place: a reference is a snapshot
)


class Snapshot:
    """The loop state at a step boundary, kept in preallocated buffers (one copy per step).

    ``take`` costs one device copy of the model's tensors and the optimizer's momentum; the
    history is append-only, so its length is enough to roll it back.
    """

    def __init__(self, loop: Any) -> None:
        self.tensors = [t.detach().clone() for t in self._model_tensors(loop)]
        self.momentum: list[Tensor | None] = []
        self.rest: dict[str, Any] = {}

    @staticmethod
    def _model_tensors(loop: Any) -> list[Tensor]:
        return list(loop.model.state_dict(keep_vars=True).values())

    def take(self, loop: Any) -> None:
        with torch.no_grad():
            for buf, t in zip(self.tensors, self._model_tensors(loop), strict=True):
                buf.copy_(t)
            self.momentum = []
            for p in loop.model.parameters():
                m = loop.opt.state.get(p, {}).get("momentum_buffer")
                self.momentum.append(None if m is None else m.detach().clone())
        self.rest = {name: getattr(loop, name) for name in _SCALARS}
        self.rest.update(
            rows=len(loop.rows),
            window=loop.window.clone(),
            epoch_acc=loop.epoch_acc.clone(),
            reg=dict(loop.reg.state_dict()),
        )

    def restore(self, loop: Any) -> None:
        with torch.no_grad():
            for buf, t in zip(self.tensors, self._model_tensors(loop), strict=True):
                t.copy_(buf)
            for p, m in zip(loop.model.parameters(), self.momentum, strict=True):
                if m is None:
                    loop.opt.state.pop(p, None)
                else:
                    loop.opt.state[p]["momentum_buffer"] = m
        rest = dict(self.rest)
        del loop.rows[rest.pop("rows") :]
        loop.window, loop.epoch_acc = rest.pop("window"), rest.pop("epoch_acc")
        loop.reg.load_state_dict(rest.pop("reg"))
        for name, value in rest.items():
            setattr(loop, name, value)


def write_checkpoint(loop: Any, run_dir: Path | None) -> None:
    """Atomic write; the previous checkpoint is kept as ``checkpoint.prev.pt`` so that a torn
    current file (a disk filled, a copy cut short) still leaves a good state to resume from."""
    if run_dir is None:
        return
    path = run_dir / CHECKPOINT
    if path.exists():
        os.replace(path, run_dir / PREVIOUS_CHECKPOINT)
    _atomic_save(loop.state(), path)


def load_checkpoint(run_dir: Path, device: torch.device) -> dict[str, Any] | None:
    """The newest readable checkpoint (current, else previous); a torn one is set aside."""
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            return torch.load(path, map_location=device, weights_only=False)
        except Exception as err:  # torn or truncated file: keep it for inspection, go on
            aside = path.with_suffix(".corrupt")
            os.replace(path, aside)
            warnings.warn(
                f"{path} is unreadable ({type(err).__name__}: {err}); moved to {aside.name}, "
                "resuming from the previous good state",
                stacklevel=3,
            )
    return None
