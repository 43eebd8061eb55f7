"""Notebook 04: the Fisher penalty must be applied early (Section 4, Fig. 3).

FP is switched on from epoch E (``penalty_start_epoch``) for each E of a grid, at the baseline's
learning rate with the α notebook 03 chose (read from its recorded results when present); the
final test accuracy against E is compared with η* and the baseline. The η*, baseline and E = 0
runs have the same configs as notebook 03's, so the run store returns them without training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fisherlab.config import ConfigError
from fisherlab.experiments.fisher_penalty import method_config
from fisherlab.notebook import REPO_ROOT, NotebookParams, default_output_dir
from fisherlab.training import RunResult

__all__ = ["DelayedStudy", "check", "chosen_alpha", "findings", "run_study", "start_table"]


def check(p: NotebookParams) -> None:
    """Validate notebook 04's own parameters."""
    starts = p["start_epochs"]
    if not starts or not all(isinstance(e, int) and e >= 0 for e in starts):
        raise ConfigError(f"start_epochs={starts!r} must be a non-empty list of integers ≥ 0")
    if not p["seeds"] or not all(isinstance(s, int) and s >= 0 for s in p["seeds"]):
        raise ConfigError(f"seeds={p['seeds']!r} must be a non-empty list of integers ≥ 0")
    for name in ("lr_star", "baseline_divisor", "alpha_default"):
        p.positive(name)
    if p.get("alpha") is not None:
        p.positive("alpha")


def chosen_alpha(p: NotebookParams) -> tuple[float, str]:
    """(α, where it came from): the ``alpha`` parameter, else notebook 03's choice, else default."""
    if p.get("alpha") is not None:
        return float(p["alpha"]), "the alpha parameter"
    default = default_output_dir("03_fisher_penalty", p["profile"], p.get("setting"))
    path = Path(p["fisher_penalty_results"] or default / "summary.json")
    if path.exists():
        fp = json.loads(path.read_text()).get("chosen", {}).get("alphas", {}).get("fp")
        if fp is not None:
            shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
            return float(fp), f"notebook 03's results ({shown})"
    return float(p["alpha_default"]), "alpha_default (notebook 03 has not run at this profile)"


@dataclass
class DelayedStudy:
    alpha: float
    alpha_source: str
    lr_star: float
    lr_small: float
    references: dict[tuple[str, int], RunResult]  # ("eta_star" | "baseline", seed)
    delayed: dict[tuple[int, int], RunResult]  # (start epoch, seed)


def run_study(p: NotebookParams) -> DelayedStudy:
    check(p)
    alpha, source = chosen_alpha(p)
    lr_star = float(p["lr_star"])
    lr_small = lr_star / float(p["baseline_divisor"])
    refs = {
        (m, s): method_config(p, m, lr_star if m == "eta_star" else lr_small, 0, s)
        for m in ("eta_star", "baseline")
        for s in p["seeds"]
    }
    delayed = {
        (e, s): method_config(p, "fp", lr_small, alpha, s, penalty_start_epoch=e)
        for e in p["start_epochs"]
        for s in p["seeds"]
    }
    configs = [*refs.values(), *delayed.values()]
    results = dict(
        zip(
            [*refs, *delayed],
            p.sweep(configs, "delayed FP runs"),
            strict=True,
        )
    )
    return DelayedStudy(
        alpha,
        source,
        lr_star,
        lr_small,
        {k: results[k] for k in refs},
        {k: results[k] for k in delayed},
    )


def _acc(r: RunResult, key: str) -> float:
    value = r.summary.get(key)
    return 100 * value if value is not None else np.nan


def start_table(study: DelayedStudy) -> pd.DataFrame:
    """Per start epoch: final/best test accuracy (%) and max Tr(F), mean and std over seeds."""
    rows = [
        {
            "start epoch": e,
            "seed": s,
            "final test acc": _acc(r, "final_test_acc"),
            "best test acc": _acc(r, "best_test_acc"),
            "test acc at best val": _acc(r, "test_acc_at_best_val"),
            "final train acc": _acc(r, "final_train_acc"),
            "max Tr(F)": r.summary.get("max_trace_fisher"),
            "status": r.summary.get("status"),
        }
        for (e, s), r in study.delayed.items()
    ]
    df = pd.DataFrame(rows)
    metrics = [
        "final test acc",
        "best test acc",
        "test acc at best val",
        "final train acc",
        "max Tr(F)",
    ]
    g = df.groupby("start epoch")
    out = g[metrics].mean()
    for col in metrics:
        out[f"{col} ± (std)"] = g[col].std(ddof=1)
    return out.reset_index()


def reference_levels(study: DelayedStudy) -> dict[str, dict[str, float]]:
    """Seed-mean final and best test accuracy (%) of η* and the baseline (the horizontal lines)."""
    out: dict[str, dict[str, float]] = {}
    for m in ("eta_star", "baseline"):
        runs = [r for (k, _), r in study.references.items() if k == m]
        out[m] = {
            key: float(np.nanmean([_acc(r, f"{key}_test_acc") for r in runs]))
            for key in ("final", "best")
        }
    return out


def _rank_corr(a: pd.Series, b: pd.Series) -> float:
    return float(a.rank().corr(b.rank())) if len(a) >= 3 else float("nan")


def findings(
    table: pd.DataFrame, refs: dict[str, dict[str, float]], seeds: int = 1
) -> dict[str, Any]:
    """Does a later start recover less? Rank correlation of start epoch with final test accuracy
    and with max Tr(F), earliest vs latest start, each against the baseline and η* (points).
    With one seed per start, a weak correlation (|ρ| < 0.5) is reported as inconclusive."""
    e = table["start epoch"]
    rho = _rank_corr(e, table["final test acc"])
    rho_f = _rank_corr(e, table["max Tr(F)"])
    first, last = table.iloc[0], table.iloc[-1]
    base, star = refs["baseline"]["final"], refs["eta_star"]["final"]
    drop = float(first["final test acc"] - last["final test acc"])
    later_less = rho < 0 and drop > 0
    strength = "strongly" if rho <= -0.8 else "weakly" if later_less else ""
    verdict = (
        f"— later starts recover {strength} less, as in the paper"
        if later_less
        else "— later starts do not recover less at this scale"
    )
    if later_less and abs(rho) < 0.5 and seeds == 1:
        verdict += " (but |ρ| < 0.5 with one seed per start: inconclusive)"
    lines = [
        f"FP from epoch {int(first['start epoch'])}: final test {first['final test acc']:.2f}% "
        f"({first['final test acc'] - base:+.2f} points vs the baseline's {base:.2f}%, "
        f"{first['final test acc'] - star:+.2f} vs η*'s {star:.2f}%).",
        f"FP from epoch {int(last['start epoch'])}: final test {last['final test acc']:.2f}% "
        f"({last['final test acc'] - base:+.2f} vs the baseline).",
        f"Spearman correlation of start epoch with final test accuracy over {len(table)} starts "
        f"({seeds} seed{'s' if seeds > 1 else ''} each): {rho:+.2f} {verdict}.",
        f"Spearman correlation of start epoch with max Tr(F): {rho_f:+.2f} (max Tr(F) "
        f"{first['max Tr(F)']:.0f} from epoch {int(first['start epoch'])}, "
        f"{last['max Tr(F)']:.0f} from epoch {int(last['start epoch'])}).",
    ]
    return {
        "spearman_start_vs_final_test": rho,
        "spearman_start_vs_max_trace_fisher": rho_f,
        "earliest_minus_latest_pts": drop,
        "lines": lines,
    }
