"""Executors: the same configs give the same runs locally (in-process or pooled) and on Ray."""

from __future__ import annotations

import pandas as pd
import pytest
from test_training import smoke_config

from fisherlab.config import ConfigError
from fisherlab.runs import RunStore
from fisherlab.sweep import run_all


def _configs():
    return [smoke_config(seed=s, epochs=1) for s in range(3)]


def _same(a, b):
    for x, y in zip(a, b, strict=True):
        assert x.summary["status"] == y.summary["status"] == "finished"
        for key in ("max_trace_fisher", "final_test_acc", "final_train_acc", "steps"):
            assert x.summary[key] == y.summary[key]
        pd.testing.assert_frame_equal(x.history, y.history)


def test_process_pool_matches_in_process(tmp_path):
    inline = run_all(RunStore(tmp_path / "a"), _configs(), progress=False)
    pooled = run_all(RunStore(tmp_path / "b"), _configs(), workers=2, progress=False)
    _same(inline, pooled)


def test_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    bad = smoke_config(dataset="cifar10", data_root=str(tmp_path / "missing"))
    results = run_all(RunStore(tmp_path), [bad, smoke_config(epochs=1)], progress=False)
    assert results[0].summary["status"] == "failed" and "missing" in results[0].summary["error"]
    assert results[1].summary["status"] == "finished"


def test_unknown_executor(tmp_path):
    with pytest.raises(ConfigError, match="executor"):
        run_all(RunStore(tmp_path), _configs(), executor="slurm", progress=False)


@pytest.mark.slow
def test_ray_matches_local(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    local = run_all(RunStore(tmp_path / "local"), _configs(), progress=False)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        remote = run_all(RunStore(tmp_path / "ray"), _configs(), executor="ray", progress=False)
    finally:
        ray.shutdown()
    _same(local, remote)
