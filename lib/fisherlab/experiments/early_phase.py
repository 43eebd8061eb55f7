"""Notebook 02: early-phase Tr(F) predicts final generalisation (Section 3, Fig. 2, 7, 8, 9;
Supplement E, Fig. 19, 20).

Two sweeps, each with every seed: the learning rate at a fixed batch size (Fig. 2) and the batch
size at a fixed learning rate (Fig. 7). For every run:

- ``Tr(F_i)``: Tr(F) when the training loss first crosses the threshold ε (paper: 1.2 on
  CIFAR-10, 3.5 on CIFAR-100/ImageNet), on the fixed probe set (paper: 5,000 examples).
  Taken post hoc from the run's history: the crossing is the first logged ``train_loss`` window
  (the mean over the last ``log_every`` steps, logged at the window's last step) below ε, and
  Tr(F_i) is the first Tr(F) measurement at or after that step. The approximation is the window
  (the loss of single steps inside it is not seen) plus the lag to the next measurement, which
  is recorded per run (``Tr(F) lag (steps)``); measure Tr(F) densely early (``fisher_every``
  over ``fisher_dense_until``) to keep it small.
- test accuracy: the maximum along the trajectory (at the evaluations); train accuracy (Fig. 8,
  9): the maximum of the running per-epoch train accuracy and the final full-set accuracy.

Correlations of Tr(F_i) with both accuracies over runs (per sweep and pooled), Pearson and
Spearman (= Pearson of ranks), with percentile bootstrap CIs that resample runs within each
setting (numpy only). Step-counted cadences (``fisher_every``, ``fisher_dense_until``,
``fisher_every_late``, ``log_every``) are given for ``batch_size``; runs at another batch size
scale them so that they fall after the same number of examples.

Supplement E (behind ``supplement_e``): Tr(F) at every iteration for small vs large batches
(Fig. 19), and the Fisher penalty at half the learning rate closing the large-batch gap (Fig. 20).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fisherlab.config import ConfigError, TrainConfig
from fisherlab.notebook import NotebookParams
from fisherlab.stats import Stat, bootstrap, interval, pearson, rankdata, spearman
from fisherlab.training import RunResult

__all__ = [
    "Study",
    "bootstrap",
    "check",
    "correlation_table",
    "early_trace_fisher",
    "findings",
    "group_table",
    "pearson",
    "per_run_table",
    "rankdata",
    "run_study",
    "scaled_cadence",
    "spearman",
    "supplement_e_findings",
    "supplement_e_table",
]

LR_SWEEP, BATCH_SWEEP = "learning rate", "batch size"
ACCURACIES = {"best test acc (%)": "test", "max train acc (%)": "train"}

# -- statistics (rank, correlation, bootstrap: fisherlab.stats) ----------------------------------


def group_means(x: np.ndarray, y: np.ndarray, strata: np.ndarray) -> tuple[np.ndarray, ...]:
    keys = list(dict.fromkeys(strata.tolist()))
    return (
        np.array([x[strata == k].mean() for k in keys]),
        np.array([y[strata == k].mean() for k in keys]),
    )


# -- parameters and configs --------------------------------------------------------------------


def _positive_list(p: NotebookParams, name: str, *, integer: bool, allow_empty: bool) -> list:
    values = p.get(name)
    if values is None:
        values = []
    ok = isinstance(values, list) and all(
        not isinstance(v, bool)
        and isinstance(v, int if integer else int | float)
        and np.isfinite(v)
        and v > 0
        for v in values
    )
    if not ok or (not values and not allow_empty):
        kind = "integers" if integer else "numbers"
        empty = "" if allow_empty else "non-empty "
        raise ConfigError(f"{name}={values!r} must be a {empty}list of {kind} > 0")
    return values


def check(p: NotebookParams) -> None:
    """Validate notebook 02's own parameters (TrainConfig fields are checked on resolve)."""
    seeds = p["seeds"]
    if not seeds or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds
    ):
        raise ConfigError(f"seeds={seeds!r} must be a non-empty list of integers ≥ 0")
    lrs = _positive_list(p, "lr_grid", integer=False, allow_empty=True)
    sizes = _positive_list(p, "batch_sizes", integer=True, allow_empty=True)
    if not lrs and not sizes:
        raise ConfigError("lr_grid and batch_sizes are both empty: nothing to sweep")
    if sizes:
        p.positive("batch_lr")
    p.positive("loss_threshold")
    n = p["bootstrap"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 100:
        raise ConfigError(f"bootstrap={n!r} must be an integer ≥ 100 (bootstrap resamples)")
    if not isinstance(p["supplement_e"], bool):
        raise ConfigError(f"supplement_e={p['supplement_e']!r} must be true or false")
    if p["supplement_e"]:
        if len(_positive_list(p, "e_batch_sizes", integer=True, allow_empty=False)) < 2:
            raise ConfigError("e_batch_sizes must hold at least two batch sizes (small, large)")
        p.positive("e_lr")
        p.positive("e_lr_divisor")
        _positive_list(p, "e_alphas", integer=False, allow_empty=False)
        every = p["e_penalty_every"]
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"e_penalty_every={every!r} must be an integer ≥ 1")
        if not isinstance(p.get("e_changes") or {}, dict):
            raise ConfigError("e_changes must be a mapping of TrainConfig fields to values")
        supplement_e_configs(p)  # validates e_changes' names and values


