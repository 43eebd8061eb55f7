"""Notebook 00: the reproduction scorecard, one row per claim of the paper.

Reads the machine-readable results every notebook records (``outputs/<profile>/<notebook>/
summary.json``) and states, for each claim, the paper's evidence, our number with its
uncertainty, the criterion applied, and a computed verdict: ``reproduced``, ``not reproduced``
or ``not run`` (when the notebook that tests it has no results at this profile). Nothing is
guessed: a claim without results is "not run".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CLAIMS", "load_results", "scorecard"]

NOTEBOOKS = (
    "01_fisher_explosion",
    "02_early_phase_correlation",
    "03_fisher_penalty",
    "04_delayed_fisher_penalty",
    "05_memorization",
    "06_curvature_histograms",
)


def load_results(root: str | Path) -> dict[str, dict[str, Any]]:
    """{notebook: its recorded summary.json} for the notebooks with results under ``root``
    (``outputs/<profile>``)."""
    root = Path(root)
    found = {}
    for name in NOTEBOOKS:
        path = root / name / "summary.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


@dataclass(frozen=True)
class Evidence:
    ours: str  # our number(s), as text
    effect: float | None  # the effect size the verdict is about
    uncertainty: str  # spread over seeds / CI, or why there is none
    reproduced: bool


@dataclass(frozen=True)
class Claim:
    claim: str
    paper: str  # figure / table
    paper_number: str
    notebook: str
    criterion: str
    measure: Callable[[dict[str, Any]], Evidence | None]


def _gaps(r: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {row["method"]: row for row in r.get("gaps", [])}


def _explosion(r: dict[str, Any]) -> Evidence:
    f = r["findings"]
    return Evidence(
        f"max Tr(F) ratio {f['trace_fisher_ratio']:.2f}×",
        f["trace_fisher_ratio"],
        "one seed per learning rate",
        f["trace_fisher_ratio"] >= 2,
    )


def _worse_test(r: dict[str, Any]) -> Evidence:
    f = r["findings"]
    gap = f["best_test_gap_points"]
    return Evidence(
        f"best test gap {gap:+.2f} pts (final {f['final_test_gap_points']:+.2f})",
        gap,
        "one seed per learning rate",
        gap >= 3,
    )


NAMES = {"gpx": "GPx", "gp": "GP", "fp": "FP", "gpr": "GPr"}


def _spread(g: dict[str, dict[str, float]], a: str, b: str) -> float:
    """Root-sum-square of two methods' seed standard deviations of best test accuracy."""
    return float(np.hypot(g[a]["best ± (std)"], g[b]["best ± (std)"]))


def _closes_gap(method: str) -> Callable[[dict[str, Any]], Evidence | None]:
    """The η*–baseline gap exceeds the seeds' spread, and the method recovers ≥ 50% of it."""

    def measure(r: dict[str, Any]) -> Evidence | None:
        g = _gaps(r)
        if method not in g or "baseline" not in g or "eta_star" not in g:
            return None
        gap = g["eta_star"]["best test (%)"] - g["baseline"]["best test (%)"]
        spread = _spread(g, "eta_star", "baseline")
        gain = g[method]["best Δ vs baseline (pts)"]
        if gap > spread:
            text = (
                f"{gain:+.2f} pts over the baseline, {100 * gain / gap:.0f}% of the "
                f"η*–baseline gap ({gap:+.2f} pts)"
            )
        else:
            text = f"no gap to close: η*–baseline {gap:+.2f} pts (seed spread ± {spread:.2f})"
        return Evidence(
            text,
            gain,
            f"± {g[method]['best ± (std)']:.2f} pts over seeds",
            bool(gap > spread and gain >= 0.5 * gap),
        )

    return measure


def _beats_baseline(method: str) -> Callable[[dict[str, Any]], Evidence | None]:
    """The method's best test accuracy exceeds the baseline's by more than the seeds' spread."""

    def measure(r: dict[str, Any]) -> Evidence | None:
        g = _gaps(r)
        if method not in g or "baseline" not in g:
            return None
        gain = g[method]["best Δ vs baseline (pts)"]
        spread = _spread(g, method, "baseline")
        return Evidence(
            f"{gain:+.2f} pts over the baseline",
            gain,
            f"seed spread ± {spread:.2f} pts",
            bool(gain > spread),
        )

    return measure


