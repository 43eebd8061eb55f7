"""Notebook 05: the Fisher penalty reduces memorisation of noisy labels (Section 4.1, Table 3).

Protocol (Section 4.1, Supplement I.3): a fraction of the training labels (paper: 25% and 50%)
is redrawn uniformly from the label set (``fisherlab.data.label_noise``: seeded, fixed for every
run; a redrawn label may equal the original, so the fraction actually changed is about
fraction·(1 − 1/C), reported by :func:`noise_report`). The baseline, mixup (Beta(β, β)), GPx, FP
and GPr each train with every coefficient of their grid (paper: 6 log-spaced penalty values,
β ∈ {0.2, …, 6.4}), without weight decay; for each method and noise level the coefficient of
best validation accuracy is kept, and its test accuracy at that evaluation (early stopping) is
Table 3's number. The training loop tracks, on fixed probes of clean and of noisy training
examples, accuracy on their training labels, the mini-batch gradient norms, their ratio and the
cosine between the two gradients (Fig. 5, 11, 12); the final training accuracy on all clean /
noisy examples gives Tables 8 and 9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from fisherlab import plots, reference
from fisherlab.config import ConfigError, TrainConfig, check_choice
from fisherlab.data import load_splits
from fisherlab.notebook import NotebookParams
from fisherlab.training import RunResult

__all__ = [
    "METHODS",
    "TRACKED",
    "Study",
    "accuracy_figure",
    "check",
    "cosine_figure",
    "findings",
    "grad_norm_figure",
    "level_name",
    "log_grid",
    "method_config",
    "noise_report",
    "paper_value",
    "per_run_table",
    "run_study",
    "select",
    "selected_table",
    "tracked_curves",
    "tracked_summary",
    "wide_table",
]

METHODS = ("baseline", "mixup", "gpx", "fp", "gpr")  # Table 3's column order
REGULARIZER = {"baseline": "none", "mixup": "mixup", "gpx": "gpx", "fp": "fp", "gpr": "gpr"}
NAMES = {"baseline": "baseline", "mixup": "mixup", "gpx": "GPx", "fp": "FP", "gpr": "GPr"}
TRACKED = (
    "train_acc_clean",
    "train_acc_noisy",
    "grad_norm_clean",
    "grad_norm_noisy",
    "grad_norm_ratio_clean_noisy",
    "grad_cos_clean_noisy",
    "val_acc",
)
BASELINE_COLOR = "#222222"


def log_grid(low: float, high: float, points: int) -> list[float]:
    """``points`` values log-spaced from ``low`` to ``high`` (the paper: 6 per regulariser)."""
    return [float(v) for v in np.logspace(np.log10(low), np.log10(high), points)]


def symbol(method: str) -> str:
    """The coefficient's name: β for mixup's Beta(β, β), α for the penalties."""
    return "β" if method == "mixup" else "α"


def level_name(noise: float) -> str:
    """0.25 → '25' (for keys and file names)."""
    return f"{100 * noise:g}".replace(".", "_")


@dataclass
class Study:
    """The runs of notebook 05 and the label noise they trained with."""

    runs: dict[tuple[float, str, float], RunResult]  # (noise level, method, coefficient) → run
    noise: pd.DataFrame  # one row per noise level: nominal and realised fraction


# -- parameters ------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check(p: NotebookParams) -> None:
    """Validate notebook 05's own parameters (TrainConfig fields are checked on resolve)."""
    methods = p["methods"]
    if not isinstance(methods, list | tuple) or not methods:
        raise ConfigError(f"methods={methods!r} must be a non-empty list of {', '.join(METHODS)}")
    for m in methods:
        check_choice("methods", m, METHODS)
    if len(set(methods)) != len(methods):
        raise ConfigError(f"methods={methods!r} lists a method twice")
    levels = p["noise_levels"]
    if not isinstance(levels, list | tuple) or not levels:
        raise ConfigError(
            f"noise_levels={levels!r} must be a non-empty list of fractions in [0, 1)"
        )
    for v in levels:
        if not _is_number(v) or not 0 <= v < 1:
            raise ConfigError(f"noise_levels={levels!r}: {v!r} is not a fraction in [0, 1)")
    if len(set(levels)) != len(levels):
        raise ConfigError(f"noise_levels={levels!r} lists a level twice")
    grids = p["coefficients"]
    if not isinstance(grids, dict):
        raise ConfigError(f"coefficients={grids!r} must map each method to its grid")
    for m, grid in grids.items():
        check_choice("coefficients", m, METHODS[1:])
        if not isinstance(grid, list | tuple) or not grid:
            raise ConfigError(f"coefficients[{m!r}]={grid!r} must be a non-empty list")
        for v in grid:
            if not _is_number(v) or v <= 0:
                raise ConfigError(f"coefficients[{m!r}]: {v!r} must be a number > 0")
    for m in methods:
        if m != "baseline" and m not in grids:
            raise ConfigError(f"coefficients has no grid for method {m!r} (coefficients[{m!r}])")


