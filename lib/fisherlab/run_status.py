"""Where each run of a run store stands, and what is left: ``python -m fisherlab.runs status DIR``.

Read-only: it reads each run folder's config, summary and checkpoint (layout in
``fisherlab.runs``) and tests, without waiting, whether another process holds the folder's lock
(is training it now). A run a sweep has queued has a folder with its config only
(``RunStore.plan``) and is listed as not started.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from fisherlab.training import CHECKPOINT

__all__ = ["report", "status", "time_left"]

_ENDED = ("finished", "diverged")  # states of runs that train no further


def _held(lock: Path) -> bool:
    """Whether another process holds the run's flock (is training it now)."""
    if not lock.exists():
        return False
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _progress(d: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Where the run in ``d`` stands: its state, epoch and step, and hours of run time so far."""
    if (d / "summary.json").exists():
        s = json.loads((d / "summary.json").read_text())
        return {
            "state": s.get("status"),
            "epoch": s.get("epochs"),
            "step": s.get("steps"),
            "hours": s.get("wall_time_s", float("nan")) / 3600,
            "done (%)": 100.0,
        }
    state = "training now" if _held(d / ".lock") else "not started"
    if not (d / CHECKPOINT).exists():
        return {"state": state}
    try:
        ckpt = torch.load(d / CHECKPOINT, map_location="cpu", weights_only=False)
    except Exception as err:  # being replaced, or torn: say so, touch nothing
        return {"state": f"checkpoint unreadable ({type(err).__name__})"}
    step = ckpt["step"]
    # steps per epoch from the last logged row past step 0 (a Ctrl-C checkpoint sits mid-epoch)
    last = next((r for r in reversed(ckpt["rows"]) if r[0] > 0 and r[1] > 0), None)
    epoch = step * last[1] / last[0] if last else 0.0
    if state == "not started":
        state = "paused (resumes from its checkpoint)"
    total = config.get("epochs")
    if config.get("max_steps") and step and epoch:
        total = min(total, config["max_steps"] * epoch / step) if total else None
    return {
        "state": state,
        "epoch": epoch,
        "step": step,
        "hours": ckpt["wall"] / 3600,
        "done (%)": 100 * epoch / total if total else None,
    }


_STATUS_CONFIG = ("model", "dataset", "regularizer", "lr", "seed", "epochs")


def status(root: str | Path) -> pd.DataFrame:
    """One row per run folder under ``root``: what it trains and where it stands (finished,
    diverged, training now, paused at a checkpoint, not started: e.g. queued by a sweep, see
    ``RunStore.plan``), the epoch and step it reached, its run time so far, and the share of its
    epochs done; finished runs last."""
    rows = []
    for d in sorted(p for p in Path(root).iterdir() if (p / "config.json").exists()):
        c = json.loads((d / "config.json").read_text())
        what = {k: c.get(k) for k in _STATUS_CONFIG}
        updated = max(f.stat().st_mtime for f in d.iterdir())
        rows.append({"key": d.name, **what, **_progress(d, c), "updated": updated})
    columns = ["key", *_STATUS_CONFIG, "state", "epoch", "step", "hours", "done (%)", "updated"]
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table
    table["step"] = table["step"].astype("Int64")
    table["updated"] = pd.to_datetime(table["updated"], unit="s").dt.strftime("%Y-%m-%d %H:%M")
    done = table["state"].isin(_ENDED)
    return pd.concat([table[~done], table[done]], ignore_index=True)


def time_left(table: pd.DataFrame) -> dict[str, float]:
    """What the unfinished runs of a ``status`` table have left: how many runs, their epochs
    to go, and the run time that takes at the store's pace so far (run hours per epoch over
    every run that has trained), in run-hours: runs trained side by side share them."""
    open_ = table[~table["state"].isin(_ENDED)]
    epoch = open_["epoch"].fillna(0.0).astype(float)
    done = open_["done (%)"].astype(float)
    total = (epoch * 100 / done).where(done > 0, open_["epochs"].astype(float))
    trained = table[(table["epoch"].astype(float) > 0) & (table["hours"].astype(float) > 0)]
    per_epoch = (
        trained["hours"].astype(float).sum() / trained["epoch"].astype(float).sum()
        if len(trained)
        else float("nan")
    )
    epochs = float((total - epoch).sum())
    return {
        "runs": len(open_),
        "epochs": epochs,
        "seconds_per_epoch": 3600 * per_epoch,
        "run_hours": epochs * per_epoch,
    }


def report(root: str | Path) -> str:
    """The ``status`` table of ``root`` as text, with a last line saying what is left."""
    table = status(root)
    if table.empty:
        return f"no runs in {root}"
    text = table.to_string(index=False, float_format=lambda v: f"{v:.4g}")
    left = time_left(table)
    if left["runs"]:
        text += (
            f"\nleft: {left['runs']} unfinished runs, {left['epochs']:,.1f} epochs; at this "
            f"store's pace so far ({left['seconds_per_epoch']:.0f} s of run time an epoch) ≈ "
            f"{left['run_hours']:.1f} run-hours (runs trained side by side share them)"
        )
    return text
