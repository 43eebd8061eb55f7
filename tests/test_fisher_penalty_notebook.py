"""Notebook 03 changed from its parameters alone, through papermill at the smoke profile.

A user adds a seed and changes the α grid, and re-runs the notebook without touching lib: the
recorded per-run table and α search reflect it. The design card's ad-hoc command
``papermill notebooks/03_fisher_penalty.ipynb out.ipynb -p alpha 0.01`` runs as written (only the
run store is pointed at a temporary folder; it does not change where results go) and leaves the
profile's recorded ``outputs/smoke/03_fisher_penalty/summary.json`` untouched: its results go to
an ``adhoc-<hash>`` folder beside it. Both share one run store, so the second reuses the runs
they have in common.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import papermill as pm
import pytest
from conftest import REPO

from fisherlab.notebook import default_output_dir

NOTEBOOK = REPO / "notebooks" / "03_fisher_penalty.ipynb"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


def _execute(out: Path, cwd: Path, **parameters: object) -> None:
    pm.execute_notebook(
        NOTEBOOK,
        out,
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(cwd),
    )


@pytest.mark.slow
def test_a_seed_added_and_an_alpha_grid_changed_in_the_notebook(tmp_path, runs_dir):
    out = tmp_path / "out"
    seeds, points = [0, 1, 2, 3], 3
    _execute(
        tmp_path / "03.ipynb",
        REPO / "notebooks",
        profile="smoke",
        runs_dir=str(runs_dir),
        output_dir=str(out),
        seeds=seeds,
        alpha_grid_points=points,
        table2=False,
        supplement_c=False,
    )
    summary = json.loads((out / "summary.json").read_text())
    per_run = summary["per_run"]
    methods = summary["params"]["methods"]
    assert sorted({(r["method"], r["seed"]) for r in per_run}) == sorted(
        (m, s) for m in methods for s in seeds
    )
    assert all(r["runs"] == len(seeds) for r in summary["methods"])
    searched = [r for r in summary["alpha_search"] if r["method"] == "fp"]
    assert len(searched) == points and {r["seed"] for r in searched} == {0}
    assert summary["chosen"]["alphas"]["fp"] in [r["alpha"] for r in searched]
    assert [r["alpha"] for r in per_run if r["method"] == "fp"] == [
        summary["chosen"]["alphas"]["fp"]
    ] * len(seeds)
    assert summary["table2"] == [] and summary["supplement_c"] == []
    assert len(summary["run_keys"]) == len(set(summary["run_keys"]))


@pytest.mark.slow
def test_design_card_alpha_command_leaves_the_recorded_summary_untouched(tmp_path, runs_dir):
    recorded_dir = default_output_dir("03_fisher_penalty", "smoke")
    recorded = recorded_dir / "summary.json"
    sentinel, new_dir = not recorded.exists(), not recorded_dir.exists()
    if sentinel:  # no recorded smoke results here: stand one in, removed afterwards
        recorded_dir.mkdir(parents=True, exist_ok=True)
        recorded.write_text(json.dumps({"recorded": True}))
    before = recorded.read_bytes(), recorded.stat().st_mtime_ns
    adhoc_before, started = set(recorded_dir.glob("adhoc-*")), time.time()
    try:
        # `papermill notebooks/03_fisher_penalty.ipynb out.ipynb -p alpha 0.01`, from the repo root
        _execute(tmp_path / "out.ipynb", REPO, alpha=0.01, runs_dir=str(runs_dir))
        assert (recorded.read_bytes(), recorded.stat().st_mtime_ns) == before
        written = [
            p for p in recorded_dir.glob("adhoc-*/summary.json") if p.stat().st_mtime >= started - 1
        ]
        (path,) = written  # one ad-hoc folder, named by the changed parameter
        summary = json.loads(path.read_text())
        assert summary["params"]["profile"] == "smoke" and summary["params"]["alpha"] == 0.01
        assert summary["chosen"]["alphas"]["fp"] == 0.01
        assert summary["alpha_search"] == []  # FP's α given: nothing searched at smoke
        assert {r["alpha"] for r in summary["per_run"] if r["method"] == "fp"} == {0.01}
    finally:
        for folder in set(recorded_dir.glob("adhoc-*")) - adhoc_before:
            shutil.rmtree(folder)
        if sentinel:
            recorded.unlink()
        if new_dir:
            recorded_dir.rmdir()
