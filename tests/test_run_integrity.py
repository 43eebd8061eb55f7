"""Runs that can't lie (issue 13): Ctrl-C in every phase, divergence, run keys and threads,
two processes on one run, torn files in the store."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch
from test_training import smoke_config

import fisherlab.checkpoints as checkpoints
import fisherlab.evaluation as evaluation
import fisherlab.measurements as measurements
import fisherlab.training as training
from fisherlab.runs import RunStore
from fisherlab.training import train

CFG = dict(epochs=2, fisher_every=3, fisher_dense_until=9, eval_every=0.5)


def _config(**changes):
    return smoke_config(**{**CFG, **changes})


def _weights(store: RunStore, cfg) -> dict[str, torch.Tensor]:
    return torch.load(store.checkpoint(cfg.key()), weights_only=False)["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("whole"))
    cfg = _config()
    return store.run(cfg, progress=False), _weights(store, cfg)


def _nth_call_interrupts(monkeypatch, owner, name, n, *, after=False):
    """Replace owner.name by a wrapper whose n-th call raises KeyboardInterrupt (before the
    original runs, or just after it returned)."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n and not after:
            raise KeyboardInterrupt
        out = original(*args, **kwargs)
        if calls["n"] == n and after:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def _forward_hook_interrupts(monkeypatch, n):
    """The n-th training-mode forward pass raises KeyboardInterrupt."""
    original = training.build_model
    calls = {"n": 0}

    def build(*args, **kwargs):
        model = original(*args, **kwargs)

        def hook(module, inputs):
            if module.training:
                calls["n"] += 1
                if calls["n"] == n:
                    raise KeyboardInterrupt

        model.register_forward_pre_hook(hook)
        return model

    monkeypatch.setattr(training, "build_model", build)
    return calls


