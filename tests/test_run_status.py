"""`fisherlab.runs.status` and `python -m fisherlab.runs status DIR`: where each run stands."""

from __future__ import annotations

import fcntl
import json

import pytest
import torch
from test_run_integrity import _config, _nth_call_interrupts

import fisherlab.training as training
from fisherlab.runs import RunStore, main, status


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
