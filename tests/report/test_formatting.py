"""gancompress.report.formatting: numbers as the report tables show them."""

from __future__ import annotations

from gancompress.report.render import (
    format_value,
)

# ---------------------------------------------------------------------------------------------------- formatting


def test_format_value() -> None:
    assert format_value(1234567) == "1,234,567"
    assert format_value(2_000_000.0) == "2,000,000"
    assert format_value(12.3456) == "12.35"
    assert format_value(0.5) == "0.5000"
    assert format_value(0.0) == "0"
    assert format_value(None) == format_value(float("nan")) == "–"
