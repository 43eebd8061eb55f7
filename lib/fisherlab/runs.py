"""The run store: one folder per resolved config, reused when finished, resumed when not.

    outputs/runs/<config key>/
        config.json      the resolved TrainConfig
        meta.json        fisherlab version, git commit, torch version, device, host threads
        checkpoint.pt    the whole loop state (see fisherlab.training)
        history.parquet  tidy (step, epoch, metric, value)
        summary.json     written last: its presence marks the run as done

Every file is written to a temporary name and renamed, so a run killed at any point leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

import fisherlab
from fisherlab.config import TrainConfig
from fisherlab.training import RunResult, train

__all__ = ["RunStore", "code_version"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def code_version() -> dict[str, Any]:
    """fisherlab's version and, in a git checkout, its commit and whether the tree was dirty."""
    info: dict[str, Any] = {"fisherlab": fisherlab.__version__, "torch": torch.__version__}
    try:
        run = lambda *a: subprocess.run(  # noqa: E731
            ["git", "-C", str(REPO_ROOT), *a],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        info["commit"] = run("rev-parse", "HEAD")
        info["dirty"] = bool(run("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        info["commit"] = None
    return info


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


class RunStore:
    """Runs keyed by ``TrainConfig.key()`` under ``root`` (default ``outputs/runs``)."""

    def __init__(self, root: str | Path = REPO_ROOT / "outputs" / "runs") -> None:
        self.root = Path(root)

    def path(self, config: TrainConfig) -> Path:
        return self.root / config.key()

    def is_done(self, config: TrainConfig) -> bool:
        return (self.path(config) / "summary.json").exists()

    def load(self, config: TrainConfig) -> RunResult:
        d = self.path(config)
        summary = json.loads((d / "summary.json").read_text())
        return RunResult(config, pd.read_parquet(d / "history.parquet"), summary)

    def run(self, config: TrainConfig, *, progress: bool = True) -> RunResult:
        """The finished run for ``config``: read from the store, resumed, or trained afresh."""
        if self.is_done(config):
            return self.load(config)
        d = self.path(config)
        d.mkdir(parents=True, exist_ok=True)
        _write_json(d / "config.json", config.to_dict())
        meta = {
            **code_version(),
            "device": config.device,
            "threads": torch.get_num_threads(),
            "host": platform.node(),
        }
        _write_json(d / "meta.json", meta)
        result = train(config, d, progress=progress)
        tmp = d / "history.parquet.tmp"
        result.history.to_parquet(tmp, index=False)
        os.replace(tmp, d / "history.parquet")
        _write_json(d / "summary.json", result.summary)
        return result

    def run_all(
        self,
        configs: Iterable[TrainConfig],
        *,
        executor: str = "local",
        workers: int = 1,
        ray_address: str | None = None,
        gpus_per_run: float = 0.0,
        progress: bool = True,
        desc: str = "runs",
    ) -> list[RunResult]:
        """Every config's finished run, in order; the missing ones trained by ``executor``.

        ``local`` with ``workers=1`` trains in this process, one run after another, each with its
        own progress bar; with ``workers>1`` in a pool of that many processes with one torch
        thread each. ``ray`` sends each missing run to a Ray cluster (see ``fisherlab.sweep``).
        A run that raises is reported with status ``failed`` (its error in the summary) and the
        others go on; a diverging run is an ordinary finished record.
        """
        from fisherlab.sweep import train_missing

        configs = list(configs)
        todo = list({c.key(): c for c in configs if not self.is_done(c)}.values())
        failed: dict[str, str] = {}
        if executor != "local" or (workers > 1 and len(todo) > 1):
            failed = train_missing(
                self,
                todo,
                executor=executor,
                workers=workers,
                ray_address=ray_address,
                gpus_per_run=gpus_per_run,
                progress=progress,
                desc=desc,
            )
        results = []
        for c in configs:
            if c.key() in failed:
                results.append(
                    RunResult(c, _EMPTY.copy(), {"status": "failed", "error": failed[c.key()]})
                )
                continue
            try:
                results.append(self.run(c, progress=progress))
            except Exception as err:
                results.append(
                    RunResult(c, _EMPTY.copy(), {"status": "failed", "error": repr(err)})
                )
        return results


_EMPTY = pd.DataFrame(columns=["step", "epoch", "metric", "value"])


def _run_in_worker(root: str, config: dict[str, Any]) -> None:
    """Process-pool entry point: one thread, one run, results left in the store."""
    torch.set_num_threads(1)
    RunStore(root).run(TrainConfig.from_dict(config), progress=False)
