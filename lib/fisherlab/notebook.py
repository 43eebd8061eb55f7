"""What every notebook does around its experiment: parameters, output folder, recorded results.

A notebook's first code cell (tagged ``parameters``) sets every parameter to ``None`` except
``profile``; ``resolve_params`` fills the rest from ``params/<profile>/<notebook>.yaml`` (over
``params/<profile>/_base.yaml``, the loop fields all training notebooks share), lets any
value set explicitly (``papermill -p name value``) win, and rejects unknown names — all before
any data is read. A YAML may hold several of the paper's settings (``settings: {name:
{overrides}}`` with a default ``setting: name``); ``-p setting NAME`` picks one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

if TYPE_CHECKING:
    from fisherlab.training import RunResult

from fisherlab.config import ConfigError, TrainConfig, check_choice, check_positive
from fisherlab.data import load_arrays
from fisherlab.params import NOTEBOOK_PARAMS
from fisherlab.sweep import EXECUTORS, run_all

__all__ = ["NotebookParams", "banner", "in_repo", "record_results", "resolve_params"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("smoke", "quick", "cpu", "cpu-long", "paper")
# parameters every notebook has, beyond the TrainConfig fields its YAML sets
COMMON = (
    "profile",
    "dataset",
    "data_root",
    "model",
    "seed",
    "device",
    "output_dir",
    "runs_dir",
    "setting",
    "executor",
    "workers",
    "ray_address",
    "gpus_per_run",
)
# how runs are executed, unless the profile's YAML or the notebook says otherwise
EXECUTION_DEFAULTS = {"executor": "local", "workers": 1, "ray_address": None, "gpus_per_run": 0.0}
# parameters that change where or how runs execute, never their numbers
_NOT_RESULTS = {"profile", "output_dir", "runs_dir", "setting", *EXECUTION_DEFAULTS}
_IPYTHON_NAMES = {"In", "Out", "exit", "quit", "get_ipython", "open"}
_TRAIN_FIELDS = set(TrainConfig.__dataclass_fields__)
# fields whose default is not None: a None among the parameters means "not set" for them
_NOT_NONE = {
    name
    for name, f in TrainConfig.__dataclass_fields__.items()
    if f.default is not None or f.default_factory is not dataclasses.MISSING
}


def params_file(notebook: str, profile: str) -> Path:
    return REPO_ROOT / "params" / profile / f"{notebook}.yaml"


def default_output_dir(notebook: str, profile: str, setting: str | None = None) -> Path:
    """outputs/<profile>/<notebook>[/<setting, as a folder name>] under the repository."""
    out = REPO_ROOT / "outputs" / profile / notebook
    if setting:
        out /= "".join(c if c.isalnum() else "_" for c in setting).strip("_")
    return out


def _user_names(namespace: dict[str, Any]) -> dict[str, Any]:
    """The parameters among a notebook's globals (no modules, functions, IPython names)."""
    return {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_")
        and k not in _IPYTHON_NAMES
        and not isinstance(v, types.ModuleType | types.FunctionType | type)
        and not callable(v)
    }


