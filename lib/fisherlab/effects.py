"""A claim's effect over runs with its CI, from the per-run rows its notebook recorded.

Four methods (``params/claims.yaml``'s ``method``): the difference or ratio of two arms' means
(``fisherlab.verdicts.compare_arms``), the share of the η*–baseline gap that a method closes,
a correlation over runs with settings resampled as clusters, and an ordering of two groups of
settings (the lowest mean of group B minus the highest of group A). Every CI resamples whole
runs (``fisherlab.stats``); runs that diverged or gave a non-finite value are left out and
named. A missing table or column raises :class:`NotRecorded`, naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fisherlab import stats
from fisherlab.claims import DEFAULTS
from fisherlab.verdicts import Estimate, RunValue, compare_arms, usable_runs

__all__ = ["Measured", "NotRecorded", "arm_frames", "claim_rows", "measure"]


class NotRecorded(Exception):
    """The notebook's summary lacks a table or column a claim needs (the message names it)."""


def _need(df: pd.DataFrame, *cols: str | None) -> None:
    missing = [c for c in cols if c and c not in df.columns]
    if missing:
        raise NotRecorded("no column " + ", ".join(f"'{c}'" for c in missing))


def claim_rows(summary: Mapping[str, Any], d: Mapping[str, Any]) -> pd.DataFrame:
    """The claim's table as a frame, filtered by ``where`` and ``at_max``, accuracies in %."""
    rows = summary.get(d["table"])
    if not rows or not isinstance(rows, list):
        raise NotRecorded(f"no '{d['table']}' table")
    df = pd.DataFrame(rows)
    if d.get("accuracy_as") == "fraction":
        acc = [c for c in df.columns if "acc" in c and pd.api.types.is_numeric_dtype(df[c])]
        df[acc] = 100 * df[acc]
    for col, want in d.get("where", {}).items():
        _need(df, col)
        df = df[df[col] == want]
    if d.get("at_max"):
        _need(df, d["at_max"])
        df = df[df[d["at_max"]] == df[d["at_max"]].max()]
    return df


