"""Notebook 00: the reproduction scorecard — the paper's claims judged on runs, apart from the
consistency checks that hold by construction.

The claims, their criteria and the checks are plain data in ``params/claims.yaml``, fixed before
the runs. For each claim this module reads the per-run rows its notebook recorded
(``outputs/<profile>/<notebook>/summary.json``), estimates the effect over runs with a bootstrap
CI (``fisherlab.stats``) and judges it (``fisherlab.verdicts``): reproduced, contradicted, not
shown, inconclusive or not run. Only the claims are counted in the headline. The checks
(E[Tr(F^B)] = Tr(F)/B, Tr(H) = Tr(F) for piecewise-linear nets, regularisers lowering Tr(F)) are
shown with their value, the reason they must hold and where.

What each notebook must record for its claims (a table in summary.json, one row per run, with
``seed`` and ``status`` columns; accuracies in percent unless ``accuracy_as: fraction``).
``required_columns()`` prints the same from the YAML, and a test keeps this list in step:

- 01_fisher_explosion ``per_run``: arm (η*, small LR), horizon, seed, status,
  early max Tr(F), max Tr(F), test acc at best val, final test acc, final train acc,
  test acc at matched train acc (at profile cpu, the long-horizon claim reads profile cpu-long)
- 02_early_phase_correlation ``per_run``: sweep, setting, seed, status, Tr(F_i),
  test acc at best val (%), best test acc (%);
  ``supplement_e``: arm (small_batch, large_batch, large_batch_half_lr, large_batch_fp), seed,
  status, max Tr(F), test acc at best val (%), final train acc (%)
- 03_fisher_penalty ``per_run``: method (eta_star, baseline, fp, gp, gpx, gpr), seed, status,
  test acc at best val, final test acc, final train acc, test acc at matched train acc,
  max Tr(F); ``table2``: method (eta_star, fp), seed, status, test acc at best val,
  final train acc; ``supplement_c``: method (fp_f1, fp_f10), seed, status,
  test acc at best val; ``correlation``: mean Tr(F)/Tr(F^B), pearson (one row per run)
- 04_delayed_fisher_penalty ``per_run``: start epoch, seed, status, test acc at best val,
  final test acc, final train acc
- 05_memorization ``per_run``: noise level, method (baseline, fp, gpr, gpx, mixup), selected,
  seed, status, test acc at best val, final train acc clean, final train acc noisy,
  grad-norm ratio clean/noisy (mean), early cosine (mean)
- 06_curvature_histograms ``continuations``: start (high regularisation, low regularisation),
  phase-1 seed, seed, status, Tr(H_f), Tr(F_i) of start, best test acc (%); ``grid``: group
  (A, B), lr, seed, status, test acc at best val (%), best test acc (%); ``correlation``:
  ratio_tr_h_over_tr_f, pearson, runs

Where a column is missing the claim is "not run" and says which column; where fewer than 3
runs per arm are usable it is "inconclusive: n < 3".
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from fisherlab import stats
from fisherlab.verdicts import (
    Criterion,
    Estimate,
    Judgement,
    RunValue,
    Verdict,
    compare_arms,
    judge,
    usable_runs,
)

__all__ = [
    "CHECKS",
    "CLAIMS",
    "checks_table",
    "claims_table",
    "export_html",
    "fmt",
    "headline",
    "load_results",
    "render_results",
    "required_columns",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLAIMS_FILE = REPO_ROOT / "params" / "claims.yaml"
NOTEBOOKS = tuple(
    "01_fisher_explosion 02_early_phase_correlation 03_fisher_penalty 04_delayed_fisher_penalty "
    "05_memorization 06_curvature_histograms".split()
)
METHODS = {
    "difference": "difference of means; bootstrap over each arm's runs",
    "ratio": "ratio of means; log-scale bootstrap over each arm's runs",
    "gap_fraction": "share of the η*–baseline gap; bootstrap over each arm's runs",
    "correlation": "correlation over runs; hierarchical bootstrap (settings, then seeds)",
    "ordering": "lowest B minus highest A setting mean; seeds resampled within settings",
}
UNITS = ("pts", "%", "×", "r", "share", "")
VERDICT_ORDER = [v.value for v in Verdict]


# -- formatting: one helper for every number the report prints ---------------------------------


def _sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, without an exponent; integers stay whole."""
    if value == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return f"{value:.{decimals}f}"


