"""Assertions on notebook 03's recorded results at the smoke profile (see test_notebooks.py).

Recomputes from the per-run rows what the notebook recorded: a method mean, the FP − baseline
difference, the matched-train-accuracy level, and that every search pick is the finished run of
highest validation accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ACC = "test acc at best val"


def _finished(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    return df[df.status == "finished"]


def _best(rows: list[dict], key: str) -> float:
    ok = _finished(rows)
    return float(ok.loc[ok["best val acc"].idxmax(), key])


def check(summary: dict, out: Path) -> None:
    p, chosen = summary["params"], summary["chosen"]
    seeds, methods = p["seeds"], p["methods"]
    assert methods == ["eta_star", "baseline", "gpx", "gp", "fp", "gpr"]
    assert len(seeds) >= 3  # ≥ 3 seeds per arm, as at the cpu profile
    per_run = pd.DataFrame(summary["per_run"])
    assert sorted(zip(per_run.method, per_run.seed, strict=True)) == sorted(
        (m, s) for m in methods for s in seeds
    )
    assert per_run[ACC].between(0, 100).all()  # percent, as params/claims.yaml reads them

    # the searches: η* and FP's α picked on validation accuracy at the first seed
    assert chosen["lr_star"] == _best(summary["lr_search"], "lr")
    assert chosen["lr_small"] == pytest.approx(chosen["lr_star"] / p["baseline_divisor"])
    fp_search = [r for r in summary["alpha_search"] if r["method"] == "fp"]
    assert len(fp_search) == p["alpha_grid_points"] and {r["seed"] for r in fp_search} == {seeds[0]}
    assert chosen["alphas"]["fp"] == _best(fp_search, "alpha")
    assert chosen["alphas"]["gp"] == p["alphas"]["gp"]  # given, not searched
    assert set(per_run[per_run.method == "fp"].alpha) == {chosen["alphas"]["fp"]}

    # a method mean and the FP − baseline difference, recomputed from the finished runs
    ok = _finished(summary["per_run"])
    means = {r["method"]: r for r in summary["methods"]}
    assert means["fp"][ACC] == pytest.approx(ok[ok.method == "fp"][ACC].mean())
    assert means["fp"]["runs"] == len(ok[ok.method == "fp"])
    comp = {(r["a"], r["b"], r["value"]): r for r in summary["comparisons"]}
    row = comp[("fp", "baseline", ACC)]
    diff = ok[ok.method == "fp"][ACC].mean() - ok[ok.method == "baseline"][ACC].mean()
    assert row["estimate"] == pytest.approx(diff)
    assert row["lo"] <= row["estimate"] <= row["hi"]
    assert ("fp", "baseline", "test acc at matched train acc") in comp
    # the matched level: the highest train accuracy every FP and baseline run reached
    assert 0 < chosen["matched_train_acc"] <= 100
    assert per_run["test acc at matched train acc"].notna().any()
    ref = {r["method"]: r["paper Table 1 test acc (%)"] for r in summary["methods"]}
    assert ref["fp"] == 79.66  # the labelled reference column for SimpleCNN / CIFAR-10

    # Table 2 and Supplement C: the rows the scorecard reads
    table2 = pd.DataFrame(summary["table2"])
    assert sorted(zip(table2.method, table2.seed, strict=True)) == sorted(
        (m, s) for m in ("eta_star", "fp") for s in seeds
    )
    assert set(table2[table2.method == "fp"].lr) == {chosen["lr_star"]}
    supp = pd.DataFrame(summary["supplement_c"])
    assert sorted(set(supp.method)) == ["fp_exact", "fp_f1", "fp_f10"]
    assert (supp.groupby("method").size() == len(seeds)).all()
    assert (supp.steps <= p["supplement_c_max_steps"]).all()
    searched = pd.DataFrame(summary["supplement_c_search"])
    assert len(searched[searched.method == "fp_f1"]) == len(p["alpha_f1_grid"])
    f1_search = [r for r in summary["supplement_c_search"] if r["method"] == "fp_f1"]
    assert chosen["supplement_c_alphas"]["fp_f1"] == _best(f1_search, "alpha")
    assert chosen["supplement_c_alphas"]["fp_f10"] == chosen["alphas"]["fp"]

    # the Tr(F^B) check: one row per Table 1 run and per Fig. 15 run
    corr = pd.DataFrame(summary["correlation"])
    assert len(corr) == len(per_run) + len(p["fig15_lrs"])
    ratio = corr["mean Tr(F)/Tr(F^B)"] / p["batch_size"]
    assert np.allclose(ratio, corr["ratio / B"])
    assert corr.pearson.dropna().between(-1, 1).all()

    f = summary["findings"]
    assert f["left_out"] == []  # nothing diverges at smoke
    train = {r["method"]: r["final train acc"] for r in summary["methods"]}
    assert f["below_95_train"] == [m for m, v in train.items() if not v >= 95]
    assert {
        "fig4_fisher_penalty.png",
        "fig15_trace_fisher_batch.png",
        "fig16_fig17_supplement_c.png",
    } <= {q.name for q in out.iterdir()}
