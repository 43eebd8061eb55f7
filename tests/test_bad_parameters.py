"""Every bad notebook parameter is refused in the notebook's first cells (issue 13): within
seconds, naming the parameter (and the accepted values where there is a list), before any data is
read or any folder made. The notebook's own parameters and resolve cells run in this process, with
papermill's injection (tests/conftest.py: execute_parameter_cells)."""

from __future__ import annotations

import time

import pytest
from conftest import REPO, execute_parameter_cells

import fisherlab.models  # noqa: F401  (torch imported before the timed cells)
from fisherlab.config import ConfigError

TRAINING = [
    "01_fisher_explosion",
    "02_early_phase_correlation",
    "03_fisher_penalty",
    "04_delayed_fisher_penalty",
    "05_memorization",
    "06_curvature_histograms",
]
# (value given, words the message must hold): refused the same way by every training notebook
COMMON = [
    ({"model": "nosuchnet"}, ["model", "simplecnn"]),
    ({"dataset": "mnist"}, ["dataset", "cifar10"]),
    ({"batch_size": 0}, ["batch_size"]),
    ({"augment": "yes"}, ["augment"]),
    ({"stop_train_acc": "abc"}, ["stop_train_acc"]),
    ({"device": "cuda"}, ["device", "cpu"]),
    ({"subset": 100000}, ["subset"]),
    ({"val_size": 100000}, ["val_size"]),
    ({"threads": 0}, ["threads"]),
    ({"workers": 0}, ["workers"]),
    ({"executor": "slurm"}, ["executor", "ray"]),
    ({"profile": "huge"}, ["profile", "smoke", "cpu"]),
    ({"nosuch_param": 1}, ["nosuch_param", "valid parameters"]),
    ({"momentum": 1.5}, ["momentum"]),
    ({"lr_milestones": "abc"}, ["lr_milestones"]),
]
# notebook-specific values
OWN = [
    ("01_fisher_explosion", {"lr_star": "abc"}, ["lr_star"]),
    ("01_fisher_explosion", {"lr_small": 1.0}, ["lr_small", "lr_star"]),
    ("01_fisher_explosion", {"seeds": [0, 0]}, ["seeds"]),
    ("01_fisher_explosion", {"horizons": [0]}, ["horizons"]),
    ("01_fisher_explosion", {"decay_fractions": [1.5]}, ["decay_fractions"]),
    ("01_fisher_explosion", {"lr_grid": [0.0]}, ["lr_grid"]),
    ("01_fisher_explosion", {"lr_grid": [0.05]}, ["lr_grid", "lr_star"]),
    ("01_fisher_explosion", {"lr_grid": "0.01"}, ["lr_grid"]),
    ("00_reproduction_report", {"profile": "huge"}, ["profile", "smoke"]),
    ("00_reproduction_report", {"nosuch_param": 1}, ["nosuch_param", "valid parameters"]),
]
CASES = [(nb, params, words) for nb in TRAINING for params, words in COMMON] + OWN


@pytest.mark.parametrize(
    ("name", "params", "words"),
    CASES,
    ids=[f"{n[:2]}-{next(iter(p))}={next(iter(p.values()))!r}" for n, p, _ in CASES],
)
def test_bad_parameter_is_refused_in_the_first_cells(tmp_path, name, params, words):
    started = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        execute_parameter_cells(name, tmp_path, **params)
    assert time.perf_counter() - started < 15
    for word in words:
        assert word in str(err.value), (word, str(err.value))
    assert not any(tmp_path.rglob("*")), "a refused notebook left files"


def test_the_table_covers_every_notebook_and_forty_values():
    notebooks = {p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert {n for n, _, _ in CASES} == notebooks
    assert len(CASES) >= 40


def test_an_empty_lr_grid_turns_off_a_profiles_grid_search_other_lists_must_not_be_empty(
    tmp_path,
):
    namespace = execute_parameter_cells(
        "01_fisher_explosion", tmp_path, profile="cpu-long", lr_grid=[]
    )
    assert namespace["P"]["lr_grid"] == []
    with pytest.raises(ConfigError, match=r"horizons=\[\] is not valid; accepted: a non-empty"):
        execute_parameter_cells("01_fisher_explosion", tmp_path, profile="cpu-long", horizons=[])