def _gp_less(r: dict[str, Any]) -> Evidence | None:
    g = _gaps(r)
    if not {"fp", "gp", "gpx"} <= set(g):
        return None
    fp = g["fp"]["best test (%)"]
    worse = [m for m in ("gp", "gpx") if g[m]["best test (%)"] < fp]
    diffs = ", ".join(f"{NAMES[m]} {g[m]['best test (%)'] - fp:+.2f}" for m in ("gp", "gpx"))
    return Evidence(f"vs FP: {diffs} pts", None, "seed means", len(worse) == 2)


def _lower_trace(r: dict[str, Any]) -> Evidence | None:
    f = r["findings"]
    ratios = {m: f.get(f"{m}_max_trace_fisher_vs_baseline") for m in ("gpx", "gp", "fp", "gpr")}
    ratios = {m: v for m, v in ratios.items() if v is not None}
    if not ratios:
        return None
    text = ", ".join(f"{NAMES[m]} {v:.2f}×" for m, v in ratios.items())
    return Evidence(
        f"max Tr(F) vs baseline: {text}",
        max(ratios.values()),
        "seed means",
        all(v < 1 for v in ratios.values()),
    )


def _early(r: dict[str, Any]) -> Evidence:
    f = r["findings"]
    rho, drop = f["spearman_start_vs_final_test"], f["earliest_minus_latest_pts"]
    return Evidence(
        f"Spearman(start epoch, final test) {rho:+.2f}; earliest − latest {drop:+.2f} pts",
        rho,
        "one seed per start epoch",
        rho <= -0.5 and drop > 0,
    )


def _fb_tracks(r: dict[str, Any]) -> Evidence | None:
    rows = r.get("correlation", [])
    if not rows:
        return None
    pearson = np.array([row["pearson"] for row in rows])
    return Evidence(
        f"Pearson median {np.median(pearson):.3f} over {len(rows)} runs",
        float(np.median(pearson)),
        f"range {pearson.min():.3f}–{pearson.max():.3f}",
        bool(np.median(pearson) >= 0.9),
    )


def _f1_vs_f10(r: dict[str, Any]) -> Evidence | None:
    rows = {row["run"]: row for row in r.get("supplement_c", [])}
    if not {"FP f=10", "FP f=1"} <= set(rows):
        return None
    d = 100 * (rows["FP f=1"]["best test acc"] - rows["FP f=10"]["best test acc"])
    return Evidence(f"best test f=1 minus f=10: {d:+.2f} pts", d, "one seed", abs(d) <= 1.0)


Interval = tuple[float, float]


def _from_notebook(
    key: str, label: str, holds: Callable[[float, Interval | None], bool]
) -> Callable[[dict[str, Any]], Evidence | None]:
    """A claim whose notebook records ``findings[key]``, with a 95% CI as ``findings[key_ci]``."""

    def measure(r: dict[str, Any]) -> Evidence | None:
        f = r.get("findings", {})
        if key not in f:
            return None
        ci = f.get(f"{key}_ci")
        return Evidence(
            f"{label} {f[key]:+.3f}",
            f[key],
            f"95% CI {ci[0]:+.3f} … {ci[1]:+.3f}" if ci else "no CI recorded",
            bool(holds(f[key], tuple(ci) if ci else None)),
        )

    return measure


