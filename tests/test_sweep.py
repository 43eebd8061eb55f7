"""Executors: the same configs give the same runs locally (in-process or pooled) and on Ray."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pandas as pd
import pytest
import torch
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


def _long_configs():
    """Three runs of ≈ 10 s each: long beside the seconds a spawned worker takes to start under
    load, so the first two are both running when the Ctrl-C comes."""
    return [smoke_config(seed=s, epochs=200) for s in range(3)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return run_all(RunStore(tmp_path_factory.mktemp("whole")), _long_configs(), progress=False)


def _ctrl_c_once_checkpointed(store: RunStore, who: str) -> threading.Thread:
    """Once the first two runs have both written a checkpoint (both workers are training), send
    SIGINT where a Ctrl-C lands: the notebook's process only (JupyterLab's "interrupt kernel"),
    one worker only, or every process (a terminal's Ctrl-C reaches the whole process group)."""
    first_two = [store.checkpoint(c.key()) for c in _long_configs()[:2]]

    def send() -> None:
        deadline = time.monotonic() + 120
        while not all(p.exists() for p in first_two) and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = [p.pid for p in multiprocessing.active_children()]
        pids = {
            "notebook": [os.getpid()],
            "worker": workers[:1],
            "everyone": [*workers, os.getpid()],
        }
        for pid in pids[who]:
            os.kill(pid, signal.SIGINT)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt here, as in a terminal or a Jupyter kernel: a process that
    a non-interactive shell starts in the background (`pytest &`, as CI may) inherits SIGINT
    ignored, and Python keeps it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("who", ["notebook", "worker", "everyone"])
def test_ctrl_c_stops_a_pooled_sweep_and_loses_nothing(who, tmp_path, uninterrupted, sigint_raises):
    configs, store = _long_configs(), RunStore(tmp_path)
    thread = _ctrl_c_once_checkpointed(store, who)
    with pytest.raises(KeyboardInterrupt):
        run_all(store, configs, workers=2, progress=False)
    thread.join()
    assert not multiprocessing.active_children()  # the pool is gone
    assert not any(store.is_done(c) for c in configs)  # stopped, not skipped to the next run
    assert [store.checkpoint(c.key()).exists() for c in configs] == [True, True, False]
    steps = [torch.load(store.checkpoint(c.key()), weights_only=False)["step"] for c in configs[:2]]
    assert all(0 < s < 2000 for s in steps)  # interrupted mid-run, each saved where it stood
    _same(run_all(store, configs, workers=2, progress=False), uninterrupted)


def _step(store: RunStore, config) -> int | None:
    path = store.checkpoint(config.key())
    return torch.load(path, weights_only=False)["step"] if path.exists() else None


@pytest.mark.slow
def test_ctrl_c_stops_a_ray_sweep_and_loses_nothing(
    tmp_path, monkeypatch, uninterrupted, sigint_raises
):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    configs, store = _long_configs(), RunStore(tmp_path)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        thread = _ctrl_c_once_checkpointed(store, "notebook")
        with pytest.raises(KeyboardInterrupt):
            run_all(store, configs, executor="ray", progress=False)
        thread.join()
        steps = [_step(store, c) for c in configs]
        time.sleep(3)  # cancelled tasks have stopped: nothing moves on
        assert [_step(store, c) for c in configs] == steps
        assert not any(store.is_done(c) for c in configs)
        assert [store.checkpoint(c.key()).exists() for c in configs] == [True, True, False]
        resumed = run_all(store, configs, executor="ray", progress=False)
    finally:
        ray.shutdown()
    _same(resumed, uninterrupted)
