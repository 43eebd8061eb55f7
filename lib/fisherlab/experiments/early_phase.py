"""Notebook 02's tables: Tr(F_i) per run, per-run and per-setting rows, and correlations over runs
(Section 3, Fig. 2, 7, 8, 9; Supplement E, Fig. 19, 20).

- ``Tr(F_i)``: Tr(F) when the training loss first crosses the threshold ε (paper: 1.2 on
  CIFAR-10, 3.5 on CIFAR-100/ImageNet), on the fixed probe set (paper: 5,000 examples). Taken
  post hoc from the run's history: the crossing is the first logged ``train_loss`` window (the
  mean over the last ``log_every`` steps, logged at the window's last step) below ε, and Tr(F_i)
  is the first Tr(F) measurement at or after that step. The approximation is the window (single
  steps inside it are not seen) plus the lag to the next measurement, recorded per run
  (``Tr(F) lag (steps)``); measure Tr(F) densely early (``fisher_every`` over
  ``fisher_dense_until``) to keep it small.
- Test accuracy is judged at the best validation point (``test acc at best val (%)``); the
  paper's axis, the maximum along the trajectory (``best test acc (%)``), selects on the test set
  and is shown beside. The test accuracy at the highest running train accuracy every finished
  run reached (``test acc at matched train acc (%)``) separates fit from generalisation.
- Correlations are over runs, each CI from a hierarchical bootstrap: settings (a learning rate or
  a batch size) drawn with replacement, then seeds within them (``fisherlab.stats.correlation``).
  A run that did not finish or never crossed ε is left out and named (:func:`excluded`).

Step-counted cadences (``fisher_every``, ``fisher_dense_until``, ``fisher_every_late``,
``log_every``) are given for ``batch_size``; :func:`scaled_cadence` rescales them for runs at
another batch size so that they fall after the same number of examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fisherlab import analysis, stats
from fisherlab.training import RunResult

__all__ = [
    "ACCURACIES",
    "BATCH_SWEEP",
    "LR_SWEEP",
    "correlation_table",
    "early_trace_fisher",
    "excluded",
    "group_table",
    "per_run_table",
    "scaled_cadence",
    "supplement_e_table",
]

LR_SWEEP, BATCH_SWEEP = "learning rate", "batch size"
# accuracy columns of the per-run table that Tr(F_i) is correlated with, and their short names
ACCURACIES = {
    "test acc at best val (%)": "test at best val",
    "best test acc (%)": "best test (paper's axis)",
    "test acc at matched train acc (%)": "test at matched train acc",
    "max train acc (%)": "max train (Fig. 8, 9)",
}
_PER_RUN_COLUMNS = ["key", "status", "used", "Tr(F_i)", "crossing epoch", "crossing step"]
_PER_RUN_COLUMNS += ["Tr(F) lag (steps)", "test acc at best val (%)", "best test acc (%)"]
_PER_RUN_COLUMNS += ["final test acc (%)", "test acc at matched train acc (%)"]
_PER_RUN_COLUMNS += ["matched train acc (%)", "max train acc (%)", "final train acc (%)"]
_PER_RUN_COLUMNS += ["max Tr(F)", "epochs"]
_SUPPLEMENT_COLUMNS = ["status", "max Tr(F)", "step of max Tr(F)", "best val acc (%)"]
_SUPPLEMENT_COLUMNS += ["test acc at best val (%)", "best test acc (%)", "final train acc (%)"]
_CADENCES = {"fisher_every": 1, "fisher_dense_until": 0, "fisher_every_late": 1, "log_every": 1}


def scaled_cadence(p: Mapping[str, Any], batch_size: int) -> dict[str, Any]:
    """Step-counted cadences for a run at ``batch_size``: ``p``'s values (given for
    ``p['batch_size']``) rescaled to fall after the same number of training examples."""
    k = p["batch_size"] / batch_size
    if k == 1:
        return {}
    return {
        name: None if p.get(name) is None else max(least, round(p[name] * k))
        for name, least in _CADENCES.items()
    }


def early_trace_fisher(history: pd.DataFrame, threshold: float) -> dict[str, float]:
    """Tr(F_i) from a run's tidy history: the first Tr(F) measured at or after the first logged
    train-loss window below ``threshold`` (see the module docstring for the approximation).

    Returns ``trace_fisher_i``, ``crossing_step``, ``crossing_epoch``, ``fisher_step`` and
    ``lag_steps`` (measurement step minus crossing step); NaN where the loss never crossed or
    no Tr(F) was measured after the crossing.
    """
    keys = ("trace_fisher_i", "crossing_step", "crossing_epoch", "fisher_step", "lag_steps")
    out = dict.fromkeys(keys, float("nan"))
    loss = history[history.metric == "train_loss"].sort_values("step")
    below = loss[loss.value < threshold]
    if not len(below):
        return out
    step = float(below.step.iloc[0])
    out["crossing_step"], out["crossing_epoch"] = step, float(below.epoch.iloc[0])
    fisher = history[(history.metric == "trace_fisher") & (history.step >= step)]
    if len(fisher):
        first = fisher.sort_values("step").iloc[0]
        out["trace_fisher_i"] = float(first.value)
        out["fisher_step"] = float(first.step)
        out["lag_steps"] = float(first.step) - step
    return out


def _pct(value: float | None) -> float:
    return 100 * value if value is not None else float("nan")


def _max_train_accuracy(r: RunResult) -> float:
    """The largest train accuracy along a run: running per-epoch or final full-set (Fig. 8, 9)."""
    final = r.summary.get("final_train_acc")
    values = [analysis.running_train_accuracy(r.history), np.nan if final is None else final]
    return float("nan") if np.isnan(values).all() else float(np.nanmax(values))


def per_run_table(grid: pd.DataFrame, results: list[RunResult], threshold: float) -> pd.DataFrame:
    """``grid`` (one row per run, in the order of ``results``, with ``sweep``, ``setting`` and
    ``seed``) joined with each run's Tr(F_i), when it was taken, and its accuracies in %.

    ``used``: finished and crossed ε (the runs every statistic reads). The matched train accuracy
    is the highest running train accuracy every finished run reached (one level for the table).
    """
    finished = [r for r in results if r.summary.get("status") == "finished"]
    level, matched = analysis.matched_test_accuracy(finished)
    at_level = dict(zip((id(r) for r in finished), matched, strict=True))
    rows = []
    for r in results:
        early = early_trace_fisher(r.history, threshold)
        s = r.summary
        ok = s.get("status") == "finished" and np.isfinite(early["trace_fisher_i"])
        rows.append(
            {
                "key": r.config.key(),
                "status": s.get("status"),
                "used": bool(ok),
                "Tr(F_i)": early["trace_fisher_i"],
                "crossing epoch": early["crossing_epoch"],
                "crossing step": early["crossing_step"],
                "Tr(F) lag (steps)": early["lag_steps"],
                "test acc at best val (%)": _pct(s.get("test_acc_at_best_val")),
                "best test acc (%)": 100 * analysis.best_test_along(r.history),
                "final test acc (%)": _pct(s.get("final_test_acc")),
                "test acc at matched train acc (%)": 100 * at_level.get(id(r), np.nan),
                "matched train acc (%)": 100 * level,
                "max train acc (%)": 100 * _max_train_accuracy(r),
                "final train acc (%)": _pct(s.get("final_train_acc")),
                "max Tr(F)": s.get("max_trace_fisher"),
                "epochs": s.get("epochs"),
            }
        )
    return pd.concat(
        [grid.reset_index(drop=True), pd.DataFrame(rows, columns=_PER_RUN_COLUMNS)], axis=1
    )


def excluded(per_run: pd.DataFrame) -> list[str]:
    """Each run left out of the statistics, named by setting and seed, with the reason: its
    status when it did not finish, else that its loss never went below ε."""
    out = []
    for r in per_run[~per_run.used].drop_duplicates("key").to_dict("records"):
        why = r["status"] if r["status"] != "finished" else "loss never below ε"
        out.append(f"{r['setting']} seed {r['seed']} ({why})")
    return out


def group_table(per_run: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (sweep, setting): the points and error bars of Fig. 2/7/8/9.
    ``runs`` counts every run of the setting, ``used`` those finished and crossed ε."""
    keys = ["sweep", "setting"]
    cols = ["Tr(F_i)", "test acc at best val (%)", "best test acc (%)", "max train acc (%)"]
    cols.append("crossing epoch")
    index = per_run.groupby(keys, sort=False).size().index
    g = per_run[per_run.used].groupby(keys, sort=False)
    mean, std = g[cols].mean().reindex(index), g[cols].std(ddof=1).reindex(index)
    out = pd.DataFrame(index=index)
    out["runs"] = per_run.groupby(keys, sort=False).size()
    out["used"] = g.size().reindex(index).fillna(0).astype(int)
    for c in cols:
        out[c], out[f"{c} std"] = mean[c], std[c]
    return out.reset_index()


