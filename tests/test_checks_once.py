"""Each validation check is declared once: one row-check table drives the verdict and the
reason, and one `normalise_id` matches ids everywhere."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from followup_cli.core.schema import normalise_id
from followup_cli.reading import row_checks as checks
from followup_cli.reading.row_checks import RowCheck
from followup_cli.reading.run import load
from tests.conftest import AS_OF, write_exports


@pytest.mark.parametrize(
    ("written", "matched"), [("C-1", "c-1"), ("  c-1 ", "c-1"), ("Ab-ÄÖ", "ab-äö"), ("", "")]
)
def test_normalise_id_trims_and_ignores_case(written: str, matched: str) -> None:
    """An id typed by a person and a column of ids normalise the same way."""
    assert normalise_id(written) == matched
    column = pl.select(normalise_id(pl.lit(written))).item()
    assert column == matched


def test_a_row_check_declared_once_refuses_and_explains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check added to ROW_CHECKS alone sets the row aside and gives its reason."""
    big = RowCheck(
        ("payments",),
        "amount",
        lambda value: value("amount") > 50_000,
        lambda value: pl.format("amount {} cents is over the test limit", value("amount")),
    )
    monkeypatch.setattr(checks, "ROW_CHECKS", (*checks.ROW_CHECKS, big))
    folder = write_exports(
        tmp_path / "exports",
        {
            "customers": ["C-1,Ann,web,2024-01-01"],
            "agreements": [],
            "payments": ["P-1,C-1,2024-07-01,600.00,one-off", "P-2,c-1 ,2024-07-02,5.00,recurring"],
            "events": [],
        },
    )
    tables, _ = load(folder, {}, AS_OF)
    assert tables.payments.get_column("payment_id").to_list() == ["P-2"]
    assert tables.rejects.select("line", "column", "reason").rows() == [
        (2, "amount", "amount 60000 cents is over the test limit")
    ]
