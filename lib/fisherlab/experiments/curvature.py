"""Notebook 06's tables: Tr(F_i) of the phase-1 runs, Tr(H_f) of their continuations, Fig. 14's
grid and the Tr(H)–Tr(F) pairs along trajectories (Section 5, Fig. 6, 13, 14; Supplement F, Fig.
21; Supplement B for Tr(H)).

Phase 1 trains one high- and one low-regularisation run from each phase-1 seed; Tr(F_i) is the
Tr(F) each measures at its end. Each phase-1 run is continued with several seeds under the low
setting: the continuations of one phase-1 run share its weights, so the phase-1 run, not the
continuation, is the independent unit (``phase-1 seed`` in the tables; ``fisherlab.stats``
resamples those clusters). Tr(H) is Hutchinson's estimate (``hessian_probes`` probes drawn from
``hessian_probe_dist``: Rademacher, or Gaussian as the paper's Supplement B; on the first
``batch_size`` probe examples with their true labels) at every evaluation.

- ``Tr(H_f)``: Tr(H) at the evaluation of best validation accuracy (the first, on ties; the
  continuation's starting point counts). The paper takes it at the best *test* accuracy, which
  selects on the test set; that reading is kept beside (``Tr(H) at best test``).
- Fit: continuations of the two starts can end at different training accuracies, and Tr(H)
  moves as a run fits. ``Tr(H) at matched train acc`` is Tr(H) at each continuation's first
  evaluation whose running train accuracy reached the highest level every finished continuation
  reached (``matched train acc (%)``), so "flatter" is not read off a less fitted run.

Tr(H) of the mean cross-entropy equals the exact Tr(F) on the same inputs for nets piecewise
linear in each parameter (the Gauss–Newton term is the Fisher, the other has a zero diagonal):
the Tr(H)–Tr(F) correlation is a consistency check for those nets, never a finding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fisherlab import analysis
from fisherlab.stats import interval, pearson, spearman
from fisherlab.training import RunResult

__all__ = [
    "HIGH",
    "LOW",
    "continuation_table",
    "curvature_at_best",
    "grid_means",
    "grid_table",
    "hessian_fisher_correlation",
    "hessian_fisher_pairs",
    "starts_table",
]

HIGH, LOW = "high regularisation", "low regularisation"
_START_COLUMNS = ["key", "status", "epochs", "Tr(F_i)", "Tr(H) at the end"]
_START_COLUMNS += ["final test acc (%)", "final train acc (%)"]
_CONTINUATION_COLUMNS = ["status", "Tr(H_f)", "epoch of best val", "Tr(H) at best test"]
_CONTINUATION_COLUMNS += ["test acc at best val (%)", "best test acc (%)", "final train acc (%)"]
_CONTINUATION_COLUMNS += ["max running train acc (%)", "matched train acc (%)"]
_CONTINUATION_COLUMNS += ["Tr(H) at matched train acc", "test acc at matched train acc (%)"]
_GRID_COLUMNS = ["status", "test acc at best val (%)", "best test acc (%)", "min train loss"]
_GRID_COLUMNS += ["first Tr(H)", "final Tr(H)"]


def _series(history: pd.DataFrame, metric: str) -> pd.Series:
    h = history[history.metric == metric].sort_values("step")
    return pd.Series(h.value.to_numpy(), index=h.step.to_numpy(), dtype=float)


def _at(series: pd.Series, step: float) -> float:
    return float(series[step]) if step in series.index else float("nan")


def _pct(value: float | None) -> float:
    return 100 * value if value is not None else float("nan")


def curvature_at_best(history: pd.DataFrame) -> dict[str, float]:
    """Tr(H) at the evaluation of best validation accuracy (``trace_hessian_f``, its ``step``
    and ``epoch``) and at the best intermediate test accuracy (``trace_hessian_at_best_test``,
    the paper's reading); the first maximum on ties, NaN where not measured."""
    nan = float("nan")
    out = dict.fromkeys(("trace_hessian_f", "step", "epoch", "trace_hessian_at_best_test"), nan)
    hessian = _series(history, "trace_hessian")
    val = _series(history, "val_acc")
    if len(val):
        step = val.idxmax()
        epochs = history[(history.metric == "val_acc") & (history.step == step)].epoch
        out.update(trace_hessian_f=_at(hessian, step), step=float(step))
        out["epoch"] = float(epochs.iloc[0])
    test = _series(history, "test_subset_acc")
    test = test if len(test) else _series(history, "test_acc")
    if len(test):
        out["trace_hessian_at_best_test"] = _at(hessian, test.idxmax())
    return out


def starts_table(grid: pd.DataFrame, results: list[RunResult]) -> pd.DataFrame:
    """``grid`` (one row per phase-1 run, in the order of ``results``) joined with its status,
    length, Tr(F_i) (its last Tr(F)), Tr(H) at its end and accuracies (%)."""
    rows = []
    for r in results:
        s = r.summary
        hessian = _series(r.history, "trace_hessian")
        rows.append(
            {
                "key": r.config.key(),
                "status": s.get("status"),
                "epochs": s.get("epochs"),
                "Tr(F_i)": s.get("final_trace_fisher") or np.nan,
                "Tr(H) at the end": float(hessian.iloc[-1]) if len(hessian) else np.nan,
                "final test acc (%)": _pct(s.get("final_test_acc")),
                "final train acc (%)": _pct(s.get("final_train_acc")),
            }
        )
    return pd.concat(
        [grid.reset_index(drop=True), pd.DataFrame(rows, columns=_START_COLUMNS)], axis=1
    )


def continuation_table(grid: pd.DataFrame, results: list[RunResult]) -> pd.DataFrame:
    """``grid`` (one row per continuation, in the order of ``results``: ``start``, ``phase-1
    seed``, ``seed``, ``Tr(F_i) of start``) joined with Tr(H_f), Tr(H) at best test and at
    matched train accuracy, and the accuracies (%) — see the module docstring."""
    finished = [r for r in results if r.summary.get("status") == "finished"]
    level, matched = analysis.matched_test_accuracy(finished)
    at_level = dict(zip((id(r) for r in finished), matched, strict=True))
    rows = []
    for r in results:
        s = r.summary
        best = curvature_at_best(r.history)
        rows.append(
            {
                "status": s.get("status"),
                "Tr(H_f)": best["trace_hessian_f"],
                "epoch of best val": best["epoch"],
                "Tr(H) at best test": best["trace_hessian_at_best_test"],
                "test acc at best val (%)": _pct(s.get("test_acc_at_best_val")),
                "best test acc (%)": 100 * analysis.best_test_along(r.history),
                "final train acc (%)": _pct(s.get("final_train_acc")),
                "max running train acc (%)": 100 * analysis.running_train_accuracy(r.history),
                "matched train acc (%)": 100 * level,
                "Tr(H) at matched train acc": (
                    analysis.at_train_accuracy(r.history, "trace_hessian", level)
                    if id(r) in at_level
                    else np.nan
                ),
                "test acc at matched train acc (%)": 100 * at_level.get(id(r), np.nan),
            }
        )
    return pd.concat(
        [grid.reset_index(drop=True), pd.DataFrame(rows, columns=_CONTINUATION_COLUMNS)], axis=1
    )


def grid_table(grid: pd.DataFrame, results: list[RunResult]) -> pd.DataFrame:
    """Fig. 14's runs: ``grid`` (one row per run: ``group``, the grid value, ``seed``…) joined
    with the legend's numbers — minimum logged train loss ℓ, best test accuracy TA along the
    run — the test accuracy at the best validation point, and Tr(H) at the first evaluation
    after the start and at the end."""
    rows = []
    for r in results:
        h = _series(r.history, "trace_hessian")
        loss = _series(r.history, "train_loss")
        rows.append(
            {
                "status": r.summary.get("status"),
                "test acc at best val (%)": _pct(r.summary.get("test_acc_at_best_val")),
                "best test acc (%)": 100 * analysis.best_test_along(r.history),
                "min train loss": float(loss.min()) if len(loss) else np.nan,
                "first Tr(H)": float(h[h.index > 0].iloc[0]) if (h.index > 0).any() else np.nan,
                "final Tr(H)": float(h.iloc[-1]) if len(h) else np.nan,
            }
        )
    return pd.concat(
        [grid.reset_index(drop=True), pd.DataFrame(rows, columns=_GRID_COLUMNS)], axis=1
    )


def grid_means(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Means over the finished seeds of each grid value (``by``: e.g. group and lr) of
    :func:`grid_table`'s numbers; ``runs`` counts every run, ``used`` the finished ones."""
    cols = ["min train loss", "best test acc (%)", "test acc at best val (%)"]
    cols += ["first Tr(H)", "final Tr(H)"]
    index = table.groupby(by, sort=False).size().index
    ok = table[table.status == "finished"].groupby(by, sort=False)
    out = ok[cols].mean().reindex(index)
    out.insert(0, "used", ok.size().reindex(index).fillna(0).astype(int))
    out.insert(0, "runs", table.groupby(by, sort=False).size())
    return out.reset_index()


def hessian_fisher_pairs(history: pd.DataFrame) -> pd.DataFrame:
    """(run, step, epoch, Tr(H), Tr(F)) at every Tr(H) measurement, Tr(F) taken from the nearest
    Tr(F) measurement of the same run (``step gap`` records how far it was; 0 when the two
    schedules coincide)."""
    parts = []
    for run, h in history.groupby("run", sort=False):
        th = h[h.metric == "trace_hessian"][["step", "epoch", "value"]].sort_values("step")
        tf = h[h.metric == "trace_fisher"][["step", "value"]].sort_values("step")
        if not len(th) or not len(tf):
            continue
        tf = tf.assign(fisher_step=tf.step)
        m = pd.merge_asof(th, tf, on="step", direction="nearest", suffixes=("_h", "_f"))
        parts.append(
            pd.DataFrame(
                {
                    "run": run,
                    "step": m.step,
                    "epoch": m.epoch,
                    "Tr(H)": m.value_h,
                    "Tr(F)": m.value_f,
                    "step gap": (m.fisher_step - m.step).abs(),
                }
            )
        )
    cols = ["run", "step", "epoch", "Tr(H)", "Tr(F)", "step gap"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def hessian_fisher_correlation(
    pairs: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """Pearson (raw and log-log) and Spearman of Tr(H) with Tr(F) over all points of all
    trajectories, CIs from a bootstrap that resamples whole runs (points of one run are not
    independent); the median per-run Pearson, and the median Tr(H)/Tr(F) (≈ 1 where the two are
    the same quantity, see the module docstring)."""
    pairs = pairs.astype({"Tr(H)": float, "Tr(F)": float})
    ok = pairs[np.isfinite(pairs["Tr(H)"]) & np.isfinite(pairs["Tr(F)"])]
    runs = list(dict.fromkeys(ok.run))
    by_run = {r: ok[ok.run == r] for r in runs}
    x_all, y_all = ok["Tr(F)"].to_numpy(float), ok["Tr(H)"].to_numpy(float)
    positive = (x_all > 0) & (y_all > 0)

    def log_pearson(x: np.ndarray, y: np.ndarray) -> float:
        keep = (x > 0) & (y > 0)
        return pearson(np.log(x[keep]), np.log(y[keep]))

    stats = {"pearson": pearson, "pearson_log": log_pearson, "spearman": spearman}
    out: dict[str, Any] = {"points": len(ok), "runs": len(runs)}
    rng = np.random.default_rng(seed)
    reps: dict[str, list[float]] = {k: [] for k in stats}
    if len(runs) >= 2:
        for _ in range(n_boot):
            pick = rng.choice(len(runs), size=len(runs), replace=True)
            sample = pd.concat([by_run[runs[i]] for i in pick])
            x, y = sample["Tr(F)"].to_numpy(float), sample["Tr(H)"].to_numpy(float)
            for k, f in stats.items():
                reps[k].append(f(x, y))
    for k, f in stats.items():
        out[k] = f(x_all, y_all)
        r = np.asarray(reps[k], dtype=float)
        out[f"{k}_ci"] = list(interval(r[np.isfinite(r)], level))
    per_run = [pearson(d["Tr(F)"], d["Tr(H)"]) for d in by_run.values()]
    per_run = [v for v in per_run if np.isfinite(v)]
    out["median_per_run_pearson"] = float(np.median(per_run)) if per_run else np.nan
    out["ratio_tr_h_over_tr_f"] = (
        float(np.median(y_all[positive] / x_all[positive])) if positive.any() else np.nan
    )
    return out
