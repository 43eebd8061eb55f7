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


def _execute(nb: Path, out: Path, parameters: dict[str, Any]) -> None:
    import papermill as pm

    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"→ {nb.name} → {out}", flush=True)
    pm.execute_notebook(
        nb, out, parameters=parameters, kernel_name="python3", cwd=str(NOTEBOOKS_DIR)
    )
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="cpu")
    parser.add_argument("--runs-dir", help="run store (default outputs/runs)")
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
    for nb in selected:
        _execute(
            nb, out_root / nb.stem / nb.name, {**common, "output_dir": str(out_root / nb.stem)}
        )
    if not args.no_report:
        report = out_root / f"{REPORT}.ipynb"
        _execute(
            NOTEBOOKS_DIR / f"{REPORT}.ipynb",
            report,
            {**common, "output_dir": str(out_root / REPORT)},
        )
        print(f"report: {export_html(report)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
