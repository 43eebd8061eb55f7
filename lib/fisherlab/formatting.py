"""How the scorecard prints a number: one format per unit (%, pts, ×, r, share), one for a CI.

Used by every table of notebook 00 (``fisherlab.claims``, ``fisherlab.scorecard``) and by its
run table, so that the same quantity reads the same everywhere.
"""

from __future__ import annotations

import math

__all__ = ["fmt", "fmt_ci"]


def _sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, without an exponent; integers stay whole."""
    if value == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return f"{value:.{decimals}f}"


def fmt(value: float | None, unit: str = "", *, sign: bool | None = None) -> str:
    """A number as the report prints it: accuracy in % (``%``, 1 decimal) and accuracy
    differences in points (``pts``, signed, 1 decimal), ratios to 3 significant figures
    (``×``), correlations signed to 2 decimals (``r``), shares of a gap in % (``share``),
    anything else to 3 significant figures. ``—`` for a missing or non-finite value."""
    if value is None or not math.isfinite(value):
        return "—"
    signed = unit in ("pts", "r", "share") if sign is None else sign
    plus = "+" if signed and value > 0 else ""
    minus = "−" if value < 0 else ""
    mag = abs(value)
    if unit == "pts":
        return f"{plus}{minus}{mag:.1f} pts"
    if unit == "%":
        return f"{minus}{mag:.1f}%"
    if unit == "×":
        return f"{minus}{_sig(mag)}×"
    if unit == "r":
        return f"{plus}{minus}{mag:.2f}"
    if unit == "share":
        return f"{plus}{minus}{100 * mag:.0f}%"
    return f"{plus}{minus}{_sig(mag)}"


def fmt_ci(lo: float, hi: float, unit: str = "") -> str:
    """``lo … hi`` with the unit once (``+0.4 … +2.9 pts``); ``—`` without a CI."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    suffix = {"pts": " pts", "×": "×"}.get(unit, "")
    a, b = (fmt(v, unit).removesuffix(suffix) for v in (lo, hi))
    return f"{a} … {b}{suffix}"
