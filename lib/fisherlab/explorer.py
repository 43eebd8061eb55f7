"""An interactive run explorer (ipywidgets) over the run store, for notebook 00 and JupyterLab.

``run_index`` lists the finished runs with the config fields people filter on and the notebooks
that used them; ``explorer`` returns a widget: pick runs by notebook, regulariser, learning rate,
α and seed, pick a metric, and see its curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fisherlab import plots
from fisherlab.runs import RunStore

__all__ = ["explorer", "load_histories", "run_index"]

FIELDS = (
    "model",
    "dataset",
    "subset",
    "regularizer",
    "lr",
    "alpha",
    "seed",
    "penalty_start_epoch",
    "label_noise",
    "batch_size",
)


def run_index(
    runs_dir: str | Path, notebook_results: dict[str, dict[str, Any]] | None = None
) -> pd.DataFrame:
    """One row per finished run: key, the filterable config fields, status, test accuracy at
    the best validation point, and the notebooks (from their recorded ``run_keys``) that used it."""
    used: dict[str, list[str]] = {}
    for name, summary in (notebook_results or {}).items():
        for key in summary.get("run_keys", []):
            used.setdefault(key, []).append(name)
    store = RunStore(runs_dir)
    rows = []
    for key in store.finished():
        run = store.read(key)
        rows.append(
            {
                "key": key,
                **{f: run["config"].get(f) for f in FIELDS},
                "status": run["summary"].get("status"),
                "test acc at best val": run["summary"].get("test_acc_at_best_val"),
                "max Tr(F)": run["summary"].get("max_trace_fisher"),
                "notebooks": ", ".join(used.get(key, [])),
            }
        )
    columns = ["key", *FIELDS, "status", "test acc at best val", "max Tr(F)", "notebooks"]
    return pd.DataFrame(rows, columns=columns)


def _label(row: pd.Series) -> str:
    reg = "" if row["regularizer"] == "none" else f" {row['regularizer']} α={row['alpha']:g}"
    return f"{row['model']} lr={row['lr']:g}{reg} seed={row['seed']} [{row['key'][:6]}]"


def load_histories(runs_dir: str | Path, index: pd.DataFrame) -> pd.DataFrame:
    """The tidy histories of the indexed runs, with a readable ``run`` label."""
    store = RunStore(runs_dir)
    parts = [store.history(row["key"]).assign(run=_label(row)) for _, row in index.iterrows()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def explorer(runs_dir: str | Path, index: pd.DataFrame) -> Any:
    """A widget: filters → runs → metric → curves. Needs ipywidgets (``fisherlab[notebooks]``)."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    def options(col: str) -> list[Any]:
        return ["(all)", *sorted({v for v in index[col].dropna()}, key=str)]

    filters = {
        "notebooks": w.Dropdown(
            options=["(all)", *sorted({n for s in index.notebooks for n in s.split(", ") if n})],
            description="notebook",
        ),
        **{
            c: w.Dropdown(options=options(c), description=c)
            for c in ("regularizer", "lr", "alpha", "seed")
        },
    }
    runs = w.SelectMultiple(rows=10, description="runs", layout=w.Layout(width="95%"))
    metric = w.Dropdown(
        options=[
            "trace_fisher",
            "trace_fisher_batch",
            "val_acc",
            "test_acc",
            "train_loss",
            "train_acc",
            "grad_norm",
            "epoch_train_acc",
            "penalty",
            "lr",
        ],
        description="metric",
    )
    logy = w.Checkbox(value=True, description="log y")
    out = w.Output()

    def selected_index() -> pd.DataFrame:
        df = index
        for col, dd in filters.items():
            if dd.value != "(all)":
                df = (
                    df[df[col].str.contains(dd.value, regex=False)]
                    if col == "notebooks"
                    else df[df[col] == dd.value]
                )
        return df

    def refresh_runs(*_: Any) -> None:
        df = selected_index()
        runs.options = [(_label(r), r["key"]) for _, r in df.iterrows()]
        runs.value = tuple(k for _, k in runs.options[:4])

    def draw(*_: Any) -> None:
        out.clear_output(wait=True)
        chosen = index[index.key.isin(runs.value)]
        with out:
            if not len(chosen):
                print("no run selected")
                return
            _, (ax,) = plots.figure(width=8, height=4)
            plots.curves(
                load_histories(runs_dir, chosen),
                metric.value,
                ax,
                logy=logy.value and metric.value.startswith(("trace", "grad", "train_l")),
            )
            plt.show()

    for dd in filters.values():
        dd.observe(refresh_runs, "value")
    for widget in (runs, metric, logy):
        widget.observe(draw, "value")
    refresh_runs()
    draw()
    return w.VBox(
        [
            w.HBox(list(filters.values())[:3]),
            w.HBox(list(filters.values())[3:]),
            runs,
            w.HBox([metric, logy]),
            out,
        ]
    )
