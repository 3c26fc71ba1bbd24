"""Money is integer cents inside and an exact two-place decimal outside."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from followup_cli.core import money


@pytest.mark.parametrize(
    ("cents", "decimal", "text"),
    [
        (0, "0.00", "0.00"),
        (1, "0.01", "0.01"),
        (-1, "-0.01", "-0.01"),
        (50, "0.50", "0.50"),
        (199, "1.99", "1.99"),
        (-150, "-1.50", "-1.50"),
        (12345, "123.45", "123.45"),
        (123456789012, "1234567890.12", "1234567890.12"),
    ],
)
def test_cents_become_exact_decimals_and_text(cents: int, decimal: str, text: str) -> None:
    """Every pence survives: 199 cents is 1.99, never rounded to whole units."""
    frame = pl.DataFrame({"c": [cents]}).select(
        money.as_decimal(pl.col("c")).alias("d"), money.as_text(pl.col("c")).alias("t")
    )
    assert frame.schema["d"] == money.MONEY_DTYPE
    assert frame.item(0, "d") == Decimal(decimal)
    assert frame.item(0, "t") == text


def test_cents_text_groups_thousands_for_people() -> None:
    """The summary shows 1,234.05 for 123405 cents and keeps the sign."""
    assert money.cents_text(123405) == "1,234.05"
    assert money.cents_text(-5) == "-0.05"
