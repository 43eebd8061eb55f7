"""Seaborn figures shared by the notebooks, one fixed colour per method everywhere.

Every function takes a tidy history (``step, epoch, metric, value`` plus a ``run`` label
column) and an Axes, and labels axes with units; ``save`` writes the PNG next to the notebook's
recorded results.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator

from fisherlab.methods import METHODS

__all__ = [
    "COLORS",
    "LABELS",
    "color",
    "curves",
    "figure",
    "run_label",
    "save",
    "scatter_pairs",
    "setup",
    "train_val_accuracy",
]

UNKNOWN = "#7f7f7f"  # a label that names no method (palette() replaces it with a distinct colour)
# method key → legend label and colour, from the one registry (fisherlab.methods)
LABELS = {k: m.label for k, m in METHODS.items()}
COLORS = {k: m.color for k, m in METHODS.items()}


def setup() -> None:
    """The notebooks' common style."""
    sns.set_theme(context="notebook", style="whitegrid")


def color(run: str) -> str:
    """Colour of a method key or of a label that starts with one of the legend labels."""
    if run in COLORS:
        return COLORS[run]
    matches = [key for key, label in LABELS.items() if run.startswith(label)]
    return COLORS[max(matches, key=lambda k: len(LABELS[k]))] if matches else UNKNOWN


def run_label(method: str, **values: float) -> str:
    """Legend label of a run: the method's label and its distinguishing values: η* (lr=0.03)."""
    details = ", ".join(f"{k}={v:g}" for k, v in values.items())
    return f"{LABELS[method]} ({details})" if details else LABELS[method]


def palette(runs: list[str]) -> dict[str, str]:
    """One distinct colour per line: a method's registry colour, in shades from dark to light
    when several lines share a method (e.g. FP at several α); other labels get the colours of a
    qualitative palette that no method uses."""
    base = {r: color(r) for r in runs}
    spare = [  # saturated first (tab10's unused, seaborn's dark), tab20's light shades last
        c
        for c in sns.color_palette("tab10", 10).as_hex()
        + sns.color_palette("dark", 10).as_hex()
        + sns.color_palette("tab20", 20).as_hex()[1::2]
        if c not in {*COLORS.values(), UNKNOWN}
    ]
    out: dict[str, str] = {}
    for r in runs:
        if base[r] == UNKNOWN:
            out[r] = spare[len([x for x in out if base[x] == UNKNOWN]) % len(spare)]
    for c in dict.fromkeys(v for v in base.values() if v != UNKNOWN):
        group = [r for r in runs if base[r] == c]
        if len(group) == 1:
            out[group[0]] = c
        else:
            shades = sns.blend_palette(
                [sns.set_hls_values(c, l=0.25), c, sns.set_hls_values(c, l=0.75)], len(group)
            )
            out.update(zip(group, [matplotlib.colors.to_hex(x) for x in shades], strict=True))
    return out


def curves(
    history: pd.DataFrame,
    metric: str,
    ax: Axes,
    *,
    x: str = "epoch",
    ylabel: str | None = None,
    logy: bool = False,
    style: str | None = None,
    max_step: int | None = None,
) -> Axes:
    """One line per ``run`` of ``metric`` against ``x`` (epoch or step)."""
    df = history[history.metric == metric]
    if max_step is not None:
        df = df[df.step <= max_step]
    runs = list(dict.fromkeys(df["run"]))
    sns.lineplot(
        data=df,
        x=x,
        y="value",
        hue="run",
        style=style,
        palette=palette(runs),
        ax=ax,
        hue_order=runs,
        errorbar=None,
    )
    ax.set_xlabel("epoch" if x == "epoch" else "SGD step")
    ax.set_ylabel(ylabel or metric)
    if logy:
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
    legend_outside(ax)
    return ax