CLAIMS = (
    Claim(
        "Small learning rate → Tr(F) explodes early",
        "Fig. 1, Table 4",
        "Tr(F) rises sharply for η2 = η*/30 (WRN, TinyImageNet)",
        "01_fisher_explosion",
        "small-LR max Tr(F) ≥ 2× η*'s",
        _explosion,
    ),
    Claim(
        "Small learning rate → worse test accuracy",
        "Fig. 1, Table 1",
        "up to 9 pts lower (Table 1)",
        "01_fisher_explosion",
        "η* best test ≥ 3 pts above the small LR",
        _worse_test,
    ),
    Claim(
        "Early Tr(F) predicts final generalisation",
        "Fig. 2, 7",
        "strong negative association",
        "02_early_phase_correlation",
        "correlation of Tr(F_i) with test accuracy < 0, CI excluding 0",
        _from_notebook(
            "pearson_trace_fisher_vs_test",
            "Pearson r",
            lambda v, ci: v < 0 and ci is not None and ci[1] < 0,
        ),
    ),
    Claim(
        "Fisher penalty closes the gap",
        "Table 1",
        "SimpleCNN: 71.32 → 79.66% (η* 76.94%)",
        "03_fisher_penalty",
        "FP recovers ≥ 50% of a positive η*–baseline gap",
        _closes_gap("fp"),
    ),
    Claim(
        "GPr closes the gap",
        "Table 1",
        "SimpleCNN: 71.32 → 79.76%",
        "03_fisher_penalty",
        "GPr recovers ≥ 50% of a positive η*–baseline gap",
        _closes_gap("gpr"),
    ),
    Claim(
        "FP beats the small-learning-rate baseline",
        "Table 1",
        "SimpleCNN: 71.32 → 79.66%",
        "03_fisher_penalty",
        "FP's best test accuracy above the baseline's by more than the seed spread",
        _beats_baseline("fp"),
    ),
    Claim(
        "GP and GPx help less than FP",
        "Table 1",
        "SimpleCNN: GP 75.73%, GPx 75.68% vs FP 79.66%",
        "03_fisher_penalty",
        "both below FP's best test accuracy",
        _gp_less,
    ),
    Claim(
        "Gradient-norm regularisers lower max Tr(F)",
        "Table 4",
        "SimpleCNN: baseline 52.05 → FP 19.63",
        "03_fisher_penalty",
        "every regulariser's max Tr(F) below the baseline's",
        _lower_trace,
    ),
    Claim(
        "FP must start early",
        "Fig. 3",
        "later starts close less of the gap",
        "04_delayed_fisher_penalty",
        "Spearman(start, final test) ≤ −0.5 and earliest > latest",
        _early,
    ),
    Claim(
        "FP slows memorisation of noisy labels",
        "Fig. 5, Table 3",
        "noisy-example train accuracy drops more than clean",
        "05_memorization",
        "FP lowers noisy train accuracy more than clean",
        _from_notebook(
            "noisy_minus_clean_drop_pts", "extra drop on noisy (pts)", lambda v, ci: v > 0
        ),
    ),
    Claim(
        "Low early Tr(F) → flatter final minima",
        "Fig. 6, 13",
        "lower Tr(H_f) histogram",
        "06_curvature_histograms",
        "mean Tr(H_f) lower for the low-Tr(F_i) start",
        _from_notebook(
            "trace_hessian_difference",
            "Δ mean Tr(H_f) (low − high Tr(F_i))",
            lambda v, ci: v < 0 and ci is not None and ci[1] < 0,
        ),
    ),
    Claim(
        "Tr(F^B) tracks Tr(F)",
        "Supplement C, Fig. 15",
        "correlate extremely well",
        "03_fisher_penalty",
        "median Pearson ≥ 0.9 along trajectories",
        _fb_tracks,
    ),
    Claim(
        "FP with f = 10 ≈ f = 1",
        "Supplement C, Fig. 16",
        "both ≈ 80% test accuracy",
        "03_fisher_penalty",
        "|Δ best test| ≤ 1 pt",
        _f1_vs_f10,
    ),
    Claim(
        "Tr(H) tracks Tr(F)",
        "Supplement F, Fig. 21",
        "strong correlation",
        "06_curvature_histograms",
        "Pearson ≥ 0.9",
        _from_notebook("pearson_trace_hessian_vs_fisher", "Pearson r", lambda v, ci: v >= 0.9),
    ),
)


def scorecard(results: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per claim with the paper's number, ours, uncertainty, criterion and verdict."""
    rows = []
    for c in CLAIMS:
        evidence = c.measure(results[c.notebook]) if c.notebook in results else None
        rows.append(
            {
                "claim": c.claim,
                "paper": c.paper,
                "paper's number": c.paper_number,
                "notebook": c.notebook,
                "ours": evidence.ours if evidence else "—",
                "uncertainty": evidence.uncertainty if evidence else "—",
                "criterion": c.criterion,
                "verdict": (
                    "not run"
                    if evidence is None
                    else "reproduced"
                    if evidence.reproduced
                    else "not reproduced"
                ),
            }
        )
    return pd.DataFrame(rows)
