"""Notebook 04's tables: does FP switched on later recover less (Section 4, Fig. 3)?

Pure functions of the per-run table the notebook builds (one row per run: ``arm`` ∈ {eta_star,
baseline, fp}, ``start epoch`` for FP, ``seed``, ``status``, accuracies in %), plus where FP's α
comes from. Runs whose status is not "finished" are left out of every statistic; the notebook
names them (``fisherlab.analysis.not_finished``). Statistics resample whole runs
(``fisherlab.stats``); the paper reports Fig. 3 as one run per start epoch, without intervals.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fisherlab import stats
from fisherlab.notebook import NotebookParams, default_output_dir, in_repo

__all__ = ["MATCHED", "chosen_alpha", "effects", "per_start_table"]

MATCHED = "test acc at matched train acc"


def chosen_alpha(p: NotebookParams) -> tuple[float, str]:
    """(α, where it came from): the ``alpha`` parameter, else notebook 03's choice at this
    profile (``chosen.alphas.fp`` of its summary.json), else ``alpha_default``."""
    if p["alpha"] is not None:
        return float(p["alpha"]), "the alpha parameter"
    default = default_output_dir("03_fisher_penalty", p["profile"], p.get("setting"))
    path = Path(p["fisher_penalty_results"] or default / "summary.json")
    if path.exists():
        fp = json.loads(path.read_text()).get("chosen", {}).get("alphas", {}).get("fp")
        if fp is not None:
            return float(fp), f"notebook 03's results ({in_repo(path)})"
    return float(p["alpha_default"]), "alpha_default (notebook 03 has no results at this profile)"


def _finished(per_run: pd.DataFrame) -> pd.DataFrame:
    return per_run[per_run.status == "finished"]


def per_start_table(per_run: pd.DataFrame, value: str = "test acc at best val") -> pd.DataFrame:
    """Per start epoch (finished runs): their number, the mean and std of ``value``, FP from that
    start minus the baseline with its 95% CI over runs, and the means of final test and train
    accuracy, test accuracy at matched train accuracy (where recorded) and max Tr(F)."""
    ok = _finished(per_run)
    base = ok[ok.arm == "baseline"][value]
    rows = []
    for start, g in ok[ok.arm == "fp"].groupby("start epoch", sort=True):
        d = stats.difference_of_means(g[value], base)
        rows.append(
            {
                "start epoch": int(start),
                "runs": len(g),
                value: g[value].mean(),
                f"{value} (std)": g[value].std(ddof=1) if len(g) > 1 else np.nan,
                "minus baseline (pts)": d.estimate,
                "minus baseline lo": d.lo,
                "minus baseline hi": d.hi,
                "final test acc": g["final test acc"].mean(),
                "final train acc": g["final train acc"].mean(),
                "max Tr(F)": g["max Tr(F)"].mean(),
            }
            | {c: g[c].mean() for c in [MATCHED] if c in g}
        )
    return pd.DataFrame(rows)


def effects(per_run: pd.DataFrame, value: str = "test acc at best val") -> pd.DataFrame:
    """The claim's statistics over finished runs, each with its 95% bootstrap CI over runs:
    FP from the earliest minus the latest start (points; the scorecard's number), the slope of
    ``value`` on the start epoch over starts × seeds (points per epoch), Spearman's ρ of start
    epoch with ``value`` and with max Tr(F), and the η*–baseline gap that FP is meant to close
    (Fig. 3's two horizontal lines). ``key``: earliest_minus_latest, slope, rho_test, rho_trace,
    gap."""
    ok = _finished(per_run)
    fp = ok[ok.arm == "fp"]
    arm = {m: ok[ok.arm == m][value] for m in ("eta_star", "baseline")}
    rows = []

    def add(key: str, statistic: str, est: stats.Interval, runs: int, unit: str) -> None:
        rows.append(
            {"key": key, "statistic": statistic, "estimate": est.estimate, "lo": est.lo}
            | {"hi": est.hi, "runs": runs, "unit": unit}
        )

    if len(fp):
        first, last = fp["start epoch"].min(), fp["start epoch"].max()
        a, b = fp[fp["start epoch"] == first][value], fp[fp["start epoch"] == last][value]
        add(
            "earliest_minus_latest",
            f"FP from epoch {first:g} minus from epoch {last:g}",
            stats.difference_of_means(a, b),
            len(a) + len(b),
            "pts",
        )
        x = fp["start epoch"].astype(float)
        add("slope", "slope on the start epoch", stats.slope(x, fp[value]), len(fp), "pts/epoch")
        for key, col in (("rho_test", value), ("rho_trace", "max Tr(F)")):
            rho = stats.correlation(x, fp[col], method="spearman")
            add(key, f"Spearman ρ(start epoch, {col})", rho, len(fp), "r")
    gap = stats.difference_of_means(arm["eta_star"], arm["baseline"])
    add("gap", "η* minus baseline", gap, len(arm["eta_star"]) + len(arm["baseline"]), "pts")
    return pd.DataFrame(rows, columns=["key", "statistic", "estimate", "lo", "hi", "runs", "unit"])
