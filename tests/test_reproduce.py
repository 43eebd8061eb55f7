"""The one command that reproduces everything: resumes without redoing finished runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO

from fisherlab import report
from fisherlab.verdicts import Verdict


def _command(tmp_path, *only):
    return [
        sys.executable,
        "-m",
        "fisherlab.reproduce",
        "--profile",
        "smoke",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--outputs",
        str(tmp_path / "out"),
        *only,
    ]


def _finished(tmp_path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/summary.json")}


@pytest.mark.slow
def test_killed_reproduce_resumes_without_redoing_finished_runs(tmp_path):
    # its own process group, so the kill takes the notebook kernels with it
    proc = subprocess.Popen(_command(tmp_path, "01", "03"), cwd=REPO, start_new_session=True)
    deadline = time.time() + 300
    while len(_finished(tmp_path)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _finished(tmp_path)
    assert before, "no run finished before the kill"
    subprocess.run(_command(tmp_path, "01", "03"), cwd=REPO, check=True)
    after = _finished(tmp_path)
    assert set(before) <= set(after)
    assert all(after[k] == before[k] for k in before), "a finished run was executed again"
    out = tmp_path / "out" / "smoke"
    assert (out / "00_reproduction_report.html").stat().st_size > 10_000
    card = json.loads((out / "00_reproduction_report" / "summary.json").read_text())["scorecard"]
    assert len(card) == len(report.CLAIMS)
    verdicts = {row["notebook"]: row["verdict"] for row in card}
    assert verdicts["05_memorization"] == "not run"
    assert verdicts["01_fisher_explosion"] in {v.value for v in Verdict}
