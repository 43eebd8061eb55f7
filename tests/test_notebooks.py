"""Every notebook executed with its smoke parameters (papermill), then its recorded results checked.

Each smoke execution prints its wall and CPU seconds (kernel included): measured, not asserted;
``pytest --durations`` lists them. Also: bad parameters fail fast, in the cell that resolves the
parameters, naming the parameter and the accepted values.
"""

from __future__ import annotations

import importlib
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import papermill as pm
import pytest
from conftest import REPO, execute, execute_parameter_cells
from papermill.translators import PythonTranslator

from fisherlab.config import ConfigError

NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _png_outputs(nb: dict) -> int:
    return sum(
        "image/png" in o.get("data", {})
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )


def checks(name: str) -> tuple[Callable[[dict, Path], None], dict, bool]:
    """``tests/checks_NN.py`` holds notebook NN's assertions (``check``), extra smoke parameters
    (``EXTRA_PARAMS``) and whether it must show figures (``INLINE_FIGURES``, default True)."""
    module = importlib.import_module(f"checks_{name[:2]}")
    return (
        module.check,
        getattr(module, "EXTRA_PARAMS", {}),
        getattr(module, "INLINE_FIGURES", True),
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_smoke(name, tmp_path, record_property):
    started, cpu = time.perf_counter(), _children_cpu()
    check, extra, figures = checks(name)
    nb, out = execute(name, tmp_path, **extra)
    elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu  # the kernel has exited
    record_property("wall_s", round(elapsed, 1))
    record_property("cpu_s", round(cpu, 1))
    print(f"{name}: {elapsed:.1f} s wall, {cpu:.1f} s CPU (user+sys of the kernel)")
    assert _png_outputs(nb) >= figures, "figures must render inline"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["profile"] == "smoke"
    check(summary, out)


def test_every_notebook_has_checks_and_params():
    for name in NOTEBOOKS:
        assert (REPO / "tests" / f"checks_{name[:2]}.py").exists(), f"{name} has no checks"
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


# notebook-specific bad values (tests/test_bad_parameters.py holds the ones every notebook shares)
BAD_PARAMETERS = [
    ({"lr_star": -0.1}, ["lr_star", "> 0"], "01_fisher_explosion"),
    ({"setting": "VGG11"}, ["setting", "one setting"], "01_fisher_explosion"),
    ({"alpha": -1}, ["alpha", "must be"], "03_fisher_penalty"),
    ({"regularizer": "nosuch"}, ["regularizer", "valid parameters"], "03_fisher_penalty"),
    ({"methods": ["fp", "nosuch"]}, ["methods", "gpx"], "03_fisher_penalty"),
    ({"start_epochs": [-1]}, ["start_epochs"], "04_delayed_fisher_penalty"),
]


@pytest.mark.parametrize(("params", "expected", "name"), BAD_PARAMETERS)
def test_bad_parameters_fail_fast(tmp_path, params, expected, name):
    # the notebook's own first cells, in this process: the error comes before any training cell
    with pytest.raises(ConfigError) as err:
        execute_parameter_cells(name, tmp_path, **params)
    for word in expected:
        assert word in str(err.value)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_bad_parameter_stops_the_executed_notebook(tmp_path):
    # the same refusal through papermill and a kernel, as a user meets it
    with pytest.raises(pm.PapermillExecutionError) as err:
        execute("01_fisher_explosion", tmp_path, model="nosuchnet")
    assert err.value.ename == "ConfigError"
    for word in ("model", "simplecnn", "resnet56"):
        assert word in err.value.evalue
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_missing_data_directory_fails_before_training(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        execute(
            "01_fisher_explosion", tmp_path, dataset="cifar10", data_root=str(tmp_path / "none")
        )
    assert err.value.ename == "DataNotFoundError"
    assert str(tmp_path / "none") in err.value.evalue
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("checkpoint.pt"))
