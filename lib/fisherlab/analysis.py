"""Tables every notebook builds from its runs: tidy histories, per-run summaries, comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fisherlab.training import RunResult

__all__ = [
    "accuracy_at_matched_train_accuracy",
    "early_max",
    "per_run_table",
    "summary_table",
    "tidy_history",
]


def tidy_history(results: dict[str, RunResult]) -> pd.DataFrame:
    """All runs' histories in one tidy frame with a ``run`` column (the dict's labels)."""
    return pd.concat(
        [r.history.assign(run=label) for label, r in results.items()], ignore_index=True
    )


SUMMARY_COLUMNS = {
    "lr": "lr",
    "status": "status",
    "max_trace_fisher": "max Tr(F)",
    "max_trace_fisher_epoch": "epoch of max Tr(F)",
    "best_val_acc": "best val acc",
    "test_acc_at_best_val": "test acc at best val",
    "best_test_acc": "best test acc",
    "final_test_acc": "final test acc",
    "final_train_acc": "final train acc",
    "epochs": "epochs",
    "wall_time_s": "wall time (s)",
    "time_per_epoch_s": "time per epoch (s)",
    "train_time_per_epoch_s": "train time per epoch (s)",
}


def summary_table(results: dict[str, RunResult]) -> pd.DataFrame:
    """One row per run with the numbers of the paper's tables (accuracies as fractions)."""
    rows = []
    for label, r in results.items():
        s = dict(r.summary)
        s["lr"] = r.config.lr
        step = s.get("max_trace_fisher_step")
        spe = s.get("steps_per_epoch") or 1
        s["max_trace_fisher_epoch"] = None if step is None else step / spe
        rows.append({"run": label, **{name: s.get(k) for k, name in SUMMARY_COLUMNS.items()}})
    return pd.DataFrame(rows)


def early_max(history: pd.DataFrame, until_step: int, metric: str = "trace_fisher") -> float:
    """Max of ``metric`` over steps ≤ ``until_step``: the early-phase value (Section 2's
    explosion is an early-phase statement; the whole-run max can come at the end)."""
    s = history[(history.metric == metric) & (history.step <= until_step)].value
    return float(s.max()) if len(s) else float("nan")


def per_run_table(
    grid: pd.DataFrame, results: list[RunResult], *, early_until: int
) -> pd.DataFrame:
    """``grid`` (one row per run, in the order of ``results``) joined with each run's summary
    numbers and its early-phase max Tr(F). Accuracies as fractions."""
    table = summary_table({str(i): r for i, r in enumerate(results)}).drop(columns=["run", "lr"])
    table["early max Tr(F)"] = [early_max(r.history, early_until) for r in results]
    return pd.concat([grid.reset_index(drop=True), table], axis=1)


def _train_test_pairs(history: pd.DataFrame) -> pd.DataFrame:
    """(train acc, test acc) at each evaluation that coincides with an epoch's end."""
    train = history[history.metric == "epoch_train_acc"][["step", "value"]]
    test = history[history.metric == "test_acc"][["step", "value"]]
    return train.merge(test, on="step", suffixes=("_train", "_test")).sort_values("step")


def accuracy_at_matched_train_accuracy(
    history: pd.DataFrame, levels: list[float] | None = None
) -> pd.DataFrame:
    """Test accuracy of each run at the first evaluation where its running training accuracy
    reached each level — the comparison that separates a generalisation gap from a fitting gap
    (calibration round 8). Levels default to 5 steps up to the lowest run's best train accuracy.
    """
    pairs = {run: _train_test_pairs(h) for run, h in history.groupby("run", sort=False)}
    pairs = {k: v for k, v in pairs.items() if len(v)}
    if not pairs:
        return pd.DataFrame(columns=["train_acc_level"])
    reach = min(float(p.value_train.max()) for p in pairs.values())
    if levels is None:
        start = min(float(p.value_train.iloc[0]) for p in pairs.values())
        levels = list(np.round(np.linspace(max(start, 0.3), reach, 5), 3))
    rows = []
    for level in levels:
        row: dict[str, float | None] = {"train_acc_level": level}
        for run, p in pairs.items():
            hit = p[p.value_train >= level - 1e-9]
            row[run] = float(hit.value_test.iloc[0]) if len(hit) else None
        rows.append(row)
    return pd.DataFrame(rows)