def scaled_cadence(p: NotebookParams, batch_size: int) -> dict[str, Any]:
    """Step-counted cadences for a run at ``batch_size``: the parameters' values (given for
    ``p['batch_size']``) rescaled to fall after the same number of training examples."""
    k = p["batch_size"] / batch_size
    if k == 1:
        return {}

    def steps(name: str, minimum: int) -> int | None:
        v = p.get(name)
        return None if v is None else max(minimum, round(v * k))

    return {
        "fisher_every": steps("fisher_every", 1),
        "fisher_dense_until": steps("fisher_dense_until", 0),
        "fisher_every_late": steps("fisher_every_late", 1),
        "log_every": steps("log_every", 1),
    }


def run_config(p: NotebookParams, lr: float, batch_size: int, seed: int) -> TrainConfig:
    return p.train_config(lr=lr, batch_size=batch_size, seed=seed, **scaled_cadence(p, batch_size))


def sweep_configs(p: NotebookParams) -> dict[tuple[str, float, int], TrainConfig]:
    """{(sweep, swept value, seed): config} for the learning-rate and batch-size sweeps."""
    configs = {}
    for lr in p.get("lr_grid") or []:
        for s in p["seeds"]:
            configs[(LR_SWEEP, float(lr), s)] = run_config(p, lr, p["batch_size"], s)
    for bs in p.get("batch_sizes") or []:
        for s in p["seeds"]:
            configs[(BATCH_SWEEP, bs, s)] = run_config(p, p["batch_lr"], bs, s)
    return configs


def supplement_e_configs(p: NotebookParams) -> dict[str, TrainConfig]:
    """Fig. 19: each of ``e_batch_sizes`` at ``e_lr``; Fig. 20: the largest batch at
    ``e_lr / e_lr_divisor`` without and with FP (each α of ``e_alphas``, recomputed every
    ``e_penalty_every`` steps). ``e_changes`` (e.g. SimpleCNN, Tr(F) every step on 128 examples)
    applies to all of them; first seed."""
    changes = dict(p.get("e_changes") or {})
    seed = p["seeds"][0]
    large = max(p["e_batch_sizes"])
    lr2 = p["e_lr"] / p["e_lr_divisor"]

    def cfg(**kw: Any) -> TrainConfig:
        return p.train_config(**{"seed": seed, **changes, **kw})

    out = {
        f"batch {bs}, lr={p['e_lr']:g}": cfg(lr=p["e_lr"], batch_size=bs)
        for bs in p["e_batch_sizes"]
    }
    out[f"batch {large}, lr={lr2:g}"] = cfg(lr=lr2, batch_size=large)
    for a in p["e_alphas"]:
        out[f"batch {large}, lr={lr2:g}, FP α={a:g}"] = cfg(
            lr=lr2,
            batch_size=large,
            regularizer="fp",
            alpha=a,
            penalty_every=p["e_penalty_every"],
        )
    return out


@dataclass
class Study:
    """The sweeps' runs and Supplement E's."""

    runs: dict[tuple[str, float, int], RunResult]  # (sweep, value, seed) → run
    supplement: dict[str, RunResult] = field(default_factory=dict)  # label → run (Fig. 19, 20)


def run_study(p: NotebookParams) -> Study:
    """Train (or read from the run store) every run of both sweeps and of Supplement E, in one
    sweep (runs shared by the two sweeps are trained once)."""
    check(p)
    main = sweep_configs(p)
    extra = supplement_e_configs(p) if p["supplement_e"] else {}
    results = p.sweep([*main.values(), *extra.values()], "early-phase runs")
    return Study(
        dict(zip(main, results[: len(main)], strict=True)),
        dict(zip(extra, results[len(main) :], strict=True)),
    )


# -- Tr(F_i) and the per-run table -------------------------------------------------------------


