"""Number formatting shared by the report tables and the SVG charts."""

from __future__ import annotations

import math
import numbers
from typing import Any

DASH = "–"


def to_number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):  # also numpy scalars
        return None
    return float(v)


def format_value(v: Any, sig: int = 4) -> str:
    """Human-readable number: ints with thousands separators, floats with ``sig`` significant digits, "–" if missing.

    Example:
        >>> format_value(1234567), format_value(12.3456), format_value(0.000123), format_value(None)
        ('1,234,567', '12.35', '1.23e-04', '–')
    """
    if isinstance(v, str):
        return v
    if isinstance(v, numbers.Real) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    x = to_number(v)
    if x is None:
        return DASH
    rounded = abs(float(f"{x:.{sig}g}"))  # decide on the rounded value: 0.99999 → "1.000", not "1.0000"
    if isinstance(v, numbers.Integral) or rounded >= 1000:
        return f"{x:,.0f}"
    if x == 0:
        return "0"
    if rounded < 1e-3:
        return f"{x:.{sig - 2}e}"
    return f"{x:.{max(sig - 1 - math.floor(math.log10(rounded)), 0)}f}"
