"""Notebook 05's tables: label noise, the coefficient chosen per method, Tables 3/8/9 and the
memorisation statistics (Section 4.1, Supplement H; Tables 3, 8, 9; Fig. 5, 11, 12).

Protocol (Section 4.1, Supplement I.3): a fraction of the training labels is redrawn uniformly
(``fisherlab.data.label_noise``: a redrawn label may equal the original, so about
fraction·(1 − 1/C) change); each run draws its own noise from its seed (data option
``label_noise_seed``), so seeds replicate the noise as well as the initialisation. Each method's
coefficient grid (mixup's β of Beta(β, β), the penalties' α) is searched at the first seed and
the coefficient of best validation accuracy is kept (:func:`choose`); it then runs at every seed.
Table 3 is test accuracy at the best validation point; Tables 8/9 the final training accuracy
on the clean / noisy examples. The training loop tracks, on fixed probes of clean and of noisy
examples, their mini-batch gradient norms, the ratio ‖g_c‖/‖g_n‖ and the cosine of g_c and g_n
(Fig. 5, 12). Everything here is a pure function of run results and tables; runs whose status is
not "finished" never feed a choice, a mean or a statistic (the notebook names them).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from fisherlab import reference, stats
from fisherlab.analysis import as_percent, summary_table
from fisherlab.data import load_splits
from fisherlab.methods import METHODS
from fisherlab.notebook import NotebookParams
from fisherlab.training import RunResult

__all__ = [
    "REFERENCES",
    "TRACKED",
    "choose",
    "describe",
    "effects",
    "level_name",
    "method_table",
    "noise_report",
    "paper_value",
    "per_run_table",
    "tracked_curves",
    "wide_table",
]

METHOD_ORDER = ("baseline", "mixup", "gpx", "fp", "gpr")  # Table 3's column order
TRACKED = (
    "train_acc_clean",
    "train_acc_noisy",
    "grad_norm_clean",
    "grad_norm_noisy",
    "grad_norm_ratio_clean_noisy",
    "grad_cos_clean_noisy",
    "val_acc",
)
RATIO, COSINE = "grad-norm ratio clean/noisy (mean)", "early cosine (mean)"
DROP = "clean minus noisy train acc"  # per run: final train acc clean − noisy (points)
REFERENCES = {
    "test acc at best val": reference.TABLE3_LABEL_NOISE_TEST_ACC,
    "final train acc clean": reference.TABLE8_FINAL_TRAIN_ACC_CLEAN,
    "final train acc noisy": reference.TABLE9_FINAL_TRAIN_ACC_NOISY,
}


def level_name(noise: float) -> str:
    """0.25 → '25' (for keys and file names)."""
    return f"{100 * noise:g}".replace(".", "_")


def noise_report(p: NotebookParams, seeds: list[int]) -> pd.DataFrame:
    """Per noise level and seed: the training labels redrawn and the fraction that changed, from
    the same splits the runs load (the draw follows ``label_noise_seed``, here each seed)."""
    rows = []
    for noise in p["noise_levels"]:
        for seed in seeds:
            data = load_splits(
                p["dataset"],
                p["data_root"],
                val_size=p["val_size"],
                subset=p["subset"],
                label_noise_fraction=float(noise),
                device="cpu",
                data_options={**p["data_options"], "label_noise_seed": seed},
            )
            n, c = len(data.train_labels), data.num_classes
            changed = int(data.noise_mask.sum())
            rows.append(
                {
                    "noise level": float(noise),
                    "seed": seed,
                    "train examples": n,
                    "classes": c,
                    "relabelled": round(noise * n),
                    "changed": changed,
                    "realised fraction": changed / n,
                    "expected fraction": noise * (1 - 1 / c),
                }
            )
    return pd.DataFrame(rows)


def _tracked_numbers(history: pd.DataFrame, early_until: int) -> dict[str, float]:
    """One run's clean/noisy summaries: the mean and min cosine over the early phase (steps
    1…``early_until``: the first measurement, before any step, is left out), the mean and final
    gradient-norm ratio over the run, and the final cosine."""

    def s(metric: str) -> pd.Series:
        h = history[history.metric == metric]
        return h.sort_values("step").set_index("step").value

    cos, ratio = s("grad_cos_clean_noisy"), s("grad_norm_ratio_clean_noisy")
    early = cos[(cos.index > 0) & (cos.index <= early_until)]

    def agg(x: pd.Series, how: str) -> float:
        return float(getattr(x, how)()) if len(x) else math.nan

    return {
        "measurements": len(cos),
        COSINE: agg(early, "mean"),
        "early cosine (min)": agg(early, "min"),
        "final cosine": float(cos.iloc[-1]) if len(cos) else math.nan,
        RATIO: agg(ratio, "mean"),
        "final grad-norm ratio clean/noisy": float(ratio.iloc[-1]) if len(ratio) else math.nan,
    }


def per_run_table(
    grid: pd.DataFrame, results: list[RunResult], *, early_until: int
) -> pd.DataFrame:
    """``grid`` (one row per run, in the order of ``results``: noise level, method, coefficient,
    seed, …) joined with each run's summary numbers (accuracies in %), its final training
    accuracy on the clean and on the noisy examples and their difference (``DROP``), and its
    clean/noisy gradient summaries (:func:`_tracked_numbers`)."""
    table = as_percent(summary_table({str(i): r for i, r in enumerate(results)}))
    table = table.drop(columns=["run", "lr"])
    for k in ("clean", "noisy"):
        v = [r.summary.get(f"final_train_acc_{k}") for r in results]
        table[f"final train acc {k}"] = [100 * x if x is not None else math.nan for x in v]
    table[DROP] = table["final train acc clean"] - table["final train acc noisy"]
    tracked = pd.DataFrame([_tracked_numbers(r.history, early_until) for r in results])
    return pd.concat([grid.reset_index(drop=True), table, tracked], axis=1)


def choose(search: pd.DataFrame) -> pd.DataFrame:
    """Per (noise level, method): the coefficient of best validation accuracy among the finished
    runs of its grid (the first on a tie), the runner-up and how many runs finished; NaN where
    none did."""
    rows = []
    for (noise, method), g in search.groupby(["noise level", "method"], sort=False):
        ok = g[(g.status == "finished") & g["best val acc"].notna()]
        ok = ok.sort_values("best val acc", ascending=False, kind="stable")
        best = ok.iloc[0] if len(ok) else None
        second = ok.iloc[1] if len(ok) > 1 else None
        rows.append(
            {
                "noise level": noise,
                "method": method,
                "coefficient": best["coefficient"] if best is not None else math.nan,
                "best val acc": best["best val acc"] if best is not None else math.nan,
                "runner-up": second["coefficient"] if second is not None else math.nan,
                "runner-up val acc": second["best val acc"] if second is not None else math.nan,
                "finished": len(ok),
                "grid size": len(g),
            }
        )
    return pd.DataFrame(rows)


def paper_value(
    table: dict[str, dict[float, dict[str, float]]], setting: str | None, noise: float, method: str
) -> float:
    """The paper's number for (setting, noise level, method), NaN when the paper has none."""
    for level, row in table.get(setting or "", {}).items():
        if math.isclose(level, noise):
            return float(row.get(method, math.nan))
    return math.nan


