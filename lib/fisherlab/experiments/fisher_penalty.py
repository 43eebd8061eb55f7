"""Notebook 03's tables: per-run rows, search picks, method means and comparisons over runs.

Section 4 of the paper (Table 1; Tables 2, 4-6; Supplement C). The notebook writes out its runs
(config grids as DataFrames), trains them with ``P.sweep`` and passes the grid and the results
here. Every function is a pure function of those tables: runs whose status is not "finished"
never feed a pick, a mean or a CI; they are returned by name instead (``left out``). Accuracies
are in percent, as ``params/claims.yaml`` reads them; test accuracy is read at the best
validation point or at the end, never as the maximum over test evaluations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fisherlab import analysis, reference, stats
from fisherlab.training import RunResult

__all__ = [
    "COMPARISON_COLUMNS",
    "MATCHED",
    "alpha_grid",
    "compare",
    "fisher_batch_table",
    "left_out",
    "matched_level",
    "method_table",
    "pick_by_validation",
    "run_rows",
]

MATCHED = "test acc at matched train acc"  # the per-run column params/claims.yaml reads
COMPARISON_COLUMNS = [  # one row of :func:`compare`
    "a",
    "b",
    "value",
    "statistic",
    "estimate",
    "lo",
    "hi",
    "runs a",
    "runs b",
    "left out",
]
_SUMMARY = {  # summary key → per-run column (accuracies × 100)
    "status": "status",
    "steps": "steps",
    "best_val_acc": "best val acc",
    "test_acc_at_best_val": "test acc at best val",
    "final_test_acc": "final test acc",
    "final_train_acc": "final train acc",
    "max_trace_fisher": "max Tr(F)",
    "train_time_per_epoch_s": "train time per epoch (s)",
}


def alpha_grid(v: float, points: int) -> list[float]:
    """``points`` values log-spaced from 0.1·v to 10·v (Section 4, I.2: 10 points in the paper);
    one point is v itself."""
    if points == 1:
        return [float(v)]
    return [float(a) for a in np.logspace(np.log10(0.1 * v), np.log10(10 * v), points)]


def _test_at_train_level(history: pd.DataFrame, level: float) -> float:
    """Test accuracy (fraction) at a run's first evaluation whose running train accuracy (logged
    at the same step, an epoch's end) reached ``level``; NaN if it never did. Intermediate test
    evaluations are on the fixed subset where the run has ``test_subset``."""
    metric = "test_subset_acc" if (history.metric == "test_subset_acc").any() else "test_acc"
    train = history[history.metric == "epoch_train_acc"][["step", "value"]]
    test = history[history.metric == metric][["step", "value"]]
    pairs = train.merge(test, on="step", suffixes=("_train", "_test")).sort_values("step")
    hit = pairs[pairs.value_train >= level - 1e-9]
    return float(hit.value_test.iloc[0]) if len(hit) else np.nan


def matched_level(results: Sequence[RunResult]) -> float:
    """The highest running training accuracy (fraction) every finished run of ``results``
    reached: the level at which their test accuracies are compared when an arm did not fit."""
    level, _ = analysis.matched_test_accuracy(list(results))
    return level


def run_rows(
    grid: pd.DataFrame, results: Sequence[RunResult], *, matched: float | None = None
) -> pd.DataFrame:
    """``grid`` (one row per run, in the order of ``results``) with each run's numbers:
    status, steps, best validation accuracy, test accuracy at the best validation point and at
    the end, final train accuracy (all in %), max Tr(F), train time per epoch; with ``matched``
    (a train-accuracy level, fraction) also each run's test accuracy at the first evaluation
    where its running train accuracy reached it (``MATCHED``, %; NaN if it never did)."""
    if len(grid) != len(results):
        raise ValueError(f"grid has {len(grid)} rows for {len(results)} runs")
    rows = []
    for r in results:
        s = r.summary
        row: dict[str, Any] = {col: s.get(key) for key, col in _SUMMARY.items()}
        for col in ("best val acc", "test acc at best val", "final test acc", "final train acc"):
            row[col] = 100 * row[col] if row[col] is not None else np.nan
        if matched is not None:
            ok = s.get("status") == "finished" and np.isfinite(matched)
            row[MATCHED] = 100 * _test_at_train_level(r.history, matched) if ok else np.nan
        rows.append(row)
    return pd.concat([grid.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


def left_out(table: pd.DataFrame, name: Sequence[str]) -> list[str]:
    """'<the ``name`` columns> (status)' for every run that did not finish."""
    return analysis.not_finished(table, list(name))


def pick_by_validation(table: pd.DataFrame, key: str, what: str) -> tuple[float, str]:
    """(the ``key`` value of the finished run with the highest best validation accuracy, a
    sentence saying why: its accuracy, the runner-up's, and the runs left out). Raises
    ``RuntimeError`` naming ``what`` when no run of the search finished."""
    ok = table[table.status == "finished"].sort_values("best val acc", ascending=False)
    if not len(ok):
        raise RuntimeError(f"no run of the {what} finished: {', '.join(table.status)}")
    best = ok.iloc[0]
    why = f"{what}: {key} = {best[key]:.4g}, best validation accuracy {best['best val acc']:.1f}%"
    if len(ok) > 1:
        second = ok.iloc[1]
        why += f" (next: {key} = {second[key]:.4g} at {second['best val acc']:.1f}%)"
    else:
        why += " (the only finished run)"
    dropped = left_out(table, [key])
    if dropped:
        why += f"; left out: {', '.join(f'{key} = {d}' for d in dropped)}"
    return float(best[key]), why + "."


_METRICS = (
    "test acc at best val",
    "final test acc",
    "final train acc",
    "max Tr(F)",
    "train time per epoch (s)",
)


def method_table(per_run: pd.DataFrame, setting: str | None, arm: str = "method") -> pd.DataFrame:
    """Per arm, over its finished runs: n, mean and std of the Table 1, 4, 5, 6 numbers, the
    runs left out, and the paper's numbers for ``setting`` as labelled reference columns."""
    ok = per_run[per_run.status == "finished"]
    arms = list(dict.fromkeys(per_run[arm]))
    g = ok.groupby(arm, sort=False)[list(_METRICS)]
    mean, std = g.mean().reindex(arms), g.std(ddof=1).reindex(arms)
    out = pd.DataFrame({arm: arms})
    out["runs"] = [int((ok[arm] == a).sum()) for a in arms]
    out["left out"] = [
        ", ".join(left_out(per_run[per_run[arm] == a], ["seed"])) or "" for a in arms
    ]
    for col in _METRICS:
        out[col] = mean[col].to_numpy()
        out[f"{col} ± (std)"] = std[col].to_numpy()
    refs = {
        "paper Table 1 test acc (%)": reference.TABLE1,
        "paper Table 4 max Tr(F)": reference.TABLE4_MAX_TRACE_FISHER,
        "paper Table 5 s/epoch (GPU)": reference.TABLE5_SECONDS_PER_EPOCH,
        "paper Table 6 final train acc (%)": reference.TABLE6_FINAL_TRAIN_ACC,
    }
    for name, table in refs.items():
        col = reference.reference_column(table, setting)
        out[name] = [col.get(a, np.nan) for a in arms]
    return out


def compare(
    per_run: pd.DataFrame,
    a: str,
    b: str,
    value: str,
    *,
    arm: str = "method",
    statistic: str = "difference",
    level: float = 0.95,
) -> dict[str, Any]:
    """Arm ``a`` against arm ``b`` on ``value`` over their finished runs with a finite value:
    mean(a) − mean(b) (``difference``) or mean(a) / mean(b) (``ratio``, CI on the log scale),
    with a percentile-bootstrap CI resampling whole runs (``fisherlab.stats``; none with fewer
    than 2 runs per arm). The runs left out are named."""
    fns = {"difference": stats.difference_of_means, "ratio": stats.ratio_of_means}
    if statistic not in fns:
        raise ValueError(f"statistic={statistic!r} is not valid; accepted values: {list(fns)}")
    arms, dropped = {}, []
    for key in (a, b):
        rows = per_run[per_run[arm] == key]
        usable = (rows.status == "finished") & np.isfinite(rows[value].astype(float))
        arms[key] = rows.loc[usable, value].astype(float).to_numpy()
        dropped += [
            f"{key} seed {r.seed} ({r.status if r.status != 'finished' else 'no value'})"
            for r in rows[~usable].itertuples()
        ]
    est = fns[statistic](arms[a], arms[b], level=level)
    return {
        "a": a,
        "b": b,
        "value": value,
        "statistic": statistic,
        "estimate": est.estimate,
        "lo": est.lo,
        "hi": est.hi,
        "runs a": len(arms[a]),
        "runs b": len(arms[b]),
        "left out": ", ".join(dropped),
    }


def fisher_batch_table(results: dict[str, RunResult], batch_size: int) -> pd.DataFrame:
    """Per run: how Tr(F^B) (the squared norm of the mean gradient over ``batch_size`` probe
    examples, labels drawn from the model) tracks Tr(F) along training (Supplement C, Fig. 15) —
    Pearson and Spearman correlation over the measurement steps, and the mean of
    Tr(F)/Tr(F^B) against ``batch_size``. A consistency check: E[Tr(F^B)] = Tr(F)/B holds by
    construction on the same probe, so the ratio is ≈ B and the two must move together."""
    rows = []
    for run, r in results.items():
        h = r.history
        f = h[h.metric == "trace_fisher"].set_index("step").value
        fb = h[h.metric == "trace_fisher_batch"].set_index("step").value
        both = pd.concat([f, fb], axis=1, keys=["f", "fb"]).dropna()
        both = both[(both.fb > 0) & np.isfinite(both.f)]
        ratio = float((both.f / both.fb).mean()) if len(both) else np.nan
        rows.append(
            {
                "run": run,
                "status": r.summary.get("status"),
                "points": len(both),
                "pearson": stats.pearson(both.f, both.fb),
                "spearman": stats.spearman(both.f, both.fb),
                "mean Tr(F)/Tr(F^B)": ratio,
                "ratio / B": ratio / batch_size,
            }
        )
    return pd.DataFrame(rows)