# -- added for notebooks 04 and 05 ----------------------------------------------------------------

__all__ += ["as_percent", "matched_test_accuracy", "not_finished"]


def as_percent(table: pd.DataFrame) -> pd.DataFrame:
    """The accuracy columns (numeric, ``acc`` in the name) × 100: the per-run tables the scorecard
    reads are in percent (params/claims.yaml)."""
    out = table.copy()
    for c in out.columns:
        if "acc" in c and pd.api.types.is_numeric_dtype(out[c]):
            out[c] = 100 * out[c]
    return out


def matched_test_accuracy(results: list[RunResult]) -> tuple[float, list[float]]:
    """(level, each run's test accuracy at its first evaluation whose running training accuracy
    reached ``level``), ``level`` being the highest one every finished run reached — the per-run
    form of :func:`accuracy_at_matched_train_accuracy`. Reads the intermediate test evaluations on
    the fixed subset where runs have ``test_subset``. NaN for a run that did not finish (it does
    not set the level either) or has no evaluations."""
    pairs = []
    for r in results:
        h = r.history if r.summary.get("status") == "finished" else r.history.iloc[:0]
        metric = "test_subset_acc" if (h.metric == "test_subset_acc").any() else "test_acc"
        train = h[h.metric == "epoch_train_acc"][["step", "value"]]
        test = h[h.metric == metric][["step", "value"]]
        pairs.append(train.merge(test, on="step", suffixes=("_train", "_test")))
    reached = [float(p.value_train.max()) for p in pairs if len(p)]
    if not reached:
        return float("nan"), [float("nan")] * len(results)
    level = min(reached)
    values = []
    for p in pairs:
        hit = p[p.value_train >= level - 1e-9].sort_values("step")
        values.append(float(hit.value_test.iloc[0]) if len(hit) else float("nan"))
    return level, values


def not_finished(per_run: pd.DataFrame, name: list[str]) -> list[str]:
    """'<the ``name`` columns' values> (status)' for every run whose status is not "finished":
    the runs a notebook leaves out of its statistics and names instead."""
    bad = per_run[per_run.status != "finished"]
    return [" ".join(str(r[c]) for c in name) + f" ({r['status']})" for r in bad.to_dict("records")]


# -- added for notebooks 02 and 06 ----------------------------------------------------------------

__all__ += ["at_train_accuracy", "best_test_along", "running_train_accuracy"]


def best_test_along(history: pd.DataFrame) -> float:
    """The highest intermediate test accuracy of a run (the paper's "best test accuracy along the
    trajectory", Fig. 2, 7, 14): on the fixed test subset where the run has ``test_subset``,
    else on the full test set. It selects on the test set: shown beside, never judged."""
    metric = "test_subset_acc" if (history.metric == "test_subset_acc").any() else "test_acc"
    acc = history[history.metric == metric].value
    return float(acc.max()) if len(acc) else float("nan")


def running_train_accuracy(history: pd.DataFrame) -> float:
    """The highest running (per-epoch) training accuracy a run logged: how far it fitted."""
    acc = history[history.metric == "epoch_train_acc"].value
    return float(acc.max()) if len(acc) else float("nan")


def at_train_accuracy(history: pd.DataFrame, metric: str, level: float) -> float:
    """``metric`` at the run's first evaluation whose running training accuracy (logged at the
    same step, an epoch's end) reached ``level``; NaN when it never did or ``metric`` was not
    measured there. With :func:`matched_test_accuracy`'s level, e.g. Tr(H) at matched fit."""
    train = history[history.metric == "epoch_train_acc"][["step", "value"]]
    values = history[history.metric == metric][["step", "value"]]
    pairs = train.merge(values, on="step", suffixes=("_train", "_metric")).sort_values("step")
    hit = pairs[pairs.value_train >= level - 1e-9]
    return float(hit.value_metric.iloc[0]) if len(hit) else float("nan")