PHASES = {
    "forward": lambda mp: _forward_hook_interrupts(mp, 13),
    "backward": lambda mp: _nth_call_interrupts(mp, torch.Tensor, "backward", 11),
    "after_opt_step": lambda mp: _nth_call_interrupts(mp, torch.optim.SGD, "step", 7, after=True),
    "trace_fisher": lambda mp: _nth_call_interrupts(mp, measurements, "trace_fisher", 4),
    "test_evaluation": lambda mp: _nth_call_interrupts(mp, evaluation, "evaluate", 6),
    "checkpoint_write": lambda mp: _nth_call_interrupts(mp, checkpoints, "_atomic_save", 1),
    "history_write": lambda mp: _nth_call_interrupts(mp, pd.DataFrame, "to_parquet", 1),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_ctrl_c_in_each_phase_resumes_bit_identically(phase, tmp_path, monkeypatch, uninterrupted):
    want, want_weights = uninterrupted
    store, cfg = RunStore(tmp_path), _config()
    with monkeypatch.context() as mp:
        calls = PHASES[phase](mp)
        with pytest.raises(KeyboardInterrupt):
            store.run(cfg, progress=False)
        assert calls["n"] >= 1
    got = store.run(cfg, progress=False)
    pd.testing.assert_frame_equal(got.history, want.history)
    for k in ("max_trace_fisher", "final_test_acc", "final_train_acc", "steps", "status"):
        assert got.summary[k] == want.summary[k], k
    for name, tensor in _weights(store, cfg).items():
        assert torch.equal(tensor, want_weights[name]), name


def test_infinite_gradient_norm_is_divergence(tmp_path, monkeypatch):
    """A finite loss with an inf gradient (lr far too large) ends the run as diverged, with the
    last finite weights kept and nothing logged after the step that blew up."""
    original = torch.Tensor.backward
    calls = {"n": 0}

    def backward(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 6:
            p = next(iter(model_holder[0].parameters()))
            p.grad[0].fill_(float("inf"))

    model_holder = []
    build = training.build_model
    monkeypatch.setattr(
        training,
        "build_model",
        lambda *a, **k: model_holder.append(build(*a, **k)) or model_holder[-1],
    )
    monkeypatch.setattr(torch.Tensor, "backward", backward)
    r = train(_config(), tmp_path, progress=False)
    assert r.summary["status"] == "diverged"
    assert r.summary["diverged_step"] == 5
    assert r.history.step.max() == 5
    for p in model_holder[0].parameters():
        assert torch.isfinite(p).all()


def test_threads_are_part_of_the_run_key_and_used(monkeypatch, tmp_path):
    one, two = _config(threads=1), _config(threads=2)
    assert one.key() != two.key()
    seen = []
    original = training._Loop.sgd_step

    def spy(self):
        seen.append(torch.get_num_threads())
        return original(self)

    monkeypatch.setattr(training._Loop, "sgd_step", spy)
    before = torch.get_num_threads()
    train(_config(threads=2, epochs=1), tmp_path, progress=False)
    assert set(seen) == {2}
    assert torch.get_num_threads() == before


def test_two_processes_on_one_config_train_it_once(tmp_path):
    cfg = _config()
    log = tmp_path / "trained.log"
    script = textwrap.dedent(
        f"""
        import json, fisherlab.runs as runs
        from fisherlab.config import TrainConfig
        original = runs.train
        def counted(*a, **k):
            with open({str(log)!r}, "a") as fh:
                fh.write("trained\\n")
            return original(*a, **k)
        runs.train = counted
        r = runs.RunStore({str(tmp_path / "runs")!r}).run(
            TrainConfig.from_dict({cfg.to_dict()!r}), progress=False)
        print(json.dumps({{k: r.summary[k] for k in ("final_test_acc", "max_trace_fisher")}}))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert log.read_text().count("trained") == 1
    assert json.loads(outs[0]) == json.loads(outs[1])


def test_torn_summary_is_rebuilt_from_the_checkpoint(tmp_path, monkeypatch):
    store, cfg = RunStore(tmp_path), _config(epochs=1)
    first = store.run(cfg, progress=False)
    summary = store.path(cfg) / "summary.json"
    summary.write_text(summary.read_text()[:40])
    with pytest.warns(UserWarning, match="unreadable"):
        again = store.run(cfg, progress=False)
    assert again.summary["final_test_acc"] == first.summary["final_test_acc"]
    assert json.loads(summary.read_text())["steps"] == first.summary["steps"]


def test_torn_checkpoint_resumes_from_the_previous_one(tmp_path, monkeypatch, uninterrupted):
    want, _ = uninterrupted
    store, cfg = RunStore(tmp_path), _config()
    with monkeypatch.context() as mp:
        _nth_call_interrupts(mp, training._Loop, "sgd_step", 16)  # after the epoch-1 checkpoint
        with pytest.raises(KeyboardInterrupt):
            store.run(cfg, progress=False)
    ckpt = store.checkpoint(cfg.key())
    assert (ckpt.parent / "checkpoint.prev.pt").exists()
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable"):
        got = store.run(cfg, progress=False)
    pd.testing.assert_frame_equal(got.history, want.history)


def test_test_subset_reads_full_test_at_best_validation_and_end(tmp_path):
    """Intermediate test evaluations on a fixed subset; the full test set on the best-validation
    weights and at the end gives exactly what evaluating the full set all along gives."""
    full = train(_config(), tmp_path / "full", progress=False)
    sub = train(_config(test_subset=50), tmp_path / "sub", progress=False)
    h = sub.history
    assert (h.metric == "test_subset_acc").sum() == (full.history.metric == "test_acc").sum()
    assert list(h[h.metric == "test_acc"].step) == [sub.summary["steps"]]
    assert sub.summary["test_acc_at_best_val"] == full.summary["test_acc_at_best_val"]
    assert sub.summary["final_test_acc"] == full.summary["final_test_acc"]
    assert sub.summary["best_val_step"] == full.summary["best_val_step"]


def test_ctrl_c_with_test_subset_keeps_the_best_validation_weights(tmp_path, monkeypatch):
    cfg = _config(test_subset=50)
    want = train(cfg, tmp_path / "whole", progress=False)
    store = RunStore(tmp_path / "store")
    with monkeypatch.context() as mp:
        _nth_call_interrupts(mp, evaluation, "evaluate", 9)
        with pytest.raises(KeyboardInterrupt):
            store.run(cfg, progress=False)
    got = store.run(cfg, progress=False)
    pd.testing.assert_frame_equal(got.history, want.history)


def test_non_finite_outputs_end_the_run_as_diverged_not_failed(tmp_path, monkeypatch):
    """Logits that overflow (finite weights, inf outputs) make Tr(F)'s label sampling impossible:
    the run is recorded as diverged, not as a crash."""
    original = training.build_model

    def overflowing(*args, **kwargs):
        model = original(*args, **kwargs)
        calls = {"n": 0}

        def hook(module, inputs, output):
            calls["n"] += 1
            return output * float("inf") if calls["n"] > 8 and not module.training else output

        model.register_forward_hook(hook)
        return model

    monkeypatch.setattr(training, "build_model", overflowing)
    r = train(_config(), tmp_path, progress=False)
    assert r.summary["status"] == "diverged"
    assert "Tr(F)" in r.summary["stop_reason"] or "evaluation" in r.summary["stop_reason"]
