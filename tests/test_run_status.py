"""`fisherlab.run_status` and `python -m fisherlab.runs status DIR`: where each run stands."""

from __future__ import annotations

import fcntl
import json

import pytest
import torch
from test_run_integrity import _config, _nth_call_interrupts

import fisherlab.training as training
from fisherlab.run_status import status, time_left
from fisherlab.runs import RunStore, main
from fisherlab.sweep import run_all


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with one finished run, one interrupted at step 15, one never started."""
    store = RunStore(tmp_path_factory.mktemp("store"))
    store.run(_config(seed=0), progress=False)
    with pytest.MonkeyPatch.context() as mp:
        _nth_call_interrupts(mp, training._Loop, "sgd_step", 16)
        with pytest.raises(KeyboardInterrupt):
            store.run(_config(seed=1), progress=False)
    fresh = store.path(_config(seed=2))
    fresh.mkdir()
    (fresh / "config.json").write_text(json.dumps(_config(seed=2).to_dict()))
    return store


def test_status_tells_finished_paused_and_not_started_runs_apart(store):
    table = status(store.root).set_index("seed")
    assert list(table.index) == [1, 2, 0]  # unfinished first
    finished = json.loads((store.path(_config(seed=0)) / "summary.json").read_text())
    assert table.loc[0, "state"] == "finished"
    assert table.loc[0, "step"] == finished["steps"] and table.loc[0, "done (%)"] == 100
    ckpt = torch.load(store.checkpoint(_config(seed=1).key()), weights_only=False)
    assert table.loc[1, "state"] == "paused (resumes from its checkpoint)"
    assert table.loc[1, "step"] == ckpt["step"] == 15  # a Ctrl-C checkpoint, mid-epoch
    assert 0 < table.loc[1, "done (%)"] < 100
    assert table.loc[1, "epoch"] == pytest.approx(15 / finished["steps_per_epoch"])
    assert table.loc[1, "done (%)"] == pytest.approx(100 * table.loc[1, "epoch"] / 2)  # of 2 epochs
    assert table.loc[2, "state"] == "not started"
    assert set(table.columns) >= {"model", "lr", "epochs", "hours", "updated"}


def test_a_run_whose_lock_is_held_is_training_now(store):
    lock = store.path(_config(seed=1)) / ".lock"
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        table = status(store.root).set_index("seed")
        fcntl.flock(fh, fcntl.LOCK_UN)
    assert table.loc[1, "state"] == "training now"
    assert status(store.root).set_index("seed").loc[1, "state"].startswith("paused")


def test_cli_prints_the_table_and_refuses_a_missing_folder(store, capsys, tmp_path):
    main(["status", str(store.root)])
    out = capsys.readouterr().out
    assert "paused (resumes from its checkpoint)" in out and "finished" in out
    main(["status", str(tmp_path)])
    assert "no runs in" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["status", str(tmp_path / "missing")])
    assert "root: " in capsys.readouterr().err


def test_time_left_counts_the_unfinished_runs_epochs_at_the_stores_pace(store):
    table = status(store.root)
    left = time_left(table)
    rows = table.set_index("seed")
    paused_epoch = rows.loc[1, "epoch"]
    assert left["runs"] == 2
    assert left["epochs"] == pytest.approx((2 - paused_epoch) + 2)  # paused + not started
    hours = rows.loc[0, "hours"] + rows.loc[1, "hours"]
    pace = hours / (rows.loc[0, "epoch"] + paused_epoch)
    assert left["seconds_per_epoch"] == pytest.approx(3600 * pace)
    assert left["run_hours"] == pytest.approx(left["epochs"] * pace)
    done = time_left(table[table.state == "finished"])
    assert done["runs"] == 0 and done["epochs"] == 0


def test_cli_says_what_is_left(store, capsys):
    main(["status", str(store.root)])
    assert "left: 2 unfinished runs, " in capsys.readouterr().out


def test_a_sweep_lists_its_queued_runs_before_training_them(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    configs = [_config(seed=s) for s in (3, 4)]
    monkeypatch.setattr(RunStore, "run", _interrupts_at_once)
    with pytest.raises(KeyboardInterrupt):
        run_all(store, configs, workers=1, progress=False)
    table = status(store.root).set_index("seed")
    assert list(table.index) == [3, 4] and set(table.state) == {"not started"}
    assert set(table.epochs) == {configs[0].epochs}
    written = (store.path(configs[0]) / "config.json").stat().st_mtime_ns
    store.plan(configs)  # a planned run's config is not rewritten
    assert (store.path(configs[0]) / "config.json").stat().st_mtime_ns == written


def _interrupts_at_once(self, config, *, progress=True):
    raise KeyboardInterrupt


def test_prune_deletes_only_queued_runs_that_never_started(tmp_path, monkeypatch, capsys):
    store = RunStore(tmp_path)
    with monkeypatch.context() as mp:
        _nth_call_interrupts(mp, training._Loop, "sgd_step", 3)
        with pytest.raises(KeyboardInterrupt):
            store.run(_config(seed=0), progress=False)
    store.plan([_config(seed=s) for s in (0, 5, 6)])
    main(["prune", str(store.root)])
    queued = sorted(store.path(_config(seed=s)).name for s in (5, 6))
    assert capsys.readouterr().out.strip().endswith(", ".join(queued))
    assert [p.name for p in store.root.iterdir()] == [store.path(_config(seed=0)).name]
    assert status(store.root).state.str.startswith("paused").tolist() == [True]