def _selected(per_run: pd.DataFrame) -> pd.DataFrame:
    return per_run[per_run.selected & (per_run.status == "finished")]


def method_table(per_run: pd.DataFrame, value: str, setting: str | None = None) -> pd.DataFrame:
    """Per (noise level, method), over the finished runs of the chosen coefficient: ``value``'s
    mean, std and number of runs, with the paper's number for ``setting`` (Tables 3, 8, 9) as a
    labelled reference column where it has one."""
    rows = []
    for (noise, method), g in _selected(per_run).groupby(["noise level", "method"], sort=True):
        v = g[value].astype(float)
        row = {"noise level": noise, "method": method, "coefficient": g.coefficient.iloc[0]}
        row |= {"runs": len(v), "mean": v.mean(), "std": v.std(ddof=1) if len(v) > 1 else math.nan}
        if value in REFERENCES:
            row["paper"] = paper_value(REFERENCES[value], setting, noise, method)
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        order = {m: i for i, m in enumerate(METHOD_ORDER)}
        out = out.sort_values(["noise level", "method"], key=lambda c: c.map(order).fillna(c))
    return out.reset_index(drop=True)


def wide_table(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`method_table` in the paper's layout: one row per noise level, the methods' means
    as columns (Table 3's order), then the paper's as ``paper <method>``."""
    out = table.pivot(index="noise level", columns="method", values="mean")
    out = out[[m for m in METHOD_ORDER if m in out.columns]]
    if "paper" in table:
        ref = table.pivot(index="noise level", columns="method", values="paper")
        for m in list(out.columns):
            out[f"paper {m}"] = ref[m]
    out.columns.name = None
    return out.reset_index()


STATISTICS = {  # key → (per-run column, what it says)
    "drop": (DROP, "clean minus noisy final train accuracy, method minus baseline (points)"),
    "test": ("test acc at best val", "test accuracy at the best validation point (points)"),
    "ratio": (RATIO, "mean ‖g_c‖/‖g_n‖ along training, method minus baseline"),
    "cosine": (COSINE, "mean early cos(g_c, g_n), method minus baseline"),
}


def effects(per_run: pd.DataFrame, noise: float) -> pd.DataFrame:
    """At one noise level, every method's chosen runs against the baseline's, for each statistic
    of ``STATISTICS``: the difference of means over runs with its 95% bootstrap CI (each arm's
    finished runs resampled whole), the two means and the runs per arm. ``drop`` is the
    memorisation claim (FP lowers the noisy examples' training accuracy more than the clean
    ones': positive), ``ratio`` Fig. 5's (toward 1: positive while ‖g_c‖ < ‖g_n‖), ``cosine``
    Fig. 12's (more negative: negative)."""
    sel = _selected(per_run)
    sel = sel[np.isclose(sel["noise level"], noise)]
    base = sel[sel.method == "baseline"]
    rows = []
    for method in [m for m in METHOD_ORDER if m != "baseline" and m in set(sel.method)]:
        arm = sel[sel.method == method]
        for key, (col, what) in STATISTICS.items():
            a, b = arm[col].astype(float).dropna(), base[col].astype(float).dropna()
            d = stats.difference_of_means(a, b)
            rows.append(
                {"noise level": noise, "method": method, "statistic": key, "what": what}
                | {"estimate": d.estimate, "lo": d.lo, "hi": d.hi, "runs": len(a)}
                | {"baseline runs": len(b), "method mean": a.mean(), "baseline mean": b.mean()}
            )
    return pd.DataFrame(rows)


def tracked_curves(grid: pd.DataFrame, results: list[RunResult]) -> pd.DataFrame:
    """The clean / noisy measurements and validation accuracy of every run, tidy, with its
    ``grid`` row's columns (Fig. 5, 11, 12)."""
    parts = []
    for row, r in zip(grid.to_dict("records"), results, strict=True):
        h = r.history[r.history.metric.isin(TRACKED)]
        parts.append(h.assign(**row))
    cols = [*grid.columns, "step", "epoch", "metric", "value"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def describe(row: dict[str, Any]) -> str:
    """'FP α=0.1 seed 2 at 25% noise': a run named in the findings."""
    m = METHODS[row["method"]]
    coef = f" {m.coefficient}={row['coefficient']:g}" if m.coefficient else ""
    name = "baseline" if row["method"] == "baseline" else m.label
    return f"{name}{coef} seed {row['seed']} at {100 * row['noise level']:g}% noise"