def method_config(p: NotebookParams, noise: float, method: str, coefficient: float) -> TrainConfig:
    reg = REGULARIZER[method]
    return p.train_config(
        label_noise=float(noise),
        regularizer=reg,
        alpha=float(coefficient) if reg != "none" else 0.0,
    )


def planned_runs(p: NotebookParams) -> list[tuple[float, str, float]]:
    """(noise level, method, coefficient) of every run, in Table 3's order."""
    return [
        (float(n), m, float(c))
        for n in p["noise_levels"]
        for m in p["methods"]
        for c in ([0.0] if m == "baseline" else p["coefficients"][m])
    ]


def noise_report(p: NotebookParams) -> pd.DataFrame:
    """Per noise level: the training examples relabelled and the fraction whose label changed.

    Loads the same splits as the runs (the noise is seeded by the data seed, so it is identical
    for every run and every call); a redrawn label equals the original with probability 1/C.
    """
    rows = []
    for noise in p["noise_levels"]:
        cfg = p.train_config(label_noise=float(noise))
        data = load_splits(
            cfg.dataset,
            cfg.data_root,
            val_size=cfg.val_size,
            subset=cfg.subset,
            label_noise_fraction=cfg.label_noise,
            device="cpu",
            data_options=cfg.data_options,
        )
        n, c = len(data.train_labels), data.num_classes
        changed = int(data.noise_mask.sum())
        rows.append(
            {
                "noise level": float(noise),
                "train examples": n,
                "classes": c,
                "relabelled": round(noise * n),
                "changed": changed,
                "realised fraction": changed / n,
                "expected fraction": noise * (1 - 1 / c),
            }
        )
    return pd.DataFrame(rows)


def run_study(p: NotebookParams) -> Study:
    """Every (noise level, method, coefficient) run in one sweep, and the noise they saw."""
    check(p)
    keys = planned_runs(p)
    configs = [method_config(p, *k) for k in keys]
    results = p.sweep(configs, "Table 3 runs")
    return Study(dict(zip(keys, results, strict=True)), noise_report(p))


# -- tables ----------------------------------------------------------------------------------


def _pct(x: float | None) -> float:
    return 100 * x if x is not None else np.nan


def per_run_table(study: Study) -> pd.DataFrame:
    """One row per run (accuracies in %), with ``selected`` marking each method's choice."""
    rows = []
    for (noise, m, c), r in study.runs.items():
        x = r.summary
        rows.append(
            {
                "noise level": noise,
                "method": m,
                "coefficient": c,
                "status": x["status"],
                "best val acc": _pct(x.get("best_val_acc")),
                "test acc at best val": _pct(x.get("test_acc_at_best_val")),
                "best test acc": _pct(x.get("best_test_acc")),
                "final test acc": _pct(x.get("final_test_acc")),
                "final train acc": _pct(x.get("final_train_acc")),
                "final train acc clean": _pct(x.get("final_train_acc_clean")),
                "final train acc noisy": _pct(x.get("final_train_acc_noisy")),
                "max Tr(F)": x.get("max_trace_fisher"),
                "epochs": x.get("epochs"),
                "run key": r.config.key(),
            }
        )
    return select(pd.DataFrame(rows))


