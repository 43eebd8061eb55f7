"""The scorecard's tables: each claim judged on its notebook's runs, the checks, the headline.

For each claim of ``params/claims.yaml`` (``fisherlab.claims``): the rows its notebook recorded
in ``outputs/<profile>/<notebook>/summary.json``, the effect with its CI
(``fisherlab.effects``), the verdict (``fisherlab.verdicts.judge``) and the evidence beside it
(runs per arm, seeds, runs left out, arms that did not fit their training set). The checks get
their value and whether it is consistent; the headline counts the claims only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fisherlab.claims import CHECKS, CLAIMS, DEFAULTS, METHODS, Check, Claim
from fisherlab.effects import Measured, NotRecorded, arm_frames, claim_rows, measure
from fisherlab.formatting import fmt, fmt_ci
from fisherlab.verdicts import Judgement, Verdict, judge

__all__ = ["NOTEBOOKS", "checks_table", "claims_table", "headline", "load_results"]

NOTEBOOKS = tuple(
    "01_fisher_explosion 02_early_phase_correlation 03_fisher_penalty 04_delayed_fisher_penalty "
    "05_memorization 06_curvature_histograms".split()
)
VERDICT_ORDER = [v.value for v in Verdict]


def load_results(root: str | Path, profile: str | None = None) -> dict[str, dict[str, Any]]:
    """{source: recorded summary.json} under ``root`` (``outputs/<profile>``): each notebook's,
    and, for claims tested at another profile at this one (``results_profile``), that
    profile's, keyed ``<profile>/<notebook>`` (looked up beside ``root``)."""
    root = Path(root)
    found = {}
    for name in NOTEBOOKS:
        path = root / name / "summary.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    for c in CLAIMS if profile else ():
        source = c.source(profile)
        path = root.parent / source / "summary.json"
        if source not in found and "/" in source and path.exists():
            found[source] = json.loads(path.read_text())
    return found


def _fit_notes(df: pd.DataFrame, d: Mapping[str, Any], threshold: float) -> list[str]:
    """Arms whose mean final train accuracy is under ``threshold`` (%), by name."""
    if not d.get("fit") or d["fit"] not in df or d.get("arm") not in df:
        return []
    notes = []
    for label, f in arm_frames(df, d).items():
        ok = f[f.status == "finished"] if "status" in f else f
        acc = ok[d["fit"]].astype(float).mean()
        if math.isfinite(acc) and acc < threshold:
            notes.append(f"{label} ends at {fmt(acc, '%')} train accuracy (< {threshold:g}%)")
    return notes


def _tuned_notes(summary: Mapping[str, Any], df: pd.DataFrame, d: Mapping[str, Any]) -> list[str]:
    """``tuned: {table, arm}``: the learning rates tried at the claim's horizon (``table``: lr,
    status, best val acc (%)). When ``arm``'s learning rate is not the best of them by
    validation, the note says so: the claim is about the tuned η* (the paper's grid search)."""
    t = d.get("tuned")
    grid = pd.DataFrame(summary.get(t["table"]) or []) if t else pd.DataFrame()
    if grid.empty or "lr" not in df or d.get("arm") not in df:
        return []
    grid = grid[grid.status == "finished"]
    lrs = df.loc[df[d["arm"]] == t["arm"], "lr"].unique()
    if grid.empty or len(lrs) != 1:
        return []
    best = float(grid.lr[grid["best val acc (%)"].astype(float).idxmax()])
    if best == float(lrs[0]):
        return []
    tried = ", ".join(f"{lr:g}" for lr in sorted(grid.lr))
    return [
        f"{d['arms'][t['arm']]} = {lrs[0]:g} is not the best learning rate by validation at this "
        f"horizon: {best:g} is (of {tried}; one run each, the first seed)"
    ]


def _summary_line(label: str, m: Measured, unit: str) -> str:
    e = m.estimate
    ci = fmt_ci(e.lo, e.hi, unit)
    return f"{label}: {fmt(e.effect, unit)}" + (f" [{ci}]" if ci != "—" else "") + f" ({m.n})"


def _beside(claim: Claim, b: Mapping[str, Any], df: pd.DataFrame) -> str:
    d = dict(claim.data)
    if "value" in b:
        d["value"] = b["value"]
    if "arms" in b:
        d["arms"] = b["arms"]
    method = b.get("method", claim.method)
    unit = b.get("unit", "×" if method == "ratio" else claim.unit)
    try:
        m = measure(method, df, d, b.get("correlation", "pearson"))
    except NotRecorded as err:
        return f"{b['label']}: not recorded ({err})"
    return _summary_line(b["label"], m, unit)