def train_val_accuracy(history: pd.DataFrame, ax: Axes) -> Axes:
    """Running train accuracy (dashed) and validation accuracy (solid) per run: overfitting."""
    df = history[history.metric.isin(["epoch_train_acc", "val_acc"])].copy()
    df["split"] = df.metric.map({"epoch_train_acc": "train (running)", "val_acc": "validation"})
    df["value"] = 100 * df["value"]
    runs = list(dict.fromkeys(df["run"]))
    sns.lineplot(
        data=df,
        x="epoch",
        y="value",
        hue="run",
        style="split",
        palette=palette(runs),
        ax=ax,
        hue_order=runs,
        style_order=["validation", "train (running)"],
        errorbar=None,
        legend=False,
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    colours = palette(runs)  # one legend: the runs by colour, then the two splits by line style
    handles = [Line2D([], [], color=colours[r], label=r) for r in runs] + [
        Line2D([], [], color="0.3", linestyle=ls, label=name)
        for ls, name in (("-", "validation"), ("--", "train (running)"))
    ]
    ax.legend(
        handles=handles,
        fontsize="x-small",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        ncol=min(len(handles), 4),
        frameon=False,
    )
    return ax


def plain_log_ticks(axis: Axis) -> None:
    """Log-axis ticks labelled as plain numbers (1, 2, 5, 10, …) that never overlap."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def scatter_pairs(
    history: pd.DataFrame,
    x_metric: str,
    y_metric: str,
    ax: Axes,
    *,
    logx: bool = True,
    logy: bool = True,
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> Axes:
    """Scatter of two metrics measured along the same trajectories, matched on nearest step."""
    parts = []
    for run, h in history.groupby("run", sort=False):
        h = h[np.isfinite(h.value.astype(float))]  # a diverged run's last values may be inf
        a, b = (
            h[h.metric == m][["step", "value"]].astype({"step": "int64"}).sort_values("step")
            for m in (x_metric, y_metric)
        )
        if len(a) and len(b):
            m = pd.merge_asof(b, a, on="step", direction="nearest", suffixes=("_y", "_x"))
            m["run"] = run
            parts.append(m)
    if not parts:
        ax.text(0.5, 0.5, f"no {x_metric}/{y_metric} pairs", ha="center", transform=ax.transAxes)
        return ax
    df = pd.concat(parts)
    runs = list(dict.fromkeys(df["run"]))
    sns.scatterplot(
        data=df, x="value_x", y="value_y", hue="run", palette=palette(runs), ax=ax, s=18, alpha=0.8
    )
    ax.set_xlabel(xlabel or x_metric)
    ax.set_ylabel(ylabel or y_metric)
    if logx:
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
    if logy:
        ax.set_yscale("log")
    ax.legend(title=None, fontsize="small")
    return ax


def save(fig: Figure, output_dir: str | Path, name: str) -> Path:
    """Write ``<output_dir>/<name>.png`` (tight, 120 dpi) and return its path."""
    path = Path(output_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def figure(
    ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.6
) -> tuple[Figure, list[Axes]]:
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, list(axes.ravel())


# -- added for notebooks 02 and 06 ---------------------------------------------------------------

__all__ += ["histograms", "legend_outside", "lines", "mean_points", "ramp"]


def legend_outside(ax: Axes, **kwargs: object) -> None:
    """The axes' legend to the right of the plot, off the data (no frame, small type), one
    entry per label (the first artist drawn with it)."""
    handles, labels = ax.get_legend_handles_labels()
    first = dict(zip(reversed(labels), reversed(handles), strict=True))
    if first:
        options = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "frameon": False}
        labels = list(dict.fromkeys(labels))
        ax.legend([first[k] for k in labels], labels, fontsize="small", **{**options, **kwargs})


def ramp(keys: list, cmap: str = "coolwarm", lo: float = 0.0, hi: float = 1.0) -> dict:
    """One colour per key along ``cmap`` from ``lo`` to ``hi`` (fractions of the map), in the
    given order (with coolwarm: cool → warm for small → large)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    n = len(keys)
    where = [hi] if n == 1 else [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    return {k: to_hex(colormaps[cmap](w)) for k, w in zip(keys, where, strict=True)}


def lines(
    history: pd.DataFrame,
    metric: str,
    ax: Axes,
    palette: dict[str, str],
    *,
    x: str = "epoch",
    ylabel: str | None = None,
    logy: bool = False,
    max_step: int | None = None,
    smooth: int = 1,
) -> Axes:
    """Like :func:`curves`, with the colours given per ``run`` label (``palette``, which also
    sets the legend order) and an optional centred rolling mean over ``smooth`` points."""
    df = history[history.metric == metric]
    if max_step is not None:
        df = df[df.step <= max_step]
    runs = [r for r in palette if r in set(df["run"])]
    for run in runs:
        d = df[df.run == run].sort_values("step")
        y = d.value.rolling(smooth, center=True, min_periods=1).mean() if smooth > 1 else d.value
        ax.plot(d[x], y, color=palette[run], label=run, lw=1.4)
    ax.set_xlabel("epoch" if x == "epoch" else "SGD step")
    ax.set_ylabel(ylabel or metric)
    if logy:
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
    legend_outside(ax)
    return ax


def mean_points(
    table: pd.DataFrame,
    x: str,
    y: str,
    by: str,
    ax: Axes,
    *,
    palette: dict[str, str] | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    logx: bool = False,
) -> Axes:
    """One point per group ``by`` at the mean of ``x`` and ``y`` with ± std error bars both ways
    (the paper's Fig. 2/7), each run behind it as a faint dot."""
    groups = list(dict.fromkeys(table[by]))
    palette = palette or ramp(groups, "viridis")
    for g in groups:
        d = table[table[by] == g]
        c = palette.get(g, "#7f7f7f")
        ax.scatter(d[x], d[y], color=c, alpha=0.3, s=14, lw=0)
        xerr = d[x].std(ddof=1) if len(d) > 1 else 0.0
        yerr = d[y].std(ddof=1) if len(d) > 1 else 0.0
        ax.errorbar(
            d[x].mean(),
            d[y].mean(),
            xerr=xerr,
            yerr=yerr,
            fmt="o",
            color=c,
            ms=7,
            capsize=3,
            label=f"{g} (n={len(d)})",
        )
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if logx:
        ax.set_xscale("log")
    legend_outside(ax)
    return ax


def histograms(
    table: pd.DataFrame,
    value: str,
    by: str,
    ax: Axes,
    *,
    palette: dict[str, str] | None = None,
    bins: int = 10,
    xlabel: str | None = None,
) -> Axes:
    """Overlaid histograms of ``value``, one per group ``by``, on shared bins (Fig. 6/13)."""
    v = pd.to_numeric(table[value], errors="coerce")
    df = table[v.notna() & (v.abs() != float("inf"))]
    groups = list(dict.fromkeys(df[by]))
    sns.histplot(
        data=df,
        x=value,
        hue=by,
        hue_order=groups,
        palette=palette,
        bins=bins,
        ax=ax,
        element="step",
        alpha=0.35,
        common_bins=True,
    )
    ax.set_xlabel(xlabel or value)
    ax.set_ylabel("runs")
    if ax.get_legend() is not None:
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title=None)
    return ax
