"""Execute every notebook at one profile, then the reproduction report and its HTML export.

    python -m fisherlab.reproduce --profile cpu            # all notebooks, then 00 + HTML
    python -m fisherlab.reproduce --profile smoke 01 03    # those whose names start with 01, 03

Each notebook goes to ``outputs/<profile>/<notebook>/<notebook>.ipynb``, the report to
``outputs/<profile>/00_reproduction_report.{ipynb,html}``. Training runs live in the run store,
so an interrupted invocation started again redoes only what is missing: finished runs are read
back, unfinished ones resume from their checkpoints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from fisherlab.notebook import PROFILES, REPO_ROOT
from fisherlab.report import export_html  # offline HTML: no CDN, no absolute paths

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORT = "00_reproduction_report"

__all__ = ["main", "notebooks"]


def notebooks(prefixes: list[str]) -> list[Path]:
    """The experiment notebooks (not the report), in order, filtered by name prefixes."""
    found = sorted(p for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb") if p.stem != REPORT)
    return [p for p in found if not prefixes or any(p.stem.startswith(x) for x in prefixes)]


def _timings(out_root: Path) -> dict[str, float]:
    """Seconds each notebook took the last time it ran at this profile here (for the ETA)."""
    path = out_root / "timings.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _execute(
    nb: Path, out: Path, parameters: dict[str, Any], label: str, eta: float | None
) -> float:
    """Run one notebook with papermill, streaming its progress bars; returns its wall time."""
    import papermill as pm

    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    when = f"ETA ~{eta / 60:.0f} min (last run here)" if eta else "no ETA yet (first run here)"
    print(f"\n[{label}] {nb.stem}: {when}", flush=True)
    pm.execute_notebook(
        nb,
        out,
        parameters=parameters,
        kernel_name="python3",
        cwd=str(NOTEBOOKS_DIR),
        log_output=True,
        progress_bar=True,
    )
    took = time.perf_counter() - started
    landed = sorted(p.name for p in out.parent.iterdir() if p.suffix in (".json", ".png", ".csv"))
    print(
        f"[{label}] {nb.stem}: done in {took / 60:.1f} min; results in {out.parent}/:", flush=True
    )
    print("    " + ", ".join(landed), flush=True)
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="cpu")
    parser.add_argument(
        "--runs-dir",
        default=os.environ.get("FISHERLAB_RUNS"),
        help="run store (default $FISHERLAB_RUNS, else outputs/runs)",
    )
    parser.add_argument(
        "--outputs",
        default=str(REPO_ROOT / "outputs"),
        help="where outputs/<profile>/ goes (default: the repository's outputs/)",
    )
    parser.add_argument("--no-report", action="store_true", help="skip notebook 00 and its HTML")
    parser.add_argument("only", nargs="*", help="notebook name prefixes (default: all)")
    args = parser.parse_args(argv)
    selected = notebooks(args.only)
    if not selected:
        parser.error(f"no notebook in {NOTEBOOKS_DIR} matches {args.only}")
    common: dict[str, Any] = {"profile": args.profile}
    if args.runs_dir:
        common["runs_dir"] = str(Path(args.runs_dir).resolve())
    out_root = Path(args.outputs).resolve() / args.profile
    timings = _timings(out_root)
    total = len(selected) + (not args.no_report)
    for i, nb in enumerate(selected, 1):
        params = {**common, "output_dir": str(out_root / nb.stem)}
        label = f"{i}/{total}"
        timings[nb.stem] = _execute(
            nb, out_root / nb.stem / nb.name, params, label, timings.get(nb.stem)
        )
        (out_root / "timings.json").write_text(json.dumps(timings, indent=2))
    if not args.no_report:
        report = out_root / f"{REPORT}.ipynb"
        params = {**common, "output_dir": str(out_root / REPORT)}
        _execute(NOTEBOOKS_DIR / f"{REPORT}.ipynb", report, params, f"{total}/{total}", None)
        print(f"report: {export_html(report)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
