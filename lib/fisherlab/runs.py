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

    def run_all(self, configs: Iterable[TrainConfig], *, progress: bool = True) -> list[RunResult]:
        """Run each config in turn (the ``local`` executor), reusing finished runs."""
        return [self.run(c, progress=progress) for c in configs]