class NotebookParams(dict):
    """Resolved parameters of one notebook run (a dict), with helpers to build run configs."""

    notebook: str
    run_keys: list[str]  # every run this notebook asked for, recorded with its results
    own: frozenset[str] = frozenset()  # the notebook's own parameters (fisherlab.params)

    @property
    def output_dir(self) -> Path:
        return Path(self["output_dir"])

    @property
    def runs_dir(self) -> Path:
        return Path(self["runs_dir"])

    def train_config(self, **changes: Any) -> TrainConfig:
        """A validated TrainConfig from the TrainConfig fields among the parameters + changes."""
        values = {
            k: v
            for k, v in self.items()
            if k in _TRAIN_FIELDS and k not in self.own and not (v is None and k in _NOT_NONE)
        }
        return TrainConfig.from_dict({**values, **changes})

    def sweep(self, configs: list[TrainConfig], desc: str = "runs") -> list[RunResult]:
        """Each config's run from the run store, the missing ones trained by the chosen executor
        (``executor``, ``workers``, ``ray_address``, ``gpus_per_run``)."""
        from fisherlab.runs import RunStore

        self.run_keys.extend(c.key() for c in configs if c.key() not in self.run_keys)
        return run_all(
            RunStore(self.runs_dir),
            configs,
            executor=self["executor"],
            workers=self["workers"],
            ray_address=self["ray_address"],
            gpus_per_run=self["gpus_per_run"],
            desc=desc,
        )

    def positive(self, name: str) -> float:
        value = self[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{name}={value!r} must be a number > 0")
        if not math.isfinite(value):
            raise ConfigError(f"{name}={value!r} must be finite")
        return float(value)


def in_repo(path: str | Path) -> str:
    """``path`` relative to the repository when it lies inside it, else whole (for display)."""
    p = Path(path)
    return str(p.relative_to(REPO_ROOT) if p.is_relative_to(REPO_ROOT) else p)


def _portable(value: Any) -> Any:
    """A recorded parameter without machine paths: a path inside the repo relative to it, another
    existing absolute path as its name; anything else unchanged."""
    if isinstance(value, str) and value.startswith(str(REPO_ROOT) + "/"):
        return in_repo(value)
    if isinstance(value, str) and value.startswith("/") and Path(value).exists():
        return f"…/{Path(value).name}"
    return value


def banner(params: NotebookParams) -> None:
    """Print what this execution is: profile (and setting), data, run store and output folder."""
    p = params
    data = f"{p.get('dataset')} ({p.get('data_root')})"
    lines = [
        f"{p.notebook} at profile {p['profile']!r}"
        + (f", setting {p['setting']!r}" if p.get("setting") else ""),
        f"data: {data}, subset {p.get('subset')}, model {p.get('model')}",
        f"run store: {in_repo(p.runs_dir)}",
        f"results to: {in_repo(p.output_dir)}",
    ]
    if p["profile"] == "smoke":
        lines.append("smoke profile: synthetic data; these numbers test the code, not the paper")
    print("\n".join(lines))


def resolve_params(
    notebook: str, namespace: dict[str, Any], *, trains: bool = True
) -> NotebookParams:
    """Merge the profile's YAML with the values set in the notebook (``globals()``), validated.

    Raises ``ConfigError`` naming an unknown parameter (with the valid ones) or a bad value
    (with the accepted values), within a second and before any data is touched.
    """
    given = _user_names(namespace)
    profile = given.get("profile") or "smoke"
    check_choice("profile", profile, PROFILES)
    path = params_file(notebook, profile)
    if not path.exists():
        raise ConfigError(f"no parameters for notebook {notebook!r} at profile {profile!r}: {path}")
    defaults = yaml.safe_load(path.read_text()) or {}
    base = params_file("_base", profile)
    if notebook in NOTEBOOK_PARAMS and base.exists():  # the loop fields training notebooks share
        defaults = {**(yaml.safe_load(base.read_text()) or {}), **defaults}
    settings = defaults.pop("settings", None) or {}
    valid = set(defaults) | set(COMMON)
    unknown = sorted(set(given) - valid)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)}; "
            f"valid parameters: {', '.join(sorted(valid))}"
        )
    setting = None
    if settings:  # a profile with several of the paper's settings: pick one, apply its overrides
        setting = given.get("setting") or defaults["setting"]
        check_choice("setting", setting, list(settings))
        defaults = {**defaults, **settings[setting], "setting": setting}
    elif given.get("setting") is not None:
        raise ConfigError(f"setting={given['setting']!r}: profile {profile!r} has one setting only")
    merged = {**defaults, **{k: v for k, v in given.items() if v is not None}, "profile": profile}
    overrides = {
        k: v
        for k, v in given.items()
        if v is not None and k not in _NOT_RESULTS and defaults.get(k) != v
    }
    if merged.get("output_dir") is None:
        out = default_output_dir(notebook, profile, setting)
        if overrides:  # an ad-hoc run never overwrites the profile's recorded results
            blob = json.dumps(overrides, sort_keys=True, default=str).encode()
            out = out / f"adhoc-{hashlib.sha256(blob).hexdigest()[:8]}"
        merged["output_dir"] = str(out)
    if merged.get("runs_dir") is None:  # $FISHERLAB_RUNS: a store outside the work tree
        merged["runs_dir"] = os.environ.get("FISHERLAB_RUNS") or "outputs/runs"
    for key, value in EXECUTION_DEFAULTS.items():
        if merged.get(key) is None:
            merged[key] = value
    check_choice("executor", merged["executor"], EXECUTORS)
    check_positive("workers", merged["workers"], integer=True)
    check_positive("gpus_per_run", merged["gpus_per_run"], allow_zero=True)
    for key in ("output_dir", "runs_dir"):
        p = Path(merged[key]).expanduser()
        merged[key] = str(p if p.is_absolute() else REPO_ROOT / p)
    spec = NOTEBOOK_PARAMS.get(notebook)
    if spec is not None:
        merged.update(spec.parse(merged).resolved(merged))
    params = NotebookParams(merged)
    params.notebook = notebook
    params.own = (
        frozenset() if spec is None else frozenset(f.name for f in dataclasses.fields(spec))
    )
    params.run_keys = []
    if trains:
        config = params.train_config()  # validates every TrainConfig field now
        _check_device(config.device)
        arrays = load_arrays(config.dataset, config.data_root, **config.data_options)
        _check_sizes(config, len(arrays.train_labels))
    params.output_dir.mkdir(parents=True, exist_ok=True)
    return params


def _check_device(device: str) -> None:
    import torch

    available = {"cpu": True, "auto": True, "cuda": torch.cuda.is_available()}
    mps = getattr(torch.backends, "mps", None)
    available["mps"] = bool(mps and mps.is_available())
    if not available.get(device, False):
        here = ", ".join(k for k, ok in available.items() if ok)
        raise ConfigError(f"device={device!r} is not available here; accepted values: {here}")


def _check_sizes(config: TrainConfig, n_train: int) -> None:
    """val_size and subset against the dataset's training set (known once it is found)."""
    if config.val_size >= n_train:
        raise ConfigError(
            f"val_size={config.val_size} must be smaller than the training set ({n_train} "
            f"examples of {config.dataset})"
        )
    pool = n_train - config.val_size
    if config.subset is not None and config.subset > pool:
        raise ConfigError(
            f"subset={config.subset} is larger than the training pool: {n_train} examples of "
            f"{config.dataset} minus val_size={config.val_size} leaves {pool}"
        )


def record_results(params: NotebookParams, **tables: pd.DataFrame | dict[str, Any]) -> Path:
    """Write the notebook's machine-readable results to its output folder.

    Each DataFrame goes to ``<name>.csv``; dicts are gathered in ``summary.json`` with the
    resolved parameters. Tests and notebook 00 read these files, not the notebook's cells.
    """
    out = params.output_dir

    summary: dict[str, Any] = {
        "notebook": params.notebook,
        "params": {k: _portable(v) for k, v in params.items()},
        "run_keys": params.run_keys,
    }
    for name, table in tables.items():
        if isinstance(table, pd.DataFrame):
            table.to_csv(out / f"{name}.csv", index=False)
            summary[name] = json.loads(table.to_json(orient="records"))
        else:
            summary[name] = table
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    return path
