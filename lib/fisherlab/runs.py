"""The run store: one folder per resolved config, reused when finished, resumed when not.

    <root>/<config key>/
        config.json         the resolved TrainConfig
        meta.json           fisherlab version, git commit, torch version, device, threads, host,
                            the training code's fingerprint (fisherlab.fingerprint), and every
                            commit that trained part of the run (``trained_by``, oldest first)
        checkpoint.pt       the whole loop state (see fisherlab.training); .prev.pt the one before
        history.parquet     tidy (step, epoch, metric, value)
        summary.json        written last: its presence marks the run as done
        .lock               held (flock) by the process training the run

This module is the only code that knows that layout. Every file is written to a temporary
name and renamed, so a run killed at any point leaves either the old file or the new one.
A torn file found later (a truncated summary, history or checkpoint) is set aside with a
warning and rebuilt from the last good state. Two processes asked for the same run do not both
train it: the second waits on the lock and then reads the first one's result.

Determinism domain: a run's numbers depend on its config (hashed into the key, including the
CPU thread count), on the device type and torch version, and on the code of the training loop
(``fisherlab.fingerprint``: one hash per module it imports); all three are recorded in
``meta.json``. A run is reused under another device type or torch version, or resumed or reused
by changed training code, only with a warning that names what differs. A run resumed by changed
code keeps the earlier fingerprints in ``meta.json`` (``numerics_earlier``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import subprocess
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch

import fisherlab
from fisherlab.config import TrainConfig
from fisherlab.fingerprint import changed_modules, numerics_fingerprint
from fisherlab.run_status import report
from fisherlab.training import CHECKPOINT, RunResult, resolve_device, train

__all__ = ["RunStore", "code_version", "domain"]

REPO_ROOT = Path(__file__).resolve().parents[2]
_FILES = ("config.json", "meta.json", "history.parquet", "summary.json")


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


def domain(config: TrainConfig) -> dict[str, str]:
    """What besides the config changes a run's numbers here: device type and torch version."""
    return {"device_type": resolve_device(config.device).type, "torch": torch.__version__}


def _read_meta(d: Path) -> dict[str, Any]:
    f = d / "meta.json"
    return json.loads(f.read_text()) if f.exists() else {}


def _trained_by(before: dict[str, Any], commit: str | None) -> list[str | None]:
    """Every commit that trained part of a run, oldest first: ``before``'s list (or its one
    commit, for a ``meta.json`` older than the list) and ``commit`` unless it is already last."""
    commits = before.get("trained_by") or ([before["commit"]] if "commit" in before else [])
    return commits if commits and commits[-1] == commit else [*commits, commit]


def _changed_numerics(meta: dict[str, Any]) -> list[str]:
    """Training modules that differ between the code that wrote ``meta`` and this checkout's
    (none when ``meta`` predates fingerprints)."""
    then = meta.get("numerics")
    return changed_modules(then, numerics_fingerprint()) if then else []


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


