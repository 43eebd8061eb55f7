"""The training code's fingerprint and the run store's warnings when it changes under a run."""

from __future__ import annotations

import ast
import json
import warnings

import pytest
from test_run_integrity import _config, _nth_call_interrupts

import fisherlab.training as training
from fisherlab import fingerprint, runs
from fisherlab.fingerprint import changed_modules, numerics_fingerprint
from fisherlab.runs import RunStore


def test_fingerprint_covers_what_training_imports_and_nothing_else():
    modules = numerics_fingerprint()
    for name in (
        "fisherlab.training",
        "fisherlab.step",
        "fisherlab.measurements",
        "fisherlab.estimators",
        "fisherlab.penalties",
        "fisherlab.models.simplecnn",  # relative import inside the models package
        "fisherlab.models._common",
        "fisherlab.data.batches",
        "fisherlab.data.cache",  # `from fisherlab.data import cache`: a submodule by name
    ):
        assert name in modules, name
    for name in ("fisherlab.plots", "fisherlab.report", "fisherlab.runs", "fisherlab.stats"):
        assert name not in modules, name
    assert all(len(h) == 12 and int(h, 16) >= 0 for h in modules.values())


def _hash(source: str) -> str:
    return fingerprint._code_hash(ast.parse(source))


def test_docstrings_comments_and_layout_do_not_count_code_does():
    base = 'def f(x):\n    """Eq. 3."""\n    return x * 2  # double\n'
    assert _hash(base) == _hash("def f(x):\n    '''Another docstring.'''\n    return (x *\n  2)\n")
    assert _hash(base) == _hash("def f(x):\n    return x * 2\n")
    assert _hash(base) != _hash('def f(x):\n    """Eq. 3."""\n    return 2 * x\n')
    assert _hash(base) != _hash('def f(x):\n    """Eq. 3."""\n    return x * 2.0\n')


def test_changed_modules_names_added_removed_and_changed():
    then = {"a": "1", "b": "2", "c": "3"}
    now = {"a": "1", "b": "9", "d": "4"}
    assert changed_modules(then, now) == ["b", "c", "d"]
    assert changed_modules(now, now) == []


def _set_meta_numerics(store: RunStore, cfg, module: str) -> None:
    meta_file = store.path(cfg) / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["numerics"][module] = "000000000000"
    meta_file.write_text(json.dumps(meta))


def test_reusing_a_run_of_other_training_code_warns_naming_the_module(tmp_path):
    store, cfg = RunStore(tmp_path), _config(epochs=1)
    first = store.run(cfg, progress=False)
    meta = json.loads((store.path(cfg) / "meta.json").read_text())
    assert meta["numerics"] == numerics_fingerprint()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same code: silent
        store.run(cfg, progress=False)
    _set_meta_numerics(store, cfg, "fisherlab.step")
    with pytest.warns(UserWarning, match=r"other code .*fisherlab\.step"):
        again = store.run(cfg, progress=False)
    assert again.summary == first.summary  # reused, not retrained


def test_resuming_with_other_training_code_warns_and_is_recorded(tmp_path, monkeypatch):
    store, cfg = RunStore(tmp_path), _config()
    with monkeypatch.context() as mp:
        _nth_call_interrupts(mp, training._Loop, "sgd_step", 16)
        with pytest.raises(KeyboardInterrupt):
            store.run(cfg, progress=False)
    _set_meta_numerics(store, cfg, "fisherlab.measurements")
    with pytest.warns(UserWarning, match=r"resumed by other code .*fisherlab\.measurements"):
        store.run(cfg, progress=False)
    meta = json.loads((store.path(cfg) / "meta.json").read_text())
    assert meta["numerics"] == numerics_fingerprint()
    assert meta["numerics_earlier"][0]["numerics"]["fisherlab.measurements"] == "000000000000"
    with pytest.warns(UserWarning, match="mix code versions"):
        store.run(cfg, progress=False)


def test_a_run_from_before_fingerprints_is_reused_silently(tmp_path):
    store, cfg = RunStore(tmp_path), _config(epochs=1)
    store.run(cfg, progress=False)
    meta_file = store.path(cfg) / "meta.json"
    meta = json.loads(meta_file.read_text())
    del meta["numerics"]
    meta_file.write_text(json.dumps(meta))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.run(cfg, progress=False)


def test_meta_lists_every_commit_that_trained_part_of_a_run(tmp_path, monkeypatch):
    store, cfg = RunStore(tmp_path), _config()
    with monkeypatch.context() as mp:
        mp.setattr(runs, "code_version", lambda: {"commit": "aaa", "dirty": False})
        _nth_call_interrupts(mp, training._Loop, "sgd_step", 16)
        with pytest.raises(KeyboardInterrupt):
            store.run(cfg, progress=False)
    meta_file = store.path(cfg) / "meta.json"
    assert json.loads(meta_file.read_text())["trained_by"] == ["aaa"]
    with monkeypatch.context() as mp:
        mp.setattr(runs, "code_version", lambda: {"commit": "bbb", "dirty": False})
        store.run(cfg, progress=False)
    meta = json.loads(meta_file.read_text())
    assert meta["commit"] == "bbb" and meta["trained_by"] == ["aaa", "bbb"]


def test_trained_by_reads_a_meta_from_before_the_list_and_does_not_repeat_a_commit():
    assert runs._trained_by({}, "c") == ["c"]
    assert runs._trained_by({"commit": "a"}, "b") == ["a", "b"]
    assert runs._trained_by({"commit": "a", "trained_by": ["x", "a"]}, "a") == ["x", "a"]