def select(per_run: pd.DataFrame) -> pd.DataFrame:
    """Mark, per (noise level, method), the finished run of best validation accuracy (the first
    coefficient of the grid on a tie); a method whose runs all diverged has none."""
    out = per_run.copy()
    out["selected"] = False
    ok = out[(out.status == "finished") & out["best val acc"].notna()]
    for _, g in ok.groupby(["noise level", "method"], sort=False):
        out.loc[g["best val acc"].idxmax(), "selected"] = True
    return out


def paper_value(
    table: dict[str, dict[float, dict[str, float]]], setting: str | None, noise: float, method: str
) -> float:
    """The paper's number for (setting, noise level, method), NaN when the paper has none."""
    for level, row in table.get(setting or "", {}).items():
        if math.isclose(level, noise):
            return float(row.get(method, np.nan))
    return np.nan


REFERENCES = {
    "paper Table 3 test acc (%)": reference.TABLE3_LABEL_NOISE_TEST_ACC,
    "paper Table 8 final train acc clean (%)": reference.TABLE8_FINAL_TRAIN_ACC_CLEAN,
    "paper Table 9 final train acc noisy (%)": reference.TABLE9_FINAL_TRAIN_ACC_NOISY,
}


def selected_table(per_run: pd.DataFrame, setting: str | None) -> pd.DataFrame:
    """One row per (noise level, method): the chosen coefficient and its numbers, with the
    paper's numbers for ``setting`` as labelled reference columns."""
    cols = [
        "coefficient",
        "status",
        "best val acc",
        "test acc at best val",
        "final train acc clean",
        "final train acc noisy",
        "final train acc",
        "max Tr(F)",
    ]
    rows = []
    for (noise, m), g in per_run.groupby(["noise level", "method"], sort=False):
        chosen = g[g.selected]
        row: dict[str, Any] = {"noise level": noise, "method": m, "grid size": len(g)}
        if len(chosen):
            row.update(chosen.iloc[0][cols].to_dict())
        else:
            row.update({c: np.nan for c in cols} | {"status": "diverged"})
        for name, table in REFERENCES.items():
            row[name] = paper_value(table, setting, noise, m)
        rows.append(row)
    return pd.DataFrame(rows)


def wide_table(selected: pd.DataFrame, value: str, paper: str | None = None) -> pd.DataFrame:
    """Methods as columns, one row per noise level (the paper's layout), then the paper's
    numbers as ``paper <method>`` reference columns."""
    out = selected.pivot(index="noise level", columns="method", values=value)
    out = out[[m for m in METHODS if m in out.columns]]
    if paper is not None:
        ref = selected.pivot(index="noise level", columns="method", values=paper)
        for m in out.columns:
            out[f"paper {m}"] = ref[m]
    out.columns.name = None
    return out.reset_index()


