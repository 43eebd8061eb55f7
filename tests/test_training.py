"""The training loop and run store: determinism, resume after SIGKILL or Ctrl-C, divergence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from fisherlab.config import TrainConfig
from fisherlab.runs import RunStore
from fisherlab.training import _Loop, train

SMOKE = dict(
    dataset="synthetic",
    data_options={"train_size": 600, "test_size": 200, "image_size": 12},
    val_size=100,
    model="simplecnn",
    model_options={"width": 0.25},
    lr=0.05,
    batch_size=50,
    epochs=3,
    fisher_probe=64,
    fisher_every=4,
    fisher_dense_until=12,
    eval_every=1.0,
    log_every=5,
)


def smoke_config(**changes) -> TrainConfig:
    return TrainConfig.from_dict({**SMOKE, **changes})


def test_same_seed_gives_identical_history(tmp_path):
    a = train(smoke_config(), tmp_path / "a", progress=False)
    b = train(smoke_config(), tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(a.history, b.history)
    c = train(smoke_config(seed=1), tmp_path / "c", progress=False)
    assert not a.history.value.equals(c.history.value)


def test_history_is_tidy_and_summary_consistent(tmp_path):
    r = train(smoke_config(augment=True, lr_milestones=(2,)), tmp_path, progress=False)
    h = r.history
    assert list(h.columns) == ["step", "epoch", "metric", "value"]
    fisher = h[h.metric == "trace_fisher"]
    assert fisher.step.iloc[0] == 0 and (fisher.value > 0).all()
    assert r.summary["max_trace_fisher"] == pytest.approx(fisher.value.max())
    assert r.summary["steps"] == 3 * 10 and r.summary["status"] == "finished"
    lrs = h[h.metric == "lr"].set_index("step").value
    assert list(lrs[lrs.index < 20]) == pytest.approx([0.05] * 3)
    assert list(lrs[lrs.index > 20]) == pytest.approx([0.005] * 2)
    assert 0 <= r.summary["final_train_acc"] <= 1


def test_divergence_is_recorded_not_raised(tmp_path):
    r = train(smoke_config(lr=1e6, momentum=0.0), tmp_path, progress=False)
    assert r.summary["status"] == "diverged"
    assert r.summary["diverged_step"] is not None and r.summary["diverged_step"] < 30


def test_stop_at_train_accuracy(tmp_path):
    r = train(smoke_config(epochs=50, stop_train_acc=0.5), tmp_path, progress=False)
    assert r.summary["stop_reason"] == "train_acc"
    assert r.summary["last_epoch_train_acc"] >= 0.5 and r.summary["steps"] < 50 * 10


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, step: int):
    """A Ctrl-C at the start of SGD step ``step``; returns the real step to restore."""
    original = _Loop.sgd_step

    def interrupted(self):
        if self.step == step:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(_Loop, "sgd_step", interrupted)
    return original


def test_keyboard_interrupt_checkpoints_and_resume_is_bit_identical(tmp_path, monkeypatch):
    cfg = smoke_config()
    want = train(cfg, tmp_path / "whole", progress=False)
    original = _interrupt_at(monkeypatch, 17)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", progress=False)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["step"] == 17
    monkeypatch.setattr(_Loop, "sgd_step", original)
    got = train(cfg, tmp_path / "cut", progress=False)
    pd.testing.assert_frame_equal(got.history, want.history)


def test_sigkill_mid_run_then_resume_gives_the_same_summary(tmp_path):
    """Acceptance: a run killed with SIGKILL and started again ends as an uninterrupted one."""
    cfg = smoke_config(epochs=8)
    store = RunStore(tmp_path / "runs")
    script = textwrap.dedent(
        f"""
        import torch; torch.set_num_threads(1)
        from fisherlab.config import TrainConfig
        from fisherlab.runs import RunStore
        config = TrainConfig.from_dict({cfg.to_dict()!r})
        RunStore({str(tmp_path / "runs")!r}).run(config, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    ckpt = store.path(cfg) / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not store.is_done(cfg), "the run finished before it could be killed"
    resumed = store.run(cfg, progress=False)
    whole = train(cfg, tmp_path / "whole", progress=False)
    for k in ("max_trace_fisher", "best_val_acc", "final_test_acc", "final_train_acc", "steps"):
        assert resumed.summary[k] == whole.summary[k], k
    pd.testing.assert_frame_equal(resumed.history, whole.history)


def test_run_store_reuses_finished_runs(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    cfg = smoke_config(epochs=1)
    first = store.run(cfg, progress=False)
    files = {p.name for p in store.path(cfg).iterdir()}
    assert {"config.json", "meta.json", "history.parquet", "summary.json", "checkpoint.pt"} <= files
    assert json.loads((store.path(cfg) / "config.json").read_text()) == cfg.to_dict()
    monkeypatch.setattr("fisherlab.runs.train", lambda *a, **k: pytest.fail("recomputed"))
    again = store.run(cfg, progress=False)
    assert again.summary == first.summary


@pytest.mark.parametrize("regularizer", ["fp", "fp_exact", "gp", "gpr", "gpx", "mixup"])
def test_every_regularizer_trains(tmp_path, regularizer):
    r = train(smoke_config(epochs=1, regularizer=regularizer, alpha=0.01), tmp_path, progress=False)
    assert r.summary["status"] == "finished"
    if regularizer != "mixup":
        assert (r.history.metric == "penalty").any()


def test_finite_difference_fisher_penalty_trains(tmp_path):
    cfg = smoke_config(epochs=1, regularizer="fp", alpha=0.01, penalty_method="finite_difference")
    r = train(cfg, tmp_path, progress=False)
    assert r.summary["status"] == "finished" and (r.history.metric == "penalty").any()


def test_label_noise_runs_track_clean_and_noisy_examples(tmp_path):
    r = train(smoke_config(epochs=2, label_noise=0.4), tmp_path, progress=False)
    metrics = set(r.history.metric)
    for name in (
        "train_acc_clean",
        "train_acc_noisy",
        "grad_norm_clean",
        "grad_norm_noisy",
        "grad_norm_ratio_clean_noisy",
        "grad_cos_clean_noisy",
    ):
        assert name in metrics, name
    cos = r.history[r.history.metric == "grad_cos_clean_noisy"].value
    assert ((cos >= -1) & (cos <= 1)).all()
    assert 0 <= r.summary["final_train_acc_noisy"] <= 1
    assert "train_acc_clean" not in set(
        train(smoke_config(epochs=1), tmp_path / "b", progress=False).history.metric
    )


def test_hessian_trace_is_measured_at_evaluations(tmp_path):
    r = train(smoke_config(epochs=2, hessian_probes=3), tmp_path, progress=False)
    h = r.history
    assert sorted(h[h.metric == "trace_hessian"].step) == sorted(h[h.metric == "test_acc"].step)


def test_init_from_a_stored_run(tmp_path):
    from fisherlab.runs import RunStore

    store = RunStore(tmp_path)
    first = smoke_config(epochs=2)
    store.run(first, progress=False)
    cont = smoke_config(epochs=1, init_from=first.key(), lr=0.01)
    r = store.run(cont, progress=False)
    start = r.history[(r.history.metric == "test_acc") & (r.history.step == 0)].value.iloc[0]
    end_first = store.load(first).summary["final_test_acc"]
    assert start == end_first  # the continuation starts where the first run ended
    with pytest.raises(FileNotFoundError, match="init_from"):
        store.run(smoke_config(init_from="0123456789abcdef"), progress=False)
    # a committed record carries no weights: the source run is retrained, bit-identically on CPU
    store.checkpoint(first.key()).unlink()
    store.checkpoint(first.key()).with_name("checkpoint.prev.pt").unlink(missing_ok=True)
    again = smoke_config(epochs=1, init_from=first.key(), lr=0.02)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r2 = store.run(again, progress=False)
    messages = [str(w.message) for w in caught]
    assert any("retraining it" in m for m in messages)
    assert not any("differs from its record" in m for m in messages)
    start2 = r2.history[(r2.history.metric == "test_acc") & (r2.history.step == 0)].value.iloc[0]
    assert start2 == end_first
    with pytest.raises(ValueError, match="init_state"):
        train(smoke_config(init_from=first.key()), tmp_path / "x", progress=False)


def test_data_root_missing_fails_before_training(tmp_path):
    from fisherlab.data import DataNotFoundError

    cfg = TrainConfig(dataset="cifar10", data_root=str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError, match="nowhere"):
        train(cfg, progress=False)
    assert not Path(tmp_path / "nowhere").exists()


def test_unfinished_lists_the_checkpoints_a_later_session_resumes(tmp_path, capsys, monkeypatch):
    from fisherlab.runs import main

    store = RunStore(tmp_path)
    store.run(smoke_config(epochs=1), progress=False)
    cut = smoke_config(epochs=3, seed=5)
    _interrupt_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        store.run(cut, progress=False)
    assert store.unfinished() == [store.checkpoint(cut.key())]
    main(["unfinished", str(tmp_path)])
    assert capsys.readouterr().out.split() == [str(store.checkpoint(cut.key()))]
