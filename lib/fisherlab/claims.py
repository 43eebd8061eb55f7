"""The paper's claims and the consistency checks, read and validated from params/claims.yaml.

Each claim names the paper's statement (with a quote and where it stands), the notebook and the
per-run table that test it, the statistic, the method of its CI and its criterion (direction,
smallest effect that matters, CI level), fixed before the runs. Each check names an identity
or a mechanical consequence shown beside the claims and never counted. ``DEFAULTS`` holds the
file's shared settings (CI level, bootstrap draws and seed, minimum runs, the train accuracy
under which an arm is flagged as not fitted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fisherlab.formatting import fmt
from fisherlab.verdicts import Criterion

__all__ = [
    "CHECKS",
    "CLAIMS",
    "CLAIMS_FILE",
    "DEFAULTS",
    "METHODS",
    "Check",
    "Claim",
    "load_claims",
    "required_columns",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLAIMS_FILE = REPO_ROOT / "params" / "claims.yaml"
METHODS = {
    "difference": "difference of means; bootstrap over each arm's runs",
    "ratio": "ratio of means; log-scale bootstrap over each arm's runs",
    "gap_fraction": "share of the η*–baseline gap; bootstrap over each arm's runs",
    "correlation": "correlation over runs; hierarchical bootstrap (settings, then seeds)",
    "ordering": "lowest B minus highest A setting mean; seeds resampled within settings",
}
UNITS = ("pts", "%", "×", "r", "share", "")

_CLAIM_KEYS = set(
    "id claim paper quote paper_number notebook statistic method direction smallest unit data "
    "beside results_profile level".split()
)
_DATA_KEYS = set(
    "table arm arms value minus where at_max fit matched cluster x setting accuracy_as "
    "tuned".split()
)
_BESIDE_KEYS = {"label", "value", "arms", "method", "unit", "correlation"}
_CHECK_KEYS = {"id", "check", "paper", "notebook", "reason", "holds_for"}


@dataclass(frozen=True)
class Claim:
    """One empirical claim of the paper and the criterion it is judged by."""

    id: str
    claim: str
    paper: str
    quote: str
    paper_number: str
    notebook: str
    statistic: str
    method: str
    criterion: Criterion
    unit: str
    data: Mapping[str, Any]
    beside: tuple[Mapping[str, Any], ...] = ()
    results_profile: Mapping[str, str] = field(default_factory=dict)

    def source(self, profile: str) -> str:
        """The key of the results it reads at ``profile``: its notebook, or
        ``<other profile>/<notebook>`` when the claim is tested at another profile."""
        other = self.results_profile.get(profile, profile)
        return self.notebook if other == profile else f"{other}/{self.notebook}"

    @property
    def criterion_text(self) -> str:
        c, u = self.criterion, self.unit
        ci = f"{100 * c.level:g}% CI"
        if c.direction == "equal":
            return f"|effect| < {fmt(c.smallest, u, sign=False)}, {ci} inside"
        if c.scale == "log":
            bound = c.smallest if c.direction == "greater" else 1 / c.smallest
            op = "≥" if c.direction == "greater" else "≤"
            side = "above" if c.direction == "greater" else "below"
            return f"{op} {fmt(bound, u)}, {ci} {side} 1×"
        op, side = ("≥", "above") if c.direction == "greater" else ("≤", "below")
        bound = c.smallest if c.direction == "greater" else -c.smallest
        return f"{op} {fmt(bound, u, sign=True)}, {ci} {side} 0"


@dataclass(frozen=True)
class Check:
    """An identity or mechanical consequence: shown with its value, never counted."""

    id: str
    check: str
    paper: str
    notebook: str
    reason: str
    holds_for: str


def _known(kind: str, name: str, given: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(
            f"{kind} {name!r}: unknown key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(sorted(allowed))}"
        )


def load_claims(path: str | Path = CLAIMS_FILE) -> tuple[tuple[Claim, ...], tuple[Check, ...]]:
    """The claims and checks of ``params/claims.yaml``, validated (unknown keys, methods and
    units are errors naming the entry and the accepted values)."""
    spec = yaml.safe_load(Path(path).read_text())
    d = spec["defaults"]
    claims = []
    for c in spec["claims"]:
        _known("claim", c.get("id"), c, _CLAIM_KEYS)
        _known("claim data of", c["id"], c["data"], _DATA_KEYS)
        for b in c.get("beside", []):
            _known("beside of", c["id"], b, _BESIDE_KEYS)
        if c["method"] not in METHODS:
            raise ValueError(
                f"claim {c['id']!r}: method={c['method']!r} is not valid; "
                f"accepted values: {list(METHODS)}"
            )
        if c["unit"] not in UNITS:
            raise ValueError(
                f"claim {c['id']!r}: unit={c['unit']!r} is not valid; accepted values: {UNITS}"
            )
        criterion = Criterion(
            direction=c["direction"],
            smallest=float(c["smallest"]),
            level=float(c.get("level", d["level"])),
            scale="log" if c["method"] == "ratio" else "linear",
            min_runs=int(d["min_runs"]),
        )
        claims.append(
            Claim(
                **{k: c[k] for k in ("id", "claim", "paper", "quote", "notebook", "method")},
                paper_number=c["paper_number"],
                statistic=c["statistic"],
                criterion=criterion,
                unit=c["unit"],
                data=c["data"],
                beside=tuple(c.get("beside", ())),
                results_profile=c.get("results_profile", {}),
            )
        )
    checks = []
    for k in spec["checks"]:
        _known("check", k.get("id"), k, _CHECK_KEYS)
        checks.append(Check(**k))
    if len({c.id for c in claims} | {k.id for k in checks}) != len(claims) + len(checks):
        raise ValueError(f"{path}: claim and check ids must be unique")
    return tuple(claims), tuple(checks)


CLAIMS, CHECKS = load_claims()
DEFAULTS: dict[str, Any] = yaml.safe_load(CLAIMS_FILE.read_text())["defaults"]


def required_columns(claims: tuple[Claim, ...] = CLAIMS) -> pd.DataFrame:
    """Per notebook and table: the columns the claims read (what a notebook must record, as
    listed in :mod:`fisherlab.report`'s docstring)."""
    need: dict[tuple[str, str], dict[str, list[str]]] = {}
    for c in claims:
        d = c.data
        cols = [d.get("arm"), d.get("setting"), *d.get("where", {}), d.get("at_max"), "seed"]
        cols += ["status", d.get("cluster"), d.get("x"), d.get("value"), d.get("minus")]
        cols += [d.get("fit"), d.get("matched"), *(b.get("value") for b in c.beside)]
        tables = [(d["table"], cols)]
        if d.get("tuned"):
            tables[0][1].append("lr")
            tables.append((d["tuned"]["table"], ["lr", "status", "best val acc (%)"]))
        for table, columns in tables:
            entry = need.setdefault((c.notebook, table), {"columns": [], "claims": []})
            entry["columns"] += [x for x in columns if x and x not in entry["columns"]]
            entry["claims"].append(c.id)
    return pd.DataFrame(
        [
            {
                "notebook": nb,
                "table": t,
                "columns": ", ".join(e["columns"]),
                "claims": ", ".join(e["claims"]),
            }
            for (nb, t), e in need.items()
        ]
    )