def early_trace_fisher(history: pd.DataFrame, threshold: float) -> dict[str, float]:
    """Tr(F_i) from a run's tidy history: the first Tr(F) measured at or after the first logged
    train-loss window below ``threshold`` (see the module docstring for the approximation).

    Returns ``trace_fisher_i``, ``crossing_step``, ``crossing_epoch``, ``fisher_step`` and
    ``lag_steps`` (measurement step minus crossing step); NaN where the loss never crossed or
    no Tr(F) was measured after the crossing.
    """
    nan = float("nan")
    out = dict.fromkeys(
        ("trace_fisher_i", "crossing_step", "crossing_epoch", "fisher_step", "lag_steps"), nan
    )
    loss = history[history.metric == "train_loss"].sort_values("step")
    below = loss[loss.value < threshold]
    if not len(below):
        return out
    step = float(below.step.iloc[0])
    out["crossing_step"], out["crossing_epoch"] = step, float(below.epoch.iloc[0])
    fisher = history[(history.metric == "trace_fisher") & (history.step >= step)]
    if len(fisher):
        first = fisher.sort_values("step").iloc[0]
        out["trace_fisher_i"] = float(first.value)
        out["fisher_step"] = float(first.step)
        out["lag_steps"] = float(first.step) - step
    return out


def max_train_accuracy(history: pd.DataFrame) -> float:
    """The largest train accuracy along the trajectory: running per-epoch accuracy or the final
    full-set evaluation (Fig. 8, 9)."""
    acc = history[history.metric.isin(["epoch_train_acc", "final_train_acc"])].value
    return float(acc.max()) if len(acc) else float("nan")


def per_run_table(study: Study, threshold: float) -> pd.DataFrame:
    """One row per (sweep, value, seed): Tr(F_i), when it was taken, and the accuracies (%)."""
    rows = []
    for (sweep, _value, seed), r in study.runs.items():
        early = early_trace_fisher(r.history, threshold)
        s = r.summary
        best = s.get("best_test_acc")
        ok = s.get("status") == "finished" and np.isfinite(early["trace_fisher_i"])
        rows.append(
            {
                "sweep": sweep,
                "lr": r.config.lr,
                "batch size": r.config.batch_size,
                "setting": f"lr={r.config.lr:g}, batch={r.config.batch_size}",
                "seed": seed,
                "key": r.config.key(),
                "status": s.get("status"),
                "used": bool(ok),
                "Tr(F_i)": early["trace_fisher_i"],
                "crossing epoch": early["crossing_epoch"],
                "crossing step": early["crossing_step"],
                "Tr(F) lag (steps)": early["lag_steps"],
                "best test acc (%)": 100 * best if best is not None else np.nan,
                "max train acc (%)": 100 * max_train_accuracy(r.history),
                "max Tr(F)": s.get("max_trace_fisher"),
                "epochs": s.get("epochs"),
            }
        )
    return pd.DataFrame(rows)