def _subsets(per_run: pd.DataFrame) -> dict[str, pd.DataFrame]:
    used = per_run[per_run.used]
    subsets = {sweep: used[used.sweep == sweep] for sweep in (LR_SWEEP, BATCH_SWEEP)}
    subsets["all runs"] = used.drop_duplicates("key")  # a run shared by both sweeps counts once
    return {k: v for k, v in subsets.items() if len(v)}


def correlation_table(
    per_run: pd.DataFrame,
    accuracies: Mapping[str, str] = ACCURACIES,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Pearson and Spearman r of Tr(F_i) with each accuracy column over the used runs, per sweep
    and for all runs pooled, each with a hierarchical bootstrap CI (settings, then seeds); also
    Pearson r over the setting means (the figures' points; no CI from a handful of points)."""
    rows = []
    for subset, df in _subsets(per_run).items():
        for col, short in accuracies.items():
            ok = df[np.isfinite(df["Tr(F_i)"]) & np.isfinite(df[col])]
            x, y, settings = ok["Tr(F_i)"], ok[col], ok["setting"].to_numpy()
            means = ok.groupby("setting", sort=False)[["Tr(F_i)", col]].mean()
            row: dict[str, Any] = {
                "runs of": subset,
                "accuracy": short,
                "runs": len(ok),
                "settings": len(means),
            }
            for method in ("pearson", "spearman"):
                r = stats.correlation(
                    x, y, method=method, clusters=settings, n_boot=n_boot, seed=seed, level=level
                )
                row.update({method: r.estimate, f"{method} lo": r.lo, f"{method} hi": r.hi})
            row["pearson over setting means"] = stats.pearson(means["Tr(F_i)"], means[col])
            rows.append(row)
    return pd.DataFrame(rows)


def supplement_e_table(grid: pd.DataFrame, results: list[RunResult]) -> pd.DataFrame:
    """Supplement E's ``grid`` (one row per run, in the order of ``results``: ``arm``, ``lr``,
    ``batch size``, ``alpha``, ``seed``) joined with each run's numbers, accuracies in %."""
    rows = []
    for r in results:
        s = r.summary
        rows.append(
            {
                "status": s.get("status"),
                "max Tr(F)": s.get("max_trace_fisher"),
                "step of max Tr(F)": s.get("max_trace_fisher_step"),
                "best val acc (%)": _pct(s.get("best_val_acc")),
                "test acc at best val (%)": _pct(s.get("test_acc_at_best_val")),
                "best test acc (%)": 100 * analysis.best_test_along(r.history),
                "final train acc (%)": _pct(s.get("final_train_acc")),
            }
        )
    return pd.concat(
        [grid.reset_index(drop=True), pd.DataFrame(rows, columns=_SUPPLEMENT_COLUMNS)], axis=1
    )