def arm_frames(df: pd.DataFrame, d: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """{arm label: its rows}; ``min``/``max`` pick the extreme values of a numeric arm column."""
    _need(df, d["arm"])
    col = df[d["arm"]]
    frames = {}
    for key, label in d["arms"].items():
        if key in ("min", "max") and len(col) and pd.api.types.is_numeric_dtype(col):
            key = col.min() if key == "min" else col.max()
        frames[str(label)] = df[col == key]
    if not any(len(f) for f in frames.values()):
        raise NotRecorded(f"no runs of {', '.join(map(str, d['arms']))}")
    return frames


def _values(df: pd.DataFrame, d: Mapping[str, Any]) -> pd.Series:
    _need(df, d["value"], d.get("minus"))
    v = df[d["value"]].astype(float)
    return v - df[d["minus"]].astype(float) if d.get("minus") else v


def _run_values(label: str, df: pd.DataFrame, d: Mapping[str, Any]) -> list[RunValue]:
    """One RunValue per row: named by arm and seed, with its status and independent unit."""
    values = _values(df, d)
    seeds = df["seed"] if "seed" in df else None
    status = df["status"] if "status" in df else None
    cluster = d.get("cluster")
    out = []
    for i, idx in enumerate(df.index):
        name = f"{label} seed {seeds[idx]}" if seeds is not None else f"{label} run {i + 1}"
        unit = None
        if cluster:  # without the column, all the arm's runs share one unit (conservative)
            unit = f"{label} {df.at[idx, cluster]}" if cluster in df else f"{label} (one unit)"
        st = str(status[idx]) if status is not None else "finished"
        out.append(RunValue(name, float(values[idx]), st, unit))
    return out


def _seeds(frames: Mapping[str, pd.DataFrame], column: str = "seed") -> str:
    """'; seeds 0, 1, 2' from the arms' ``column`` (a cluster column: '; phase-1 seeds …')."""
    seeds = sorted({s for f in frames.values() if column in f for s in f[column].tolist()})
    return f"; {column}s {', '.join(map(str, seeds))}" if seeds else f"; {column}s not recorded"


@dataclass
class Measured:
    """An effect with its CI, and what the scorecard prints beside it."""

    estimate: Estimate
    n: str  # runs per arm (or per setting), in words
    notes: list[str] = field(default_factory=list)


def _level() -> float:
    return float(DEFAULTS["level"])


def _boot() -> dict[str, Any]:
    return {"n_boot": int(DEFAULTS["bootstrap"]), "seed": int(DEFAULTS["seed"])}


def _two_arms(df: pd.DataFrame, d: Mapping[str, Any], statistic: str) -> Measured:
    frames = arm_frames(df, d)
    arms = {label: _run_values(label, f, d) for label, f in frames.items()}
    e = compare_arms(arms, statistic, level=_level(), **_boot())
    n = " · ".join(f"{k} {v}" for k, v in e.runs.items())
    unit_word = "phase-1 runs" if d.get("cluster") else "runs"
    notes = []
    seeds = _seeds(frames)
    if d.get("cluster") in df:
        seeds = _seeds(frames, d["cluster"]) + seeds
    elif d.get("cluster"):
        notes.append(f"'{d['cluster']}' not recorded: each arm's runs counted as one unit")
    return Measured(e, f"{n} {unit_word}{seeds}", notes)


def _gap_fraction(df: pd.DataFrame, d: Mapping[str, Any]) -> Measured:
    frames = arm_frames(df, d)
    kept, excluded = {}, []
    for label, f in frames.items():
        kept[label], dropped = usable_runs(_run_values(label, f, d))
        excluded += dropped
    values = [np.array([r.value for r in k]) for k in kept.values()]

    def share(m: np.ndarray, b: np.ndarray, e: np.ndarray) -> float:
        gap = e.mean() - b.mean()
        return float((m.mean() - b.mean()) / gap) if gap != 0 else float("nan")

    runs = {label: len(k) for label, k in kept.items()}
    _, base, top = runs  # method, baseline, η*
    notes = []
    if min(runs.values()) == 0:
        est = stats.Interval(float("nan"), float("nan"), float("nan"))
    else:
        reps = stats.bootstrap_runs(values, share, **_boot())
        lo, hi = stats.interval(reps, _level()) if min(runs.values()) >= 2 else (np.nan,) * 2
        # the same draws: is the denominator's sign settled? If not, the share is unbounded
        gaps = stats.bootstrap_runs(values, lambda m, b, e: e.mean() - b.mean(), **_boot())
        gap_lo, gap_hi = stats.interval(gaps, _level())
        if min(runs.values()) >= 2 and gap_lo <= 0 <= gap_hi:
            lo, hi = -math.inf, math.inf
            notes.append(f"the {top}–{base} gap's CI includes 0: no gap to close")
        est = stats.Interval(share(*values), lo, hi)
    e = Estimate(est.estimate, est.lo, est.hi, runs, _level(), tuple(excluded))
    n = " · ".join(f"{k} {v}" for k, v in runs.items())
    return Measured(e, f"{n} runs{_seeds(frames)}", notes)


def _correlation(df: pd.DataFrame, d: Mapping[str, Any], method: str) -> Measured:
    _need(df, d["x"], d["value"], d["setting"])
    if not len(df):
        raise NotRecorded("no runs")
    x, y = df[d["x"]].astype(float), df[d["value"]].astype(float)
    st = df["status"].astype(str) if "status" in df else pd.Series("finished", index=df.index)
    ok = (st == "finished") & np.isfinite(x) & np.isfinite(y)
    seeds = df["seed"].astype(str) if "seed" in df else pd.Series("?", index=df.index)
    excluded = tuple(
        f"{df.at[i, d['setting']]} seed {seeds[i]} "
        + ("(non-finite value)" if st[i] == "finished" else f"({st[i]})")
        for i in df.index[~ok]
    )
    settings = df.loc[ok, d["setting"]].astype(str)
    est = stats.correlation(
        x[ok], y[ok], method=method, clusters=settings.to_numpy(), level=_level(), **_boot()
    )
    runs = settings.value_counts(sort=False).to_dict()
    e = Estimate(est.estimate, est.lo, est.hi, runs, _level(), excluded)
    counts = sorted(set(runs.values()))
    per = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return Measured(e, f"{len(runs)} settings × {per} runs{_seeds({'': df[ok]})}")


def _ordering(df: pd.DataFrame, d: Mapping[str, Any]) -> Measured:
    frames = arm_frames(df, d)
    _need(df, d["setting"])
    (high_label, high), (low_label, low) = frames.items()
    cells, excluded = {}, []
    for label, f in ((high_label, high), (low_label, low)):
        for setting, g in f.groupby(d["setting"], sort=True):
            kept, dropped = usable_runs(_run_values(f"{label} {setting}", g, d))
            cells[(label, setting)] = np.array([r.value for r in kept])
            excluded += dropped
    n_high = sum(1 for k in cells if k[0] == high_label)

    def gap(*arrays: np.ndarray) -> float:
        means = [a.mean() for a in arrays]
        return float(min(means[:n_high]) - max(means[n_high:]))

    runs = {f"{g} {s}": len(v) for (g, s), v in cells.items()}
    if not cells or min(runs.values()) == 0 or n_high in (0, len(cells)):
        est = stats.Interval(float("nan"), float("nan"), float("nan"))
    else:
        arrays = list(cells.values())
        reps = stats.bootstrap_runs(arrays, gap, **_boot())
        lo, hi = stats.interval(reps, _level()) if min(runs.values()) >= 2 else (np.nan,) * 2
        est = stats.Interval(gap(*arrays), lo, hi)
    e = Estimate(est.estimate, est.lo, est.hi, runs, _level(), tuple(excluded))
    n = " · ".join(f"{k} {v}" for k, v in runs.items())
    return Measured(e, f"{n} runs{_seeds(frames)}")


def measure(method: str, df: pd.DataFrame, d: Mapping[str, Any], corr: str) -> Measured:
    """The effect of ``method`` (a key of ``fisherlab.claims.METHODS``) on the rows ``df`` of a
    claim's ``data`` spec ``d``; ``corr`` (pearson, spearman) for the correlation method."""
    if method in ("difference", "ratio"):
        return _two_arms(df, d, method)
    if method == "gap_fraction":
        return _gap_fraction(df, d)
    if method == "correlation":
        return _correlation(df, d, corr)
    return _ordering(df, d)
