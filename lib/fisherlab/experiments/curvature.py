"""Notebook 06: early Tr(F) and the curvature of the final minimum (Section 5, Fig. 6, 13, 14;
Supplement A.4, F, I.4).

Phase 1: two runs from the same initialisation (``seed``) for ``phase1_epochs`` (paper: 20),
one with the high-regularisation setting (``high_reg``: large learning rate or small batch),
one with the low (``low_reg``); Tr(F_i) is the Tr(F) each measures at its end. Phase 2: each is
continued (``init_from``: its final weights; the optimiser's momentum restarts from zero) with
every seed of ``seeds`` under the low-regularisation setting, for the rest of the ``epochs``
(paper: 250 in all) with the learning-rate milestones shifted by ``phase1_epochs``. Every run
logs Tr(H) by Hutchinson (``hessian_probes`` Rademacher probes, paper M = 30; on the first
``batch_size`` examples of the Tr(F) probe set, true labels) at each evaluation, so Tr(H_f) is
the Tr(H) logged at the evaluation of best test accuracy (the first, on ties; the continuation's
starting point counts).

Also: Tr(H) over training for a coarse/fine hyperparameter grid (Fig. 14: ``grid_param`` takes
each value of ``grid_a`` and ``grid_b``, from scratch, each seed of ``grid_seeds``) and Tr(H)
against Tr(F) along every trajectory (Supplement F, Fig. 21).

Step-counted cadences follow notebook 02: given for ``batch_size``, rescaled for runs at other
batch sizes (:func:`fisherlab.experiments.early_phase.scaled_cadence`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fisherlab.config import ConfigError, TrainConfig
from fisherlab.experiments.early_phase import scaled_cadence
from fisherlab.notebook import NotebookParams
from fisherlab.stats import bootstrap, interval, pearson, spearman
from fisherlab.training import RunResult

__all__ = [
    "Study",
    "check",
    "continuation_table",
    "final_curvature",
    "findings",
    "grid_table",
    "hessian_fisher_correlation",
    "hessian_fisher_pairs",
    "mean_difference",
    "run_study",
    "starts_table",
]

HIGH, LOW = "high regularisation", "low regularisation"
GRID_PARAMS = ("lr", "batch_size")


def check(p: NotebookParams) -> None:
    """Validate notebook 06's own parameters (TrainConfig fields are checked on resolve)."""
    for name in ("seeds", "grid_seeds"):
        seeds = p.get(name) or []
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise ConfigError(f"{name}={seeds!r} must be a list of integers ≥ 0")
    if not p["seeds"]:
        raise ConfigError("seeds must hold at least one continuation seed")
    phase1 = p["phase1_epochs"]
    if isinstance(phase1, bool) or not isinstance(phase1, int) or not 0 < phase1 < p["epochs"]:
        raise ConfigError(
            f"phase1_epochs={phase1!r} must be an integer in (0, epochs={p['epochs']})"
        )
    for name in ("high_reg", "low_reg"):
        if not isinstance(p[name], dict) or not p[name]:
            raise ConfigError(f"{name}={p[name]!r} must be a non-empty mapping, e.g. {{lr: 0.01}}")
    if p["high_reg"] == p["low_reg"]:
        raise ConfigError("high_reg and low_reg are the same setting")
    if p["grid_param"] not in GRID_PARAMS:
        raise ConfigError(
            f"grid_param={p['grid_param']!r} is not valid; "
            f"accepted values: {', '.join(GRID_PARAMS)}"
        )
    for name in ("grid_a", "grid_b"):
        values = p.get(name) or []
        integer = p["grid_param"] == "batch_size"
        if not all(
            not isinstance(v, bool) and isinstance(v, int if integer else int | float) and v > 0
            for v in values
        ):
            raise ConfigError(f"{name}={values!r} must be a list of {p['grid_param']} values > 0")
    if (p.get("grid_a") or p.get("grid_b")) and not p.get("grid_seeds"):
        raise ConfigError("grid_seeds must hold at least one seed when grid_a or grid_b is set")
    p.positive("hessian_probes")
    n = p["bootstrap"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 100:
        raise ConfigError(f"bootstrap={n!r} must be an integer ≥ 100 (bootstrap resamples)")
    phase1_configs(p)  # validates high_reg / low_reg names and values


def _config(p: NotebookParams, changes: dict[str, Any], **more: Any) -> TrainConfig:
    values = {**changes, **more}
    bs = values.get("batch_size", p["batch_size"])
    return p.train_config(**{**scaled_cadence(p, bs), **values})


def phase1_configs(p: NotebookParams) -> dict[str, TrainConfig]:
    """{HIGH: …, LOW: …}: ``phase1_epochs`` from ``seed``'s initialisation."""
    e1 = p["phase1_epochs"]
    milestones = [m for m in p.get("lr_milestones") or [] if m < e1]
    return {
        name: _config(p, p[key], seed=p["seed"], epochs=e1, lr_milestones=milestones)
        for name, key in ((HIGH, "high_reg"), (LOW, "low_reg"))
    }


def phase2_config(p: NotebookParams, start: TrainConfig, seed: int) -> TrainConfig:
    """The low-regularisation continuation of ``start`` with ``seed``, milestones shifted."""
    e1 = p["phase1_epochs"]
    milestones = [m - e1 for m in p.get("lr_milestones") or [] if m > e1]
    return _config(
        p,
        p["low_reg"],
        seed=seed,
        epochs=p["epochs"] - e1,
        lr_milestones=milestones,
        init_from=start.key(),
    )


def grid_configs(p: NotebookParams) -> dict[tuple[str, float, int], TrainConfig]:
    """{("A" | "B", value, seed): config}: Fig. 14's runs from scratch for ``epochs``."""
    name = p["grid_param"]
    return {
        (group, v, s): _config(p, {name: v}, seed=s)
        for group in ("A", "B")
        for v in p.get(f"grid_{group.lower()}") or []
        for s in p.get("grid_seeds") or []
    }


@dataclass
class Study:
    starts: dict[str, RunResult]  # HIGH / LOW → phase-1 run
    continuations: dict[tuple[str, int], RunResult]  # (start, seed) → phase-2 run
    grid: dict[tuple[str, float, int], RunResult] = field(default_factory=dict)


def run_study(p: NotebookParams) -> Study:
    """Phase 1 together with the grid runs (one sweep), then the continuations of each start that
    finished (a second sweep: they need phase 1's weights)."""
    check(p)
    first = phase1_configs(p)
    grid = grid_configs(p)
    results = p.sweep([*first.values(), *grid.values()], "phase 1 and the Tr(H) grid")
    starts = dict(zip(first, results[: len(first)], strict=True))
    grid_runs = dict(zip(grid, results[len(first) :], strict=True))
    second = {
        (name, s): phase2_config(p, first[name], s)
        for name in first
        if starts[name].summary.get("status") == "finished"
        for s in p["seeds"]
    }
    continuations = dict(zip(second, p.sweep(list(second.values()), "phase 2"), strict=True))
    return Study(starts, continuations, grid_runs)


# -- per-run numbers ---------------------------------------------------------------------------


def _series(history: pd.DataFrame, metric: str) -> pd.Series:
    h = history[history.metric == metric].sort_values("step")
    return pd.Series(h.value.to_numpy(), index=h.step.to_numpy(), dtype=float)


def final_curvature(history: pd.DataFrame) -> dict[str, float]:
    """Best test accuracy along the run, the step (and epoch) of its first occurrence, and Tr(H_f):
    the Tr(H) logged at that evaluation (NaN when none was)."""
    nan = float("nan")
    out = {"best_test_acc": nan, "best_step": nan, "best_epoch": nan, "trace_hessian_f": nan}
    test = _series(history, "test_acc")
    if not len(test):
        return out
    step = test.idxmax()  # the first maximum
    out["best_test_acc"], out["best_step"] = float(test[step]), float(step)
    epochs = history[(history.metric == "test_acc") & (history.step == step)].epoch
    out["best_epoch"] = float(epochs.iloc[0]) if len(epochs) else nan
    hessian = _series(history, "trace_hessian")
    if step in hessian.index:
        out["trace_hessian_f"] = float(hessian[step])
    return out


def final_trace_fisher(history: pd.DataFrame) -> float:
    f = _series(history, "trace_fisher")
    return float(f.iloc[-1]) if len(f) else float("nan")


def _changes_text(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in changes.items())


def starts_table(study: Study, p: NotebookParams) -> pd.DataFrame:
    """The two phase-1 runs: their setting, Tr(F_i) at the end, test accuracy there."""
    rows = []
    for name, r in study.starts.items():
        key = "high_reg" if name == HIGH else "low_reg"
        rows.append(
            {
                "start": name,
                "setting": _changes_text(p[key]),
                "status": r.summary.get("status"),
                "epochs": r.summary.get("epochs"),
                "Tr(F_i)": final_trace_fisher(r.history),
                "Tr(H) at the end": _series(r.history, "trace_hessian").iloc[-1]
                if len(_series(r.history, "trace_hessian"))
                else np.nan,
                "test acc at the end (%)": 100 * (r.summary.get("final_test_acc") or np.nan),
            }
        )
    return pd.DataFrame(rows)


def continuation_table(study: Study, starts: pd.DataFrame) -> pd.DataFrame:
    """One row per continuation: its start and that start's Tr(F_i), best test accuracy (%),
    where it was reached, and Tr(H_f)."""
    f_i = starts.set_index("start")["Tr(F_i)"]
    rows = []
    for (name, seed), r in study.continuations.items():
        c = final_curvature(r.history)
        rows.append(
            {
                "start": name,
                "seed": seed,
                "status": r.summary.get("status"),
                "Tr(F_i) of start": float(f_i.get(name, np.nan)),
                "best test acc (%)": 100 * c["best_test_acc"],
                "epoch of best": c["best_epoch"],
                "Tr(H_f)": c["trace_hessian_f"],
                "final train acc (%)": 100 * (r.summary.get("final_train_acc") or np.nan),
            }
        )
    columns = ["start", "seed", "status", "Tr(F_i) of start", "best test acc (%)"]
    columns += ["epoch of best", "Tr(H_f)", "final train acc (%)"]
    return pd.DataFrame(rows, columns=columns)


def grid_table(study: Study, p: NotebookParams) -> pd.DataFrame:
    """Fig. 14's legend numbers per grid value: minimum train loss (ℓ) and best test accuracy (TA)
    along the trajectory, and Tr(H) at the first evaluation after the start and at the end —
    means over seeds."""
    rows = []
    for (group, value, seed), r in study.grid.items():
        h = _series(r.history, "trace_hessian")
        loss = _series(r.history, "train_loss")
        rows.append(
            {
                "group": group,
                p["grid_param"]: value,
                "seed": seed,
                "min train loss": float(loss.min()) if len(loss) else np.nan,
                "best test acc (%)": 100 * (r.summary.get("best_test_acc") or np.nan),
                "first Tr(H)": float(h[h.index > 0].iloc[0]) if (h.index > 0).any() else np.nan,
                "final Tr(H)": float(h.iloc[-1]) if len(h) else np.nan,
            }
        )
    df = pd.DataFrame(rows)
    if not len(df):
        return df
    g = df.groupby(["group", p["grid_param"]], sort=False)
    out = g[["min train loss", "best test acc (%)", "first Tr(H)", "final Tr(H)"]].mean()
    out.insert(0, "seeds", g.size())
    return out.reset_index()


# -- statistics --------------------------------------------------------------------------------


def mean_difference(
    a: Any, b: Any, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """mean(a) − mean(b) and a percentile bootstrap CI resampling each group on its own."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return float("nan"), float("nan"), float("nan")
    values = np.r_[a, b]
    strata = np.r_[np.zeros(len(a), dtype=int), np.ones(len(b), dtype=int)]

    def stat(x: np.ndarray, _y: np.ndarray, s: np.ndarray) -> float:
        return float(x[s == 0].mean() - x[s == 1].mean())

    reps = bootstrap(values, values, stat, strata=strata, n=n_boot, seed=seed)
    lo, hi = interval(reps, level) if len(a) > 1 or len(b) > 1 else (np.nan, np.nan)
    return float(a.mean() - b.mean()), lo, hi


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
    independent); also the median of the per-run Pearson."""
    pairs = pairs.astype({"Tr(H)": float, "Tr(F)": float})
    ok = pairs[np.isfinite(pairs["Tr(H)"]) & np.isfinite(pairs["Tr(F)"])]
    runs = list(dict.fromkeys(ok.run))
    by_run = {r: ok[ok.run == r] for r in runs}
    x_all, y_all = ok["Tr(F)"].to_numpy(float), ok["Tr(H)"].to_numpy(float)
    positive = (x_all > 0) & (y_all > 0)
    stats = {
        "pearson": lambda x, y: pearson(x, y),
        "pearson_log": lambda x, y: pearson(
            np.log(x[(x > 0) & (y > 0)]), np.log(y[(x > 0) & (y > 0)])
        ),
        "spearman": lambda x, y: spearman(x, y),
    }
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
        out[k] = f(x_all, y_all) if (k != "pearson_log" or positive.sum() >= 3) else np.nan
        r = np.asarray(reps[k], dtype=float)
        out[f"{k}_ci"] = list(interval(r[np.isfinite(r)], level))
    per_run = [pearson(d["Tr(F)"], d["Tr(H)"]) for d in by_run.values()]
    per_run = [v for v in per_run if np.isfinite(v)]
    out["median_per_run_pearson"] = float(np.median(per_run)) if per_run else np.nan
    out["ratio_tr_h_over_tr_f"] = (
        float(np.median(y_all[positive] / x_all[positive])) if positive.any() else np.nan
    )
    return out


# -- findings ----------------------------------------------------------------------------------


def _ci(lo: float, hi: float) -> str:
    return f"95% CI {lo:+.4g} … {hi:+.4g}" if np.isfinite(lo) else "no CI (too few runs)"


def findings(
    starts: pd.DataFrame,
    continuations: pd.DataFrame,
    correlation: dict[str, Any] | None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """The claim's numbers: which start had the lower Tr(F_i); mean Tr(H_f) of its continuations
    minus the other start's, with a bootstrap CI (and the same for best test accuracy); the
    Tr(H)–Tr(F) correlation (Supplement F)."""
    lines: list[str] = []
    numbers: dict[str, Any] = {}
    s = starts.set_index("start")
    if not {HIGH, LOW} <= set(s.index) or not np.isfinite(s["Tr(F_i)"]).all():
        return {"lines": ["A phase-1 run did not finish: no comparison."]}
    low_start = s["Tr(F_i)"].idxmin()
    high_start = HIGH if low_start == LOW else LOW
    f_low, f_high = float(s.loc[low_start, "Tr(F_i)"]), float(s.loc[high_start, "Tr(F_i)"])
    numbers.update(
        trace_fisher_i_high_reg=float(s.loc[HIGH, "Tr(F_i)"]),
        trace_fisher_i_low_reg=float(s.loc[LOW, "Tr(F_i)"]),
        low_trace_fisher_start=low_start,
    )
    lines.append(
        f"Tr(F_i) after phase 1: {HIGH} {s.loc[HIGH, 'Tr(F_i)']:.4g}, {LOW} "
        f"{s.loc[LOW, 'Tr(F_i)']:.4g} — the {low_start} start has the lower Tr(F_i) "
        f"({f_high / f_low:.2f}× lower)"
        + (
            ", as the paper expects."
            if low_start == HIGH
            else ", the opposite of the paper's setup."
        )
    )
    ok = continuations[continuations.status == "finished"]
    groups = {k: ok[ok.start == k] for k in (low_start, high_start)}
    counts = {k: len(v) for k, v in groups.items()}
    for col, key, unit in (
        ("Tr(H_f)", "trace_hessian_difference", ""),
        ("best test acc (%)", "best_test_difference_pts", " points"),
    ):
        d, lo, hi = mean_difference(
            groups[low_start][col], groups[high_start][col], n_boot=n_boot, seed=seed
        )
        numbers[key], numbers[f"{key}_ci"] = d, [lo, hi]
        numbers[f"mean_{key.split('_difference')[0]}_low_start"] = float(
            groups[low_start][col].mean()
        )
        numbers[f"mean_{key.split('_difference')[0]}_high_start"] = float(
            groups[high_start][col].mean()
        )
        lines.append(
            f"Mean {col} of the continuations (low-Tr(F_i) start minus high; {counts[low_start]} "
            f"and {counts[high_start]} seeds): {groups[low_start][col].mean():.4g} − "
            f"{groups[high_start][col].mean():.4g} = {d:+.4g}{unit} ({_ci(lo, hi)})."
        )
    d, lo, hi = numbers["trace_hessian_difference"], *numbers["trace_hessian_difference_ci"]
    flatter = bool(d < 0 and np.isfinite(hi) and hi < 0)
    numbers["low_start_flatter"] = flatter
    lines.append(
        "The paper's claim (the low-Tr(F_i) start ends in flatter minima, lower Tr(H_f)) "
        + (
            "holds here: the difference is negative and its CI excludes 0."
            if flatter
            else "does not show here at 95% confidence"
            + (" (the difference is positive)." if d > 0 else ".")
        )
    )
    if correlation and correlation.get("points"):
        c = correlation
        numbers["pearson_trace_hessian_vs_fisher"] = c["pearson"]
        numbers["pearson_trace_hessian_vs_fisher_ci"] = c["pearson_ci"]
        numbers["spearman_trace_hessian_vs_fisher"] = c["spearman"]
        lines.append(
            f"Supplement F: over {c['points']} points of {c['runs']} trajectories, Pearson "
            f"r(Tr(H), Tr(F)) = {c['pearson']:+.3f} ({_ci(*c['pearson_ci'])}), log-log "
            f"{c['pearson_log']:+.3f}, Spearman {c['spearman']:+.3f}; median per-run Pearson "
            f"{c['median_per_run_pearson']:+.3f}; median Tr(H)/Tr(F) "
            f"{c['ratio_tr_h_over_tr_f']:.3g}."
        )
    return {"lines": lines, **numbers}