def tracked_curves(study: Study) -> pd.DataFrame:
    """The clean / noisy measurements of every run, tidy, with its noise level, method and
    coefficient (Fig. 5, 11, 12)."""
    parts = []
    for (noise, m, c), r in study.runs.items():
        h = r.history[r.history.metric.isin(TRACKED)]
        parts.append(h.assign(**{"noise level": noise, "method": m, "coefficient": c}))
    cols = ["noise level", "method", "coefficient", "step", "epoch", "metric", "value"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def tracked_summary(
    tracked: pd.DataFrame, early_until: int, per_run: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per run: the clean/noisy gradient cosine early (steps 1…``early_until``, after the first
    step) and overall, the gradient-norm ratio and the probe accuracies at the end; with
    ``per_run`` (:func:`per_run_table`) also each run's status, so that :func:`findings` leaves
    diverged runs out."""
    rows = []
    for (noise, m, c), h in tracked.groupby(["noise level", "method", "coefficient"], sort=False):

        def s(metric: str, h: pd.DataFrame = h) -> pd.Series:
            return h[h.metric == metric].sort_values("step").set_index("step").value

        cos, ratio = s("grad_cos_clean_noisy"), s("grad_norm_ratio_clean_noisy")
        early = cos[(cos.index > 0) & (cos.index <= early_until)]
        last = lambda x: float(x.iloc[-1]) if len(x) else np.nan  # noqa: E731
        rows.append(
            {
                "noise level": noise,
                "method": m,
                "coefficient": c,
                "measurements": len(cos),
                "early cosine (mean)": float(early.mean()) if len(early) else np.nan,
                "early cosine (min)": float(early.min()) if len(early) else np.nan,
                "final cosine": last(cos),
                "grad-norm ratio clean/noisy (mean)": float(ratio.mean()) if len(ratio) else np.nan,
                "final grad-norm ratio clean/noisy": last(ratio),
                "final probe train acc clean (%)": 100 * last(s("train_acc_clean")),
                "final probe train acc noisy (%)": 100 * last(s("train_acc_noisy")),
            }
        )
    out = pd.DataFrame(rows)
    if per_run is not None and len(out):
        keys = ["noise level", "method", "coefficient"]
        out = out.merge(per_run[[*keys, "status"]], on=keys, how="left")
    return out


# -- findings --------------------------------------------------------------------------------


def _sel(selected: pd.DataFrame, noise: float, method: str) -> pd.Series | None:
    row = selected[(selected["noise level"] == noise) & (selected.method == method)]
    if not len(row) or pd.isna(row.iloc[0]["test acc at best val"]):
        return None
    return row.iloc[0]


def _paper_drop(setting: str | None, noise: float) -> float:
    t8, t9 = reference.TABLE8_FINAL_TRAIN_ACC_CLEAN, reference.TABLE9_FINAL_TRAIN_ACC_NOISY
    bc, fc = (paper_value(t8, setting, noise, m) for m in ("baseline", "fp"))
    bn, fn = (paper_value(t9, setting, noise, m) for m in ("baseline", "fp"))
    return (bn - fn) - (bc - fc)


def _coef(row: pd.Series) -> str:
    return f"{symbol(row['method'])}={row['coefficient']:g}"


def findings(
    selected: pd.DataFrame,
    noise: pd.DataFrame,
    summary: pd.DataFrame,
    setting: str | None = None,
) -> dict[str, Any]:
    """Plain sentences and numbers, all computed: the realised noise; FP's test accuracy against
    the baseline and mixup; whether FP lowers training accuracy on noisy examples more than on
    clean ones (``noisy_minus_clean_drop_pts``, at the first noise level); gradient-norm ratio
    and cosine. Paper numbers for ``setting`` are quoted as references only."""
    lines: list[str] = []
    numbers: dict[str, Any] = {"realised_noise_fraction": {}, "by_noise_level": {}}
    for r in noise.to_dict("records"):
        numbers["realised_noise_fraction"][level_name(r["noise level"])] = r["realised fraction"]
    if len(noise):
        lines.append(
            "Label noise: "
            + "; ".join(
                f"{100 * r['noise level']:g}% of the {int(r['train examples']):,} training "
                f"labels redrawn → {int(r['changed']):,} changed, "
                f"{100 * r['realised fraction']:.2f}% (expected "
                f"{100 * r['expected fraction']:.2f}%: a redraw keeps the label with probability "
                f"1/{int(r['classes'])})"
                for r in noise.to_dict("records")
            )
            + "."
        )
    levels = list(dict.fromkeys(selected["noise level"]))
    for i, level in enumerate(levels):
        nums: dict[str, float] = {}
        pct = f"{100 * level:g}% noise"
        base, fp, mix = (_sel(selected, level, m) for m in ("baseline", "fp", "mixup"))
        if fp is not None and (base is not None or mix is not None):
            parts = []
            for name, other in (("baseline", base), ("mixup", mix)):
                if other is None:
                    continue
                d = fp["test acc at best val"] - other["test acc at best val"]
                nums[f"fp_minus_{name}_test_pts"] = float(d)
                paper = paper_value(
                    reference.TABLE3_LABEL_NOISE_TEST_ACC, setting, level, "fp"
                ) - paper_value(reference.TABLE3_LABEL_NOISE_TEST_ACC, setting, level, name)
                ref = f"; paper {paper:+.2f}" if np.isfinite(paper) else ""
                at = f" at {_coef(other)}" if name == "mixup" else ""
                parts.append(
                    f"{d:+.2f} points vs {'the ' * (name == 'baseline')}{name} "
                    f"({other['test acc at best val']:.2f}%{at}{ref})"
                )
            lines.append(
                f"{pct}, test accuracy at the best validation evaluation: FP ({_coef(fp)}) "
                f"{fp['test acc at best val']:.2f}%, " + " and ".join(parts) + "."
            )
        if base is not None and fp is not None:
            drops = {  # + 0.0: no "-0.00" in the text
                k: float(base[f"final train acc {k}"] - fp[f"final train acc {k}"]) + 0.0
                for k in ("clean", "noisy")
            }
            if all(np.isfinite(v) for v in drops.values()):
                extra = drops["noisy"] - drops["clean"]
                nums.update(
                    noisy_minus_clean_drop_pts=float(extra),
                    fp_noisy_drop_pts=float(drops["noisy"]),
                    fp_clean_drop_pts=float(drops["clean"]),
                )
                paper = _paper_drop(setting, level)
                ref = f" (paper, {setting}: {paper:+.2f})" if np.isfinite(paper) else ""
                lines.append(
                    f"{pct}, final training accuracy, FP vs the baseline: noisy examples "
                    f"{base['final train acc noisy']:.2f}% → {fp['final train acc noisy']:.2f}% "
                    f"({0.0 - drops['noisy']:+.2f} points), clean "
                    f"{base['final train acc clean']:.2f}% → {fp['final train acc clean']:.2f}% "
                    f"({0.0 - drops['clean']:+.2f}): FP lowers "
                    f"the noisy examples' accuracy {extra:+.2f} points more than the clean ones'"
                    f"{ref} — "
                    + (
                        "it slows memorisation of the noisy labels more than learning of the "
                        "clean ones."
                        if extra > 0
                        else "it does not slow memorisation of the noisy labels more here."
                    )
                )
        others = [
            f"{NAMES[m]} {row['test acc at best val'] - base['test acc at best val']:+.2f}"
            for m in ("mixup", "gpx", "gpr")
            if base is not None and (row := _sel(selected, level, m)) is not None
        ]
        if others:
            lines.append(
                f"{pct}, test accuracy vs the baseline (points): " + ", ".join(others) + "."
            )
        for m in ("mixup", "gpx", "gpr"):
            row = _sel(selected, level, m)
            if base is not None and row is not None:
                d = row["test acc at best val"] - base["test acc at best val"]
                nums[f"{m}_minus_baseline_test_pts"] = float(d)
        numbers["by_noise_level"][level_name(level)] = nums
        if i == 0:  # the headline numbers (the scorecard's) are at the first noise level
            numbers.update(nums)
            numbers["noise_level"] = float(level)
    if len(summary) and levels:
        level = levels[0]
        s = summary[summary["noise level"] == level]
        diverged = s[s.status == "diverged"] if "status" in s else s.iloc[:0]
        s = s.drop(diverged.index)
        if len(diverged):
            lines.append(
                f"{100 * level:g}% noise: left out of the gradient statistics below, diverged: "
                + ", ".join(f"{NAMES[r['method']]} {_coef(r)}" for r in diverged.to_dict("records"))
                + "."
            )
        base = s[s.method == "baseline"]
        fp = s[s.method == "fp"].sort_values("coefficient")
        if len(base) and len(fp):
            b = float(base["grad-norm ratio clean/noisy (mean)"].iloc[0])
            f_ = fp["grad-norm ratio clean/noisy (mean)"].to_numpy()
            closer = np.abs(np.log(f_)) < abs(np.log(b))
            numbers["baseline_grad_norm_ratio"] = b
            numbers["fp_grad_norm_ratio"] = [float(v) for v in f_]
            lines.append(
                f"{100 * level:g}% noise, clean/noisy gradient-norm ratio (mean over the run): "
                f"baseline {b:.2f}; FP "
                + ", ".join(f"α={c:g} {v:.2f}" for c, v in zip(fp.coefficient, f_, strict=True))
                + f" — closer to 1 than the baseline's for {int(closer.sum())} of {len(f_)} FP "
                "coefficients (paper: closer to 1 with a larger coefficient)."
            )
        early = s["early cosine (mean)"].dropna()
        if len(early):
            neg = int((early < 0).sum())
            numbers["negative_early_cosine_runs"] = neg
            numbers["early_cosine_runs"] = len(early)
            by = s.groupby("method", sort=False)["early cosine (mean)"].mean()
            lines.append(
                f"{100 * level:g}% noise, cosine between the clean and the noisy gradients "
                f"early in training: negative on average in {neg} of {len(early)} runs; "
                "mean per method "
                + ", ".join(f"{NAMES[m]} {v:+.3f}" for m, v in by.items())
                + " (paper: negative early, more so with stronger FP or GPr)."
            )
    return {"lines": lines, **numbers}


# -- figures ---------------------------------------------------------------------------------


def coefficient_palette(coefficients: list[float]) -> dict[float, str]:
    """Blue (weakest) to red (strongest), as in the paper's Fig. 5."""
    coefs = sorted(set(coefficients))
    cmap = plt.get_cmap("coolwarm")
    if len(coefs) == 1:
        return {coefs[0]: to_hex(cmap(1.0))}
    return {c: to_hex(cmap(i / (len(coefs) - 1))) for i, c in enumerate(coefs)}


def _lines(
    tracked: pd.DataFrame,
    noise: float,
    method: str,
    metrics: dict[str, str],
    ax: Axes,
    *,
    percent: bool = False,
) -> None:
    """Baseline (dark) and every coefficient of ``method`` (blue → red); one dash per metric."""
    d = tracked[(tracked["noise level"] == noise) & tracked.metric.isin(list(metrics))]
    d = d[d.method.isin(["baseline", method])].copy()
    if not len(d):  # nothing measured (no label noise: no clean / noisy probes)
        return
    pal = coefficient_palette(list(d[d.method == method].coefficient))
    label = {c: f"{NAMES[method]} {symbol(method)}={c:g}" for c in pal}
    d["run"] = [
        "baseline" if m == "baseline" else label[c]
        for m, c in zip(d.method, d.coefficient, strict=True)
    ]
    d["measured on"] = d.metric.map(metrics)
    if percent:
        d["value"] = 100 * d["value"]
    colors = {"baseline": BASELINE_COLOR, **{label[c]: v for c, v in pal.items()}}
    runs = [r for r in colors if r in set(d.run)]
    sns.lineplot(
        data=d,
        x="epoch",
        y="value",
        hue="run",
        hue_order=runs,
        palette=colors,
        style="measured on" if len(metrics) > 1 else None,
        style_order=list(metrics.values()) if len(metrics) > 1 else None,
        errorbar=None,
        ax=ax,
    )
    ax.set_xlabel("epoch")
    if ax.get_legend() is not None:
        ax.legend(title=None, fontsize="x-small")


def _regularised(tracked: pd.DataFrame, noise: float) -> list[str]:
    present = set(tracked[tracked["noise level"] == noise].method)
    return [m for m in METHODS[1:] if m in present]


def grad_norm_figure(tracked: pd.DataFrame, noise: float) -> Figure:
    """Fig. 5/11 (top): ‖g_c‖, ‖g_n‖ and ‖g_c‖/‖g_n‖ on the training probes, one row per method."""
    methods = _regularised(tracked, noise)
    fig, axes = plots.figure(ncols=3, nrows=max(len(methods), 1), width=4.6, height=3.2)
    for i, m in enumerate(methods):
        a = axes[3 * i : 3 * i + 3]
        _lines(tracked, noise, m, {"grad_norm_clean": "clean"}, a[0])
        a[0].set_ylabel("‖g_c‖ (clean)")
        _lines(tracked, noise, m, {"grad_norm_noisy": "noisy"}, a[1])
        a[1].set_ylabel("‖g_n‖ (noisy)")
        _lines(tracked, noise, m, {"grad_norm_ratio_clean_noisy": "ratio"}, a[2])
        a[2].axhline(1.0, color="grey", lw=0.8, ls=":")
        a[2].set_ylabel("‖g_c‖ / ‖g_n‖")
        for ax in a:
            ax.set_yscale("log")
        a[0].set_title(f"{NAMES[m]}, {100 * noise:g}% noise", loc="left", fontsize="small")
    fig.tight_layout()
    return fig


def accuracy_figure(tracked: pd.DataFrame, noise: float) -> Figure:
    """Fig. 5/11 (bottom): training accuracy on clean (solid) and noisy (dashed) probes,
    validation accuracy, and clean against noisy training accuracy; one row per method."""
    methods = _regularised(tracked, noise)
    fig, axes = plots.figure(ncols=3, nrows=max(len(methods), 1), width=4.6, height=3.2)
    for i, m in enumerate(methods):
        a = axes[3 * i : 3 * i + 3]
        _lines(
            tracked,
            noise,
            m,
            {"train_acc_clean": "clean", "train_acc_noisy": "noisy"},
            a[0],
            percent=True,
        )
        a[0].set_ylabel("train accuracy (%)")
        _lines(tracked, noise, m, {"val_acc": "validation"}, a[1], percent=True)
        a[1].set_ylabel("validation accuracy (%)")
        d = tracked[
            (tracked["noise level"] == noise)
            & tracked.method.isin(["baseline", m])
            & tracked.metric.isin(["train_acc_clean", "train_acc_noisy"])
        ]
        if not len(d):
            continue
        pairs = d.pivot_table(
            index=["method", "coefficient", "step"], columns="metric", values="value"
        ).reset_index()
        pal = coefficient_palette(list(pairs[pairs.method == m].coefficient))
        for (meth, c), g in pairs.groupby(["method", "coefficient"], sort=False):
            base = meth == "baseline"
            a[2].plot(
                100 * g.train_acc_clean,
                100 * g.train_acc_noisy,
                marker="o",
                ms=3,
                lw=1,
                color=BASELINE_COLOR if base else pal[c],
                label="baseline" if base else f"{NAMES[m]} {symbol(m)}={c:g}",
            )
        a[2].set_xlabel("train accuracy, clean (%)")
        a[2].set_ylabel("train accuracy, noisy (%)")
        a[2].legend(fontsize="x-small")
        a[0].set_title(f"{NAMES[m]}, {100 * noise:g}% noise", loc="left", fontsize="small")
    fig.tight_layout()
    return fig


def cosine_figure(tracked: pd.DataFrame, noise: float) -> Figure:
    """Fig. 12: cosine of the clean and the noisy mini-batch gradients, one panel per method."""
    methods = _regularised(tracked, noise)
    fig, axes = plots.figure(ncols=max(len(methods), 1), width=4.6, height=3.4)
    for ax, m in zip(axes, methods, strict=False):
        _lines(tracked, noise, m, {"grad_cos_clean_noisy": "cosine"}, ax)
        ax.axhline(0.0, color="grey", lw=0.8, ls=":")
        ax.set_ylabel("cos(g_c, g_n)")
        ax.set_title(f"{NAMES[m]}, {100 * noise:g}% noise", fontsize="small")
    fig.tight_layout()
    return fig
