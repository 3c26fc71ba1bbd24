"""The validated tables the rules core reads (SPEC 2), and how each input file's rows were
used. `reading.validation` makes them from the exports; the core only reads them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

REF = "_ref"  # the customer id this row names, trimmed and case-folded
ID = "_id"  # a customer's id as written (trimmed), for matching ids that need no folding
KEY_HASH = "_key_hash"  # a hash of KEY: equal ids have equal hashes (the converse is checked)


@dataclass(frozen=True)
class TableCount:
    """How every row read from one file was used: read = used + rejected + left_out."""

    table: str
    file: str
    read: int
    used: int
    rejected: int
    left_out: int


@dataclass(frozen=True)
class Validated:
    customers: pl.DataFrame
    agreements: pl.DataFrame
    payments: pl.DataFrame
    events: pl.DataFrame
    rejects: pl.DataFrame
    counts: tuple[TableCount, ...]
    data_issues: pl.DataFrame  # cust_idx, data_issues: rejected rows that name the person
    # file, line, _ref: the person (trimmed, case-folded id) each rejected row names
    rejected_people: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"file": pl.String, "line": pl.Int64, REF: pl.String}
        )
    )
    # The day these tables were cut at: rows after it are already left out (or, for events,
    # kept as upcoming). None only for tables put together by hand, which are taken as given.
    as_of: dt.date | None = None

    def check_as_of(self, as_of: dt.date) -> None:
        """Refuse to reconcile these tables as of another day than the one they were cut at:
        a later day would silently miss what was bought or paid in between, an earlier one
        would count agreements and payments that did not exist yet."""
        if self.as_of is not None and as_of != self.as_of:
            raise ValueError(
                f"these tables were validated as of {self.as_of}, not {as_of}: "
                f"validate them again for another day"
            )
