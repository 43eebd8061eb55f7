"""Every notebook executed with its smoke parameters (papermill), then its recorded results checked.

Also: bad parameters fail fast, naming the parameter and the accepted values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import papermill as pm
import pytest
from conftest import REPO
from papermill.translators import PythonTranslator

NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def execute(name: str, tmp_path: Path, **params) -> tuple[dict, Path]:
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(
        REPO / "notebooks" / f"{name}.ipynb",
        out,
        parameters={
            "profile": "smoke",
            "output_dir": str(tmp_path / "out"),
            "runs_dir": str(tmp_path / "runs"),
            **params,
        },
        kernel_name="python3",
        progress_bar=False,
        cwd=str(REPO / "notebooks"),
    )
    return json.loads(out.read_text()), tmp_path / "out"


def _png_outputs(nb: dict) -> int:
    return sum(
        "image/png" in o.get("data", {})
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )


def check_01(summary: dict, out: Path) -> None:
    rows = summary["summary"]
    assert [r["run"].split(" (")[0] for r in rows] == ["η*", "small LR"]
    assert all(r["status"] == "finished" and r["max Tr(F)"] > 0 for r in rows)
    f = summary["findings"]
    assert f["trace_fisher_ratio"] == pytest.approx(rows[1]["max Tr(F)"] / rows[0]["max Tr(F)"])
    gap = 100 * (rows[0]["best test acc"] - rows[1]["best test acc"])
    assert f["best_test_gap_points"] == pytest.approx(gap)
    assert len(f["lines"]) >= 4
    assert {"fig1_fisher_explosion.png", "fig18_early_phase.png", "summary.csv"} <= {
        p.name for p in out.iterdir()
    }


def check_03(summary: dict, out: Path) -> None:
    methods = [r["method"] for r in summary["methods"]]
    assert methods == ["eta_star", "baseline", "gpx", "gp", "fp", "gpr"]
    assert all(r["seeds"] == 2 for r in summary["methods"])
    assert len(summary["per_run"]) == 12
    chosen = summary["chosen"]
    assert chosen["lr_star"] in summary["params"]["lr_grid"]
    assert chosen["lr_small"] == pytest.approx(chosen["lr_star"] / 10)
    # FP's α was searched on its grid; the others were fixed by the profile
    assert len(summary["alpha_search"]) == summary["params"]["alpha_grid_points"]
    assert chosen["alphas"]["gp"] == summary["params"]["alphas"]["gp"]
    gaps = {r["method"]: r for r in summary["gaps"]}
    assert gaps["baseline"]["best Δ vs baseline (pts)"] == 0
    assert gaps["fp"]["best Δ vs eta_star (pts)"] == pytest.approx(
        gaps["fp"]["best test (%)"] - gaps["eta_star"]["best test (%)"]
    )
    ref = {r["method"]: r["paper Table 1 test acc (%)"] for r in summary["methods"]}
    assert ref["fp"] == 79.66  # the labelled reference column for SimpleCNN / CIFAR-10
    assert all(-1 <= r["pearson"] <= 1 for r in summary["correlation"])
    assert [r["run"] for r in summary["supplement_c"]] == [
        "FP f=10",
        "FP f=1",
        "FP per-example (eq. 6)",
    ]
    assert len(summary["findings"]["lines"]) == 5
    assert {"fig4_fisher_penalty.png", "fig15_trace_fisher_batch.png"} <= {
        p.name for p in out.iterdir()
    }


def check_04(summary: dict, out: Path) -> None:
    assert [r["start epoch"] for r in summary["starts"]] == summary["params"]["start_epochs"]
    assert summary["chosen"]["alpha"] == 0.01
    assert set(summary["references"]) == {"eta_star", "baseline"}
    f = summary["findings"]
    assert -1 <= f["spearman_start_vs_final_test"] <= 1 and len(f["lines"]) == 3
    assert (out / "fig3_delayed_fisher_penalty.png").exists()


CHECKS: dict[str, Callable[[dict, Path], None]] = {
    "01_fisher_explosion": check_01,
    "03_fisher_penalty": check_03,
    "04_delayed_fisher_penalty": check_04,
}
# parameters a notebook's smoke test sets beyond the smoke profile
EXTRA_PARAMS: dict[str, dict] = {"04_delayed_fisher_penalty": {"alpha": 0.01}}


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_smoke(name, tmp_path):
    started = time.perf_counter()
    nb, out = execute(name, tmp_path, **EXTRA_PARAMS.get(name, {}))
    elapsed = time.perf_counter() - started
    assert _png_outputs(nb) >= 1, "figures must render inline"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["profile"] == "smoke"
    CHECKS[name](summary, out)
    print(f"{name}: {elapsed:.1f} s")


def test_every_notebook_has_checks_and_params():
    for name in NOTEBOOKS:
        assert name in CHECKS, f"{name} has no assertions on its recorded results"
        for profile in ("smoke", "cpu", "paper"):
            path = REPO / "params" / profile / f"{name}.yaml"
            assert path.exists(), path
            assert path.read_text().startswith("#"), f"{path} must start with its command comment"


def test_committed_notebooks_are_clean():
    for name in NOTEBOOKS:
        nb = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", []), name
        assert not any(c.get("outputs") for c in code), f"{name} has committed outputs"
        # papermill must read every line of the parameters cell (it cannot parse '=' in comments)
        source = "".join(code[0]["source"])
        parsed = PythonTranslator.inspect({"source": source})
        assert len(parsed) == len(source.strip().splitlines()), name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "expected", "name"),
    [
        ({"model": "nosuchnet"}, ["model", "simplecnn", "resnet56"], "01_fisher_explosion"),
        ({"lr_star": -0.1}, ["lr_star", "> 0"], "01_fisher_explosion"),
        ({"batch_size": 0}, ["batch_size"], "01_fisher_explosion"),
        ({"dataset": "mnist"}, ["dataset", "cifar10"], "01_fisher_explosion"),
        ({"nosuch_param": 1}, ["nosuch_param", "valid parameters"], "01_fisher_explosion"),
        ({"profile": "huge"}, ["profile", "smoke", "cpu", "paper"], "01_fisher_explosion"),
        ({"setting": "VGG11"}, ["setting", "one setting"], "01_fisher_explosion"),
        ({"alpha": -1}, ["alpha", "must be"], "03_fisher_penalty"),
        ({"regularizer": "nosuch"}, ["regularizer", "valid parameters"], "03_fisher_penalty"),
        ({"methods": ["fp", "nosuch"]}, ["methods", "gpx"], "03_fisher_penalty"),
        ({"start_epochs": [-1]}, ["start_epochs"], "04_delayed_fisher_penalty"),
    ],
)
def test_bad_parameters_fail_fast(tmp_path, params, expected, name):
    started = time.perf_counter()
    with pytest.raises(pm.PapermillExecutionError) as err:
        execute(name, tmp_path, **params)
    assert time.perf_counter() - started < 20
    assert "ConfigError" in err.value.ename
    for word in expected:
        assert word in err.value.evalue


@pytest.mark.slow
def test_missing_data_directory_fails_before_training(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        execute(
            "01_fisher_explosion", tmp_path, dataset="cifar10", data_root=str(tmp_path / "none")
        )
    assert err.value.ename == "DataNotFoundError"
    assert str(tmp_path / "none") in err.value.evalue
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("checkpoint.pt"))