class RunStore:
    """Runs keyed by ``TrainConfig.key()`` under ``root`` (default ``outputs/runs``)."""

    def __init__(self, root: str | Path = REPO_ROOT / "outputs" / "runs") -> None:
        self.root = Path(root)

    def path(self, config: TrainConfig | str) -> Path:
        return self.root / (config if isinstance(config, str) else config.key())

    def checkpoint(self, key: str) -> Path:
        """The checkpoint file of the run ``key`` (it may not exist)."""
        return self.path(key) / CHECKPOINT

    def is_done(self, config: TrainConfig) -> bool:
        return (self.path(config) / "summary.json").exists()

    def plan(self, configs: Iterable[TrainConfig]) -> None:
        """Write the config of every run in ``configs`` that has none here yet, so that
        ``status`` lists a sweep's queued runs (as not started) beside its running ones. A
        queued run stays listed until it is trained or pruned (``prune_queued``: e.g. after the
        grid of an interrupted sweep was edited)."""
        for config in configs:
            d = self.path(config)
            if not (d / "config.json").exists():
                d.mkdir(parents=True, exist_ok=True)
                _write_json(d / "config.json", config.to_dict())

    def prune_queued(self) -> list[str]:
        """Delete the folders of queued runs that never started (a ``config.json`` and nothing
        else) and return their keys. A run a worker starts meanwhile keeps its folder: its files
        make the folder non-empty, and training rewrites its config."""
        pruned = []
        for d in sorted(p.parent for p in self.root.glob("*/config.json")):
            if [f.name for f in d.iterdir()] != ["config.json"]:
                continue
            (d / "config.json").unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                d.rmdir()
                pruned.append(d.name)
        return pruned

    def finished(self) -> list[str]:
        """Keys of every finished run in the store."""
        return sorted(p.parent.name for p in self.root.glob("*/summary.json"))

    def unfinished(self) -> list[Path]:
        """Checkpoints of the runs that have not finished: what a later session resumes from."""
        return sorted(
            p for p in self.root.glob(f"*/{CHECKPOINT}") if not (p.parent / "summary.json").exists()
        )

    def read(self, key: str) -> dict[str, Any]:
        """A finished run's stored files: ``config``, ``summary``, ``meta`` (dicts)."""
        d = self.path(key)
        out = {}
        for name in ("config", "summary", "meta"):
            f = d / f"{name}.json"
            out[name] = json.loads(f.read_text()) if f.exists() else {}
        return out

    def history(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(self.path(key) / "history.parquet")

    def load(self, config: TrainConfig) -> RunResult:
        """The finished run; ``ValueError`` naming the file if one of its files is torn."""
        d = self.path(config)
        try:
            summary = json.loads((d / "summary.json").read_text())
            history = pd.read_parquet(d / "history.parquet")
        except Exception as err:
            raise ValueError(f"run {d}: unreadable result files ({err})") from err
        meta = _read_meta(d)
        here = domain(config)
        there = {k: meta.get(k) for k in here}
        if meta and there != here:
            warnings.warn(
                f"run {d.name} was trained with {there}, reused here with {here}: its numbers "
                "may differ from a run made here",
                stacklevel=2,
            )
        changed = _changed_numerics(meta)
        if changed:
            warnings.warn(
                f"run {d.name} was trained by other code than this checkout's (changed since: "
                f"{', '.join(changed)}; trained at commit {meta.get('commit')}): its numbers may "
                "differ from a run made here; delete its folder to retrain it",
                stacklevel=2,
            )
        if meta.get("numerics_earlier"):
            commits = [e.get("commit") for e in meta["numerics_earlier"]]
            warnings.warn(
                f"run {d.name} was resumed by changed training code (earlier parts at commits "
                f"{commits}): its numbers mix code versions; delete its folder to retrain it",
                stacklevel=2,
            )
        return RunResult(config, history, summary)

    @contextlib.contextmanager
    def _lock(self, config: TrainConfig) -> Iterator[None]:
        """An exclusive flock on the run folder: released by the OS if the holder dies."""
        d = self.path(config)
        d.mkdir(parents=True, exist_ok=True)
        with open(d / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def run(self, config: TrainConfig, *, progress: bool = True) -> RunResult:
        """The finished run for ``config``: read from the store, resumed, or trained afresh."""
        if self.is_done(config):
            with contextlib.suppress(ValueError):
                return self.load(config)
        with self._lock(config):
            if self.is_done(config):  # finished by another process while we waited
                try:
                    return self.load(config)
                except ValueError as err:
                    self._set_aside_results(config, err)
            return self._train(config, progress)

    def _init_source(self, key: str) -> Path:
        """The checkpoint of the finished run ``key``; retrained from its stored config when only
        its record is here (committed records carry no weights; on CPU the retrained run is
        bit-identical to the recorded one, which is checked)."""
        source = self.checkpoint(key)
        d = self.path(key)
        if not (d / "summary.json").exists():
            raise FileNotFoundError(f"init_from={key!r}: no finished run {d} in this run store")
        if not source.exists():
            config = TrainConfig.from_dict(json.loads((d / "config.json").read_text()))
            recorded = json.loads((d / "summary.json").read_text())
            with self._lock(config):
                if not source.exists():  # not retrained by another process while we waited
                    warnings.warn(
                        f"run {key}: no checkpoint to start from, retraining it", stacklevel=3
                    )
                    again = self._train(config, progress=False).summary
                    fields = ("final_train_loss", "final_test_acc")
                    if any(again.get(f) != recorded.get(f) for f in fields):
                        warnings.warn(
                            f"run {key} retrained to recover its weights differs from its record "
                            f"({ {f: (recorded.get(f), again.get(f)) for f in fields} }); the "
                            "record now holds the retrained run",
                            stacklevel=3,
                        )
        return source

    def _set_aside_results(self, config: TrainConfig, err: Exception) -> None:
        d = self.path(config)
        warnings.warn(f"{err}; rebuilding them from the checkpoint", stacklevel=3)
        for name in ("summary.json", "history.parquet"):
            if (d / name).exists():
                os.replace(d / name, d / f"{name}.corrupt")

    def _train(self, config: TrainConfig, progress: bool) -> RunResult:
        d = self.path(config)
        _write_json(d / "config.json", config.to_dict())
        meta = {
            **code_version(),
            **domain(config),
            "device": config.device,
            "threads": config.threads,
            "host": platform.node(),
            "numerics": numerics_fingerprint(),
        }
        before = _read_meta(d) if (d / CHECKPOINT).exists() else {}
        earlier = before.get("numerics_earlier", [])
        changed = _changed_numerics(before)
        if changed:
            warnings.warn(
                f"run {d.name} is resumed by other code than trained it so far (changed: "
                f"{', '.join(changed)}; it was at commit {before.get('commit')}): its numbers mix "
                "both versions; delete its folder to train it from the start",
                stacklevel=3,
            )
            earlier = [*earlier, {"commit": before.get("commit"), "numerics": before["numerics"]}]
        if earlier:
            meta["numerics_earlier"] = earlier
        meta["trained_by"] = _trained_by(before, meta["commit"])
        _write_json(d / "meta.json", meta)
        init_state = None
        if config.init_from is not None:
            init_state = torch.load(self._init_source(config.init_from), weights_only=False)
        result = train(config, d, progress=progress, init_state=init_state)
        tmp = d / f"history.parquet.{os.getpid()}.tmp"
        result.history.to_parquet(tmp, index=False)
        os.replace(tmp, d / "history.parquet")
        _write_json(d / "summary.json", result.summary)
        return result


def run_in_worker(root: str, config: dict[str, Any]) -> None:
    """Executor entry point (a pool process or a Ray task): one run, left in the store."""
    RunStore(root).run(TrainConfig.from_dict(config), progress=False)


def main(argv: list[str] | None = None) -> None:
    """``python -m fisherlab.runs status DIR``: where each run of DIR stands and what is left
    (``fisherlab.run_status``).
    ``python -m fisherlab.runs unfinished DIR``: the checkpoints of DIR's unfinished runs, one
    per line, e.g. to commit them before a session ends: ``git add -f $(python -m fisherlab.runs
    unfinished outputs/cpu-long/runs)``.
    ``python -m fisherlab.runs prune DIR``: delete the queued runs that never started (e.g. of a
    sweep abandoned after its grid was edited) and name them."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fisherlab.runs")
    parser.add_argument("command", choices=["status", "unfinished", "prune"])
    parser.add_argument("root", help="run store folder")
    args = parser.parse_args(argv)
    if not Path(args.root).is_dir():
        parser.error(f"root: {args.root!r} is not a folder (a run store, e.g. outputs/runs)")
    if args.command == "status":
        print(report(args.root))
        return
    if args.command == "prune":
        pruned = RunStore(args.root).prune_queued()
        print(f"pruned {len(pruned)} queued runs that never started: {', '.join(pruned) or '-'}")
        return
    for path in RunStore(args.root).unfinished():
        print(path)


if __name__ == "__main__":
    main()