def group_table(per_run: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (sweep, setting): the points and error bars of Fig. 2/7/8/9.
    ``runs`` counts every run of the setting, ``seeds`` those used (finished, crossed ε)."""
    keys = ["sweep", "lr", "batch size"]
    cols = ["Tr(F_i)", "best test acc (%)", "max train acc (%)", "crossing epoch"]
    index = per_run.groupby(keys, sort=False).size().index
    g = per_run[per_run.used].groupby(keys, sort=False)
    mean, std = g[cols].mean().reindex(index), g[cols].std(ddof=1).reindex(index)
    out = pd.DataFrame(index=index)
    out["runs"] = per_run.groupby(keys, sort=False).size()
    out["seeds"] = g.size().reindex(index).fillna(0).astype(int)
    for c in cols:
        out[c], out[f"{c} ± (std)"] = mean[c], std[c]
    return out.reset_index()


def _subsets(per_run: pd.DataFrame) -> dict[str, pd.DataFrame]:
    used = per_run[per_run.used]
    subsets = {sweep: used[used.sweep == sweep] for sweep in (LR_SWEEP, BATCH_SWEEP)}
    subsets["all runs"] = used.drop_duplicates("key")  # a run shared by both sweeps counts once
    return {k: v for k, v in subsets.items() if len(v)}


def correlation_table(
    per_run: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """Pearson and Spearman correlations of Tr(F_i) with best test and max train accuracy, over
    runs (each seed a point) and over setting means (the points of Fig. 2/7), for each sweep and
    for all runs pooled; percentile bootstrap CIs resampling runs within each setting."""
    rows = []
    stats: dict[str, Stat] = {
        "runs": lambda x, y, s: pearson(x, y),
        "setting means": lambda x, y, s: pearson(*group_means(x, y, s)),
    }
    ranks: dict[str, Stat] = {
        "runs": lambda x, y, s: spearman(x, y),
        "setting means": lambda x, y, s: spearman(*group_means(x, y, s)),
    }
    for subset, df in _subsets(per_run).items():
        x, strata = df["Tr(F_i)"].to_numpy(), df["setting"].to_numpy()
        for acc, short in ACCURACIES.items():
            y = df[acc].to_numpy()
            for level_name in ("runs", "setting means"):
                r_p = stats[level_name](x, y, strata)
                r_s = ranks[level_name](x, y, strata)
                boot_p = bootstrap(x, y, stats[level_name], strata=strata, n=n_boot, seed=seed)
                boot_s = bootstrap(x, y, ranks[level_name], strata=strata, n=n_boot, seed=seed)
                p_lo, p_hi = interval(boot_p, level)
                s_lo, s_hi = interval(boot_s, level)
                rows.append(
                    {
                        "runs of": subset,
                        "accuracy": short,
                        "over": level_name,
                        "points": len(x) if level_name == "runs" else len(set(strata)),
                        "pearson": r_p,
                        "pearson CI lo": p_lo,
                        "pearson CI hi": p_hi,
                        "spearman": r_s,
                        "spearman CI lo": s_lo,
                        "spearman CI hi": s_hi,
                    }
                )
    return pd.DataFrame(rows)


def _ci_text(lo: float, hi: float) -> str:
    if not np.isfinite(lo):
        return "no CI (too few points)"
    return f"95% CI {lo:+.2f} … {hi:+.2f}"


def _sign_words(r: float, lo: float, hi: float) -> str:
    if not np.isfinite(r):
        return "undefined"
    sign = "negative" if r < 0 else "positive"
    size = "strong" if abs(r) >= 0.7 else "moderate" if abs(r) >= 0.4 else "weak"
    if np.isfinite(lo) and (hi < 0 or lo > 0):
        sure = "and its CI excludes 0"
    elif np.isfinite(lo):
        sure = "but its CI includes 0"
    else:
        sure = "with no CI"
    return f"{size} {sign} {sure}"


def findings(per_run: pd.DataFrame, corr: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """Plain sentences and the headline numbers (Pearson of Tr(F_i) with best test accuracy over
    all runs, its CI; the same per sweep; how Tr(F_i) was taken)."""
    lines: list[str] = []
    numbers: dict[str, Any] = {}
    used = per_run[per_run.used]
    dropped = per_run[~per_run.used]
    lines.append(
        f"{len(used.drop_duplicates('key'))} runs enter the correlations"
        + (
            f"; {len(dropped)} left out (diverged, failed, or never below ε = {threshold:g})."
            if len(dropped)
            else f"; every run crossed ε = {threshold:g}."
        )
    )
    if len(used):
        lines.append(
            f"ε was crossed between epochs {used['crossing epoch'].min():.2f} and "
            f"{used['crossing epoch'].max():.2f} (paper: 2–7); Tr(F_i) was measured at most "
            f"{used['Tr(F) lag (steps)'].max():.0f} steps after the crossing "
            f"(median {used['Tr(F) lag (steps)'].median():.0f})."
        )
        numbers["crossing_epoch_range"] = [
            float(used["crossing epoch"].min()),
            float(used["crossing epoch"].max()),
        ]
        numbers["max_lag_steps"] = float(used["Tr(F) lag (steps)"].max())
    c = corr[corr.over == "runs"].set_index(["runs of", "accuracy"])
    tags = {"all runs": "", LR_SWEEP: "_lr_sweep", BATCH_SWEEP: "_batch_sweep"}
    for subset in ("all runs", LR_SWEEP, BATCH_SWEEP):
        for short in ("test", "train"):
            if (subset, short) not in c.index:
                continue
            row = c.loc[(subset, short)]
            name = f"pearson_trace_fisher_vs_{short}{tags[subset]}"
            numbers[name] = float(row["pearson"])
            numbers[f"{name}_ci"] = [float(row["pearson CI lo"]), float(row["pearson CI hi"])]
            numbers[name.replace("pearson", "spearman")] = float(row["spearman"])
            if short == "test":
                what = "All runs" if subset == "all runs" else f"The {subset} sweep"
                p_ci = _ci_text(row["pearson CI lo"], row["pearson CI hi"])
                s_ci = _ci_text(row["spearman CI lo"], row["spearman CI hi"])
                lines.append(
                    f"{what} ({int(row['points'])} runs): Pearson r(Tr(F_i), best test "
                    f"accuracy) = {row['pearson']:+.2f} ({p_ci}), Spearman ρ = "
                    f"{row['spearman']:+.2f} ({s_ci}): "
                    f"{_sign_words(row['pearson'], row['pearson CI lo'], row['pearson CI hi'])}."
                )
    if "pearson_trace_fisher_vs_test" in numbers:
        r = numbers["pearson_trace_fisher_vs_test"]
        hi = numbers["pearson_trace_fisher_vs_test_ci"][1]
        verdict = bool(r < 0 and np.isfinite(hi) and hi < 0)
        numbers["negative_association"] = verdict
        lines.append(
            "The paper's claim (lower early Tr(F), better generalisation: a negative association) "
            + (
                "holds here: the correlation is negative and its CI excludes 0."
                if verdict
                else "does not show here at 95% confidence."
            )
        )
    if ("all runs", "train") in c.index:
        row = c.loc[("all runs", "train")]
        lines.append(
            f"Against the maximum train accuracy (Fig. 8/9): Pearson r = {row['pearson']:+.2f} "
            f"({_ci_text(row['pearson CI lo'], row['pearson CI hi'])}); mean max train accuracy "
            f"{used['max train acc (%)'].mean():.1f}% (paper: most runs ≈ 99% or more)."
        )
    return {"lines": lines, **numbers}


# -- Supplement E ------------------------------------------------------------------------------


def supplement_e_table(study: Study) -> pd.DataFrame:
    rows = []
    for label, r in study.supplement.items():
        s, c = r.summary, r.config
        rows.append(
            {
                "run": label,
                "batch size": c.batch_size,
                "lr": c.lr,
                "alpha": c.alpha if c.regularizer == "fp" else 0.0,
                "status": s.get("status"),
                "best test acc (%)": 100 * (s.get("best_test_acc") or np.nan),
                "final test acc (%)": 100 * (s.get("final_test_acc") or np.nan),
                "final train acc (%)": 100 * (s.get("final_train_acc") or np.nan),
                "max Tr(F)": s.get("max_trace_fisher"),
                "step of max Tr(F)": s.get("max_trace_fisher_step"),
            }
        )
    return pd.DataFrame(rows)


def supplement_e_findings(table: pd.DataFrame) -> dict[str, Any]:
    """Large vs small batch (Tr(F) peak, best test) and FP at the large batch vs its control."""
    if not len(table):
        return {"lines": []}
    plain = table[table.alpha == 0]
    top_lr = plain.lr.max()
    fig19 = plain[plain.lr == top_lr].sort_values("batch size")
    small, large = fig19.iloc[0], fig19.iloc[-1]
    lines, numbers = [], {}
    ratio = large["max Tr(F)"] / small["max Tr(F)"]
    gap = small["best test acc (%)"] - large["best test acc (%)"]
    numbers["e_max_trace_fisher_ratio_large_vs_small"] = float(ratio)
    numbers["e_small_minus_large_best_test_pts"] = float(gap)
    lines.append(
        f"Batch {int(large['batch size'])} vs {int(small['batch size'])} at lr={top_lr:g}: max "
        f"Tr(F) {ratio:.2f}× the small batch's ("
        + ("larger, as in Fig. 19" if ratio > 1 else "not larger")
        + f"); best test accuracy {gap:+.2f} points in favour of the small batch."
    )
    control = plain[(plain["batch size"] == large["batch size"]) & (plain.lr < top_lr)]
    fp = table[table.alpha > 0]
    if len(control) and len(fp):
        ctl = control.iloc[0]
        best = fp.loc[fp["best test acc (%)"].idxmax()]
        gain = best["best test acc (%)"] - ctl["best test acc (%)"]
        numbers["e_fp_best_alpha"] = float(best.alpha)
        numbers["e_fp_gain_vs_control_pts"] = float(gain)
        numbers["e_fp_closes_pct_of_gap"] = float(100 * gain / gap) if gap > 0 else None
        lines.append(
            f"FP at batch {int(large['batch size'])}, lr={ctl.lr:g}: best α={best.alpha:g} gives "
            f"{best['best test acc (%)']:.2f}% vs {ctl['best test acc (%)']:.2f}% without FP "
            f"({gain:+.2f} points"
            + (f", {100 * gain / gap:.0f}% of the large-batch gap" if gap > 0 else "")
            + f"); its max Tr(F) is {best['max Tr(F)'] / ctl['max Tr(F)']:.2f}× the control's."
        )
    return {"lines": lines, **numbers}
