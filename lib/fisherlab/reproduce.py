"""Execute every notebook at one profile into ``outputs/<profile>/<notebook>/``.

    python -m fisherlab.reproduce --profile cpu            # all notebooks
    python -m fisherlab.reproduce --profile smoke 01       # those whose name starts with 01

Training runs live in the run store, so an interrupted invocation started again redoes only
what is missing: finished runs are read back, unfinished ones resume from their checkpoints.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fisherlab.notebook import PROFILES, REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def notebooks(prefixes: list[str]) -> list[Path]:
    found = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in found if not prefixes or any(p.stem.startswith(x) for x in prefixes)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="cpu")
    parser.add_argument("only", nargs="*", help="notebook name prefixes (default: all)")
    args = parser.parse_args(argv)
    import papermill as pm

    selected = notebooks(args.only)
    if not selected:
        parser.error(f"no notebook in {NOTEBOOKS_DIR} matches {args.only}")
    for nb in selected:
        out_dir = REPO_ROOT / "outputs" / args.profile / nb.stem
        out_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        print(f"[{args.profile}] {nb.name} → {out_dir.relative_to(REPO_ROOT)}/", flush=True)
        pm.execute_notebook(
            nb,
            out_dir / nb.name,
            parameters={"profile": args.profile},
            kernel_name="python3",
            cwd=str(NOTEBOOKS_DIR),
        )
        print(
            f"[{args.profile}] {nb.name} done in {time.perf_counter() - started:.0f} s", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