def fmt(value: float | None, unit: str = "", *, sign: bool | None = None) -> str:
    """A number as the report prints it: accuracy in % (``%``, 1 decimal) and accuracy
    differences in points (``pts``, signed, 1 decimal), ratios to 3 significant figures
    (``×``), correlations signed to 2 decimals (``r``), shares of a gap in % (``share``),
    anything else to 3 significant figures. ``—`` for a missing or non-finite value."""
    if value is None or not math.isfinite(value):
        return "—"
    signed = unit in ("pts", "r", "share") if sign is None else sign
    plus = "+" if signed and value > 0 else ""
    minus = "−" if value < 0 else ""
    mag = abs(value)
    if unit == "pts":
        return f"{plus}{minus}{mag:.1f} pts"
    if unit == "%":
        return f"{minus}{mag:.1f}%"
    if unit == "×":
        return f"{minus}{_sig(mag)}×"
    if unit == "r":
        return f"{plus}{minus}{mag:.2f}"
    if unit == "share":
        return f"{plus}{minus}{100 * mag:.0f}%"
    return f"{plus}{minus}{_sig(mag)}"


def fmt_ci(lo: float, hi: float, unit: str = "") -> str:
    """``lo … hi`` with the unit once (``+0.4 … +2.9 pts``); ``—`` without a CI."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    suffix = {"pts": " pts", "×": "×"}.get(unit, "")
    a, b = (fmt(v, unit).removesuffix(suffix) for v in (lo, hi))
    return f"{a} … {b}{suffix}"


# -- the claims and checks, from params/claims.yaml ---------------------------------------------

_CLAIM_KEYS = set(
    "id claim paper quote paper_number notebook statistic method direction smallest unit data "
    "beside results_profile level".split()
)
_DATA_KEYS = set(
    "table arm arms value minus where at_max fit matched cluster x setting accuracy_as".split()
)
_BESIDE_KEYS = {"label", "value", "arms", "method", "unit", "correlation"}
_CHECK_KEYS = {"id", "check", "paper", "notebook", "reason", "holds_for"}


@dataclass(frozen=True)
class Claim:
    """One empirical claim of the paper and the criterion it is judged by."""

    id: str
    claim: str
    paper: str
    quote: str
    paper_number: str
    notebook: str
    statistic: str
    method: str
    criterion: Criterion
    unit: str
    data: Mapping[str, Any]
    beside: tuple[Mapping[str, Any], ...] = ()
    results_profile: Mapping[str, str] = field(default_factory=dict)

    def source(self, profile: str) -> str:
        """The key of the results it reads at ``profile``: its notebook, or
        ``<other profile>/<notebook>`` when the claim is tested at another profile."""
        other = self.results_profile.get(profile, profile)
        return self.notebook if other == profile else f"{other}/{self.notebook}"

    @property
    def criterion_text(self) -> str:
        c, u = self.criterion, self.unit
        ci = f"{100 * c.level:g}% CI"
        if c.direction == "equal":
            return f"|effect| < {fmt(c.smallest, u, sign=False)}, {ci} inside"
        if c.scale == "log":
            bound = c.smallest if c.direction == "greater" else 1 / c.smallest
            op = "≥" if c.direction == "greater" else "≤"
            side = "above" if c.direction == "greater" else "below"
            return f"{op} {fmt(bound, u)}, {ci} {side} 1×"
        op, side = ("≥", "above") if c.direction == "greater" else ("≤", "below")
        bound = c.smallest if c.direction == "greater" else -c.smallest
        return f"{op} {fmt(bound, u, sign=True)}, {ci} {side} 0"


@dataclass(frozen=True)
class Check:
    """An identity or mechanical consequence: shown with its value, never counted."""

    id: str
    check: str
    paper: str
    notebook: str
    reason: str
    holds_for: str


def _known(kind: str, name: str, given: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(
            f"{kind} {name!r}: unknown key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(sorted(allowed))}"
        )


def load_claims(path: str | Path = CLAIMS_FILE) -> tuple[tuple[Claim, ...], tuple[Check, ...]]:
    """The claims and checks of ``params/claims.yaml``, validated (unknown keys, methods and
    units are errors naming the entry and the accepted values)."""
    spec = yaml.safe_load(Path(path).read_text())
    d = spec["defaults"]
    claims = []
    for c in spec["claims"]:
        _known("claim", c.get("id"), c, _CLAIM_KEYS)
        _known("claim data of", c["id"], c["data"], _DATA_KEYS)
        for b in c.get("beside", []):
            _known("beside of", c["id"], b, _BESIDE_KEYS)
        if c["method"] not in METHODS:
            raise ValueError(
                f"claim {c['id']!r}: method={c['method']!r} is not valid; "
                f"accepted values: {list(METHODS)}"
            )
        if c["unit"] not in UNITS:
            raise ValueError(
                f"claim {c['id']!r}: unit={c['unit']!r} is not valid; accepted values: {UNITS}"
            )
        criterion = Criterion(
            direction=c["direction"],
            smallest=float(c["smallest"]),
            level=float(c.get("level", d["level"])),
            scale="log" if c["method"] == "ratio" else "linear",
            min_runs=int(d["min_runs"]),
        )
        claims.append(
            Claim(
                **{k: c[k] for k in ("id", "claim", "paper", "quote", "notebook", "method")},
                paper_number=c["paper_number"],
                statistic=c["statistic"],
                criterion=criterion,
                unit=c["unit"],
                data=c["data"],
                beside=tuple(c.get("beside", ())),
                results_profile=c.get("results_profile", {}),
            )
        )
    checks = []
    for k in spec["checks"]:
        _known("check", k.get("id"), k, _CHECK_KEYS)
        checks.append(Check(**k))
    if len({c.id for c in claims} | {k.id for k in checks}) != len(claims) + len(checks):
        raise ValueError(f"{path}: claim and check ids must be unique")
    return tuple(claims), tuple(checks)


CLAIMS, CHECKS = load_claims()
_DEFAULTS = yaml.safe_load(CLAIMS_FILE.read_text())["defaults"]


def required_columns(claims: tuple[Claim, ...] = CLAIMS) -> pd.DataFrame:
    """Per notebook and table: the columns the claims read (what a notebook must record)."""
    need: dict[tuple[str, str], dict[str, list[str]]] = {}
    for c in claims:
        d = c.data
        cols = [d.get("arm"), d.get("setting"), *d.get("where", {}), d.get("at_max"), "seed"]
        cols += ["status", d.get("cluster"), d.get("x"), d.get("value"), d.get("minus")]
        cols += [d.get("fit"), d.get("matched"), *(b.get("value") for b in c.beside)]
        entry = need.setdefault((c.notebook, d["table"]), {"columns": [], "claims": []})
        entry["columns"] += [x for x in cols if x and x not in entry["columns"]]
        entry["claims"].append(c.id)
    return pd.DataFrame(
        [
            {
                "notebook": nb,
                "table": t,
                "columns": ", ".join(e["columns"]),
                "claims": ", ".join(e["claims"]),
            }
            for (nb, t), e in need.items()
        ]
    )


# -- results -----------------------------------------------------------------------------------


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


class NotRecorded(Exception):
    """The notebook's summary lacks a table or column a claim needs (the message names it)."""


