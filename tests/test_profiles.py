"""Every profile's YAML, every setting in it, resolves and validates (no training, no data)."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from conftest import REPO

from fisherlab import notebook

CASES = []
for path in sorted((REPO / "params").glob("*/[0-9][0-9]_*.yaml")):
    settings = (yaml.safe_load(path.read_text()) or {}).get("settings") or {None: None}
    CASES += [(path.parent.name, path.stem, s) for s in settings]


@pytest.mark.parametrize(("profile", "name", "setting"), CASES)
def test_profile_resolves_and_validates(tmp_path, profile, name, setting):
    given = {"profile": profile, "output_dir": str(tmp_path / "out"), "runs_dir": str(tmp_path)}
    if setting is not None:
        given["setting"] = setting
    trains = not name.startswith("00")
    P = notebook.resolve_params(name, given, trains=False)
    if trains:
        P.train_config()  # every TrainConfig field of the profile is valid
    assert P["profile"] == profile


@pytest.mark.parametrize("base", sorted((REPO / "params").glob("*/_base.yaml")), ids=str)
def test_base_holds_only_loop_fields(base):
    """A profile's ``_base.yaml`` is merged into every training notebook, so it may hold only
    what every training notebook accepts: ``TrainConfig`` fields and the seed list."""
    from fisherlab.config import TrainConfig

    allowed = {f.name for f in dataclasses.fields(TrainConfig)} | {"seeds"}
    extra = sorted(set(yaml.safe_load(base.read_text())) - allowed)
    assert not extra, f"{base}: not loop fields: {extra}"
