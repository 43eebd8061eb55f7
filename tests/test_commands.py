"""The papermill commands the README and the params headers give work as written on a fresh clone:
each names a notebook that exists and writes its executed copy into a folder that a clone has."""

from __future__ import annotations

import re
import subprocess
from pathlib import PurePosixPath

import pytest
from conftest import REPO

SOURCES = [REPO / "README.md", *sorted((REPO / "params").glob("*/*.yaml"))]
COMMAND = re.compile(r"papermill (notebooks/\S+\.ipynb) (\S+\.ipynb)")
TRACKED = subprocess.run(
    ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
).stdout.split()
FOLDERS_IN_A_CLONE = {"."} | {str(p) for f in TRACKED for p in PurePosixPath(f).parents}
CASES = [(src, m) for src in SOURCES for m in COMMAND.findall(src.read_text())]


def test_commands_are_found():
    assert len(CASES) >= 20  # the README's and every header's command


@pytest.mark.parametrize(("source", "command"), CASES, ids=lambda c: str(c)[-60:])
def test_command_runs_on_a_fresh_clone(source, command):
    notebook, output = command
    assert (REPO / notebook).exists(), f"{source.name}: {notebook} does not exist"
    folder = str(PurePosixPath(output).parent)
    assert folder in FOLDERS_IN_A_CLONE, (
        f"{source.name}: papermill writes {output}, but a fresh clone has no folder {folder} "
        "(papermill does not create it)"
    )