def _need(df: pd.DataFrame, *cols: str | None) -> None:
    missing = [c for c in cols if c and c not in df.columns]
    if missing:
        raise NotRecorded("no column " + ", ".join(f"'{c}'" for c in missing))


def _rows(summary: Mapping[str, Any], d: Mapping[str, Any]) -> pd.DataFrame:
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


def _arm_frames(df: pd.DataFrame, d: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
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


def _seeds(frames: Mapping[str, pd.DataFrame]) -> str:
    seeds = sorted({s for f in frames.values() if "seed" in f for s in f["seed"].tolist()})
    return f"; seeds {', '.join(map(str, seeds))}" if seeds else "; seeds not recorded"


@dataclass
class Measured:
    estimate: Estimate
    n: str  # runs per arm (or per setting), in words
    notes: list[str] = field(default_factory=list)


def _level() -> float:
    return float(_DEFAULTS["level"])


def _boot() -> dict[str, Any]:
    return {"n_boot": int(_DEFAULTS["bootstrap"]), "seed": int(_DEFAULTS["seed"])}


def _two_arms(df: pd.DataFrame, d: Mapping[str, Any], statistic: str) -> Measured:
    frames = _arm_frames(df, d)
    arms = {label: _run_values(label, f, d) for label, f in frames.items()}
    e = compare_arms(arms, statistic, level=_level(), **_boot())
    n = " · ".join(f"{k} {v}" for k, v in e.runs.items())
    unit_word = "phase-1 runs" if d.get("cluster") else "runs"
    notes = []
    if d.get("cluster") and d["cluster"] not in df:
        notes.append(f"'{d['cluster']}' not recorded: each arm's runs counted as one unit")
    return Measured(e, f"{n} {unit_word}{_seeds(frames)}", notes)


def _gap_fraction(df: pd.DataFrame, d: Mapping[str, Any]) -> Measured:
    frames = _arm_frames(df, d)
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
    frames = _arm_frames(df, d)
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


def _measure(method: str, df: pd.DataFrame, d: Mapping[str, Any], corr: str) -> Measured:
    if method in ("difference", "ratio"):
        return _two_arms(df, d, method)
    if method == "gap_fraction":
        return _gap_fraction(df, d)
    if method == "correlation":
        return _correlation(df, d, corr)
    return _ordering(df, d)


def _fit_notes(df: pd.DataFrame, d: Mapping[str, Any], threshold: float) -> list[str]:
    """Arms whose mean final train accuracy is under ``threshold`` (%), by name."""
    if not d.get("fit") or d["fit"] not in df or d.get("arm") not in df:
        return []
    notes = []
    for label, f in _arm_frames(df, d).items():
        ok = f[f.status == "finished"] if "status" in f else f
        acc = ok[d["fit"]].astype(float).mean()
        if math.isfinite(acc) and acc < threshold:
            notes.append(f"{label} ends at {fmt(acc, '%')} train accuracy (< {threshold:g}%)")
    return notes


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
        m = _measure(method, df, d, b.get("correlation", "pearson"))
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
        df = _rows(summary, claim.data)
    except NotRecorded as err:
        row["why"] = f"not recorded: {err}"
        return row
    notes: list[str] = []
    try:
        m = _measure(claim.method, df, claim.data, "pearson")
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
        fit = _fit_notes(df, claim.data, float(_DEFAULTS["fit_threshold"]))
        notes += fit
        if fit and claim.data.get("matched"):
            matched = {"label": "at matched train accuracy", "value": claim.data["matched"]}
            notes.append(_beside(claim, matched, df))
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


# -- README section ------------------------------------------------------------------------------

README = REPO_ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _md(df: pd.DataFrame) -> str:
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def render_results(root: str | Path, profile: str = "cpu") -> str:
    """The README's generated results section: headline, the claims and the checks, computed
    from the summaries under ``root`` (``outputs/<profile>``)."""
    results = load_results(root, profile)
    claims, checks = claims_table(results, profile), checks_table(results)
    ci = next(c for c in claims.columns if c.endswith("CI"))
    return "\n\n".join(
        [
            f"<!-- generated by `python -m fisherlab.report --readme` from "
            f"outputs/{profile}/*/summary.json; edit params/claims.yaml, not this text -->",
            f"**Scorecard at the {profile} profile.** {headline(claims, checks)}",
            _md(claims[["claim", "paper", "criterion", "verdict", "why", "effect", ci, "n"]]),
            "**Consistency checks** (identities and mechanical consequences, not counted):",
            _md(checks[["check", "paper", "value", "status", "holds for"]]),
        ]
    )


def readme_with_results(text: str, section: str) -> str:
    """``text`` with what lies between the results markers replaced by ``section``."""
    if START not in text or END not in text:
        raise ValueError(f"README has no {START} … {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{section}\n{END}{tail}"


# -- HTML export ---------------------------------------------------------------------------------

_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{% block html_head_js_requirejs %}{% endblock html_head_js_requirejs %}
{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}
{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""
_WIDGET = "application/vnd.jupyter.widget-view+json"


def export_html(executed: str | Path, html: str | Path | None = None) -> Path:
    """The executed report as one HTML page that works offline: code cells hidden, no scripts
    from a CDN (require.js, MathJax, Mermaid, the widget renderer), no widget outputs (the run
    explorer lives in JupyterLab only), no stderr, and no absolute path of this machine."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.output_type == "stream" and o.get("name") == "stderr")
                and _WIDGET not in o.get("data", {})
            ]
    exporter = HTMLExporter(
        extra_loaders=[DictLoader({"offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    for path, short in ((f"{REPO_ROOT}/", ""), (str(REPO_ROOT), "."), (str(Path.home()), "~")):
        body = body.replace(path, short)
    out = Path(html) if html else Path(executed).with_suffix(".html")
    out.write_text(body)
    return out


def main(argv: list[str] | None = None) -> int:
    """python -m fisherlab.report [--readme] [--html EXECUTED.ipynb]: print the README's results
    section (or rewrite it in README.md), or export an executed notebook 00 as offline HTML."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--readme", action="store_true", help="rewrite README.md's section")
    parser.add_argument("--profile", default="cpu", help="whose outputs/<profile>/ to read")
    parser.add_argument("--html", help="an executed 00_reproduction_report.ipynb to export")
    args = parser.parse_args(argv)
    if args.html:
        print(f"report: {export_html(args.html)}")
        return 0
    section = render_results(REPO_ROOT / "outputs" / args.profile, args.profile)
    if not args.readme:
        print(section)
        return 0
    README.write_text(readme_with_results(README.read_text(), section))
    print(f"README.md: results section regenerated from outputs/{args.profile}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