def _claim_row(claim: Claim, results: Mapping[str, Mapping[str, Any]], profile: str) -> dict:
    """One scorecard row: the claim, its criterion, the verdict and the evidence."""
    source = claim.source(profile)
    row = {
        "id": claim.id,
        "claim": claim.claim,
        "paper": claim.paper,
        "notebook": source,
        "criterion": claim.criterion_text,
        "verdict": Verdict.NOT_RUN.value,
        "why": f"no results of {source} at this profile",
        "effect": "—",
        f"{100 * claim.criterion.level:g}% CI": "—",
        "n": "—",
        "method": METHODS[claim.method],
        "notes": "",
    }
    summary = results.get(source)
    if summary is None:
        return row
    try:
        df = claim_rows(summary, claim.data)
    except NotRecorded as err:
        row["why"] = f"not recorded: {err}"
        return row
    notes: list[str] = []
    try:
        m = measure(claim.method, df, claim.data, "pearson")
    except NotRecorded as err:
        row["why"] = f"not recorded: {err}"
    else:
        j: Judgement = judge(claim.criterion, m.estimate)
        e = m.estimate
        row.update(verdict=j.verdict.value, why=j.reason, effect=fmt(e.effect, claim.unit), n=m.n)
        row[f"{100 * claim.criterion.level:g}% CI"] = fmt_ci(e.lo, e.hi, claim.unit)
        notes += m.notes
        if e.excluded:
            notes.append("left out: " + ", ".join(e.excluded))
        fit = _fit_notes(df, claim.data, float(DEFAULTS["fit_threshold"]))
        notes += fit
        if fit and claim.data.get("matched"):
            matched = {"label": "at matched train accuracy", "value": claim.data["matched"]}
            notes.append(_beside(claim, matched, df))
        notes += _tuned_notes(summary, df, claim.data)
    notes += [_beside(claim, b, df) for b in claim.beside]
    row["notes"] = "; ".join(notes)
    return row


def claims_table(
    results: Mapping[str, Mapping[str, Any]],
    profile: str = "cpu",
    claims: tuple[Claim, ...] = CLAIMS,
) -> pd.DataFrame:
    """The paper's claims (table (a)): criterion, verdict and why, effect, CI, n, method."""
    return pd.DataFrame([_claim_row(c, results, profile) for c in claims])


# -- consistency checks (table (b)) -------------------------------------------------------------


def _fisher_batch(summary: Mapping[str, Any]) -> tuple[str, bool | None]:
    rows = pd.DataFrame(summary.get("correlation") or [])
    batch = (summary.get("params") or {}).get("batch_size")
    if not len(rows) or "mean Tr(F)/Tr(F^B)" not in rows or not batch:
        return "not recorded", None
    ratio = rows["mean Tr(F)/Tr(F^B)"].astype(float)
    ratio = ratio[np.isfinite(ratio)]
    if not len(ratio):
        return "not recorded", None
    med = float(ratio.median())
    r = rows["pearson"].astype(float) if "pearson" in rows else pd.Series(dtype=float)
    text = f"median Tr(F)/Tr(F^B) {fmt(med)} at B = {batch} over {len(ratio)} runs"
    if len(r.dropna()):
        text += f"; Pearson along each run {fmt(r.min(), 'r')} … {fmt(r.max(), 'r')}"
    return text, abs(med / batch - 1) <= 0.25


def _hessian_fisher(summary: Mapping[str, Any]) -> tuple[str, bool | None]:
    c = summary.get("correlation")
    if not isinstance(c, dict) or not c.get("points"):
        return "not recorded", None
    ratio = float(c["ratio_tr_h_over_tr_f"])
    text = (
        f"median Tr(H)/Tr(F) {fmt(ratio)} over {c['points']} points of {c['runs']} runs; "
        f"Pearson {fmt(c['pearson'], 'r')}"
    )
    return text, abs(ratio - 1) <= 0.25


def _regularisers(summary: Mapping[str, Any]) -> tuple[str, bool | None]:
    rows = pd.DataFrame(summary.get("per_run") or [])
    if not len(rows) or not {"method", "max Tr(F)"} <= set(rows.columns):
        return "not recorded", None
    if "status" in rows:
        rows = rows[rows.status == "finished"]
    means = rows.groupby("method")["max Tr(F)"].mean()
    regs = [m for m in ("fp", "gpr", "gp", "gpx") if m in means]
    if "baseline" not in means or not regs:
        return "not recorded", None
    ratios = {m: float(means[m] / means["baseline"]) for m in regs}
    text = "max Tr(F) vs the baseline: " + ", ".join(
        f"{m.upper().replace('GPX', 'GPx').replace('GPR', 'GPr')} {fmt(v, '×')}"
        for m, v in ratios.items()
    )
    return text, all(v < 1 for v in ratios.values())


CHECK_VALUES: dict[str, Callable[[Mapping[str, Any]], tuple[str, bool | None]]] = {
    "fisher_batch_identity": _fisher_batch,
    "hessian_equals_fisher": _hessian_fisher,
    "regularisers_lower_trace": _regularisers,
}


def checks_table(
    results: Mapping[str, Mapping[str, Any]], checks: tuple[Check, ...] = CHECKS
) -> pd.DataFrame:
    """Consistency checks (table (b)): value, status, why it must hold, and where."""
    rows = []
    for k in checks:
        summary = results.get(k.notebook)
        value, ok = CHECK_VALUES[k.id](summary) if summary is not None else ("—", None)
        status = "not run" if ok is None else "consistent" if ok else "inconsistent"
        rows.append(
            {
                "check": k.check,
                "paper": k.paper,
                "notebook": k.notebook,
                "value": value,
                "status": status,
                "why it must hold": k.reason,
                "holds for": k.holds_for,
            }
        )
    return pd.DataFrame(rows)


def headline(claims: pd.DataFrame, checks: pd.DataFrame) -> str:
    """The count of verdicts over the paper's claims only; the checks named apart."""
    counts = claims.verdict.value_counts()
    verdicts = ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if v in counts)
    status = checks.status.value_counts()
    checked = ", ".join(f"{n} {s}" for s, n in status.items())
    return (
        f"Paper claims ({len(claims)}): {verdicts}. "
        f"Consistency checks (identities, not counted; {len(checks)}): {checked}."
    )
