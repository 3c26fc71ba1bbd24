"""The validated tables the rules core reads (SPEC 2), and how each input file's rows were
used. `reading.validation` makes them from the exports; the core only reads them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from followup_cli.core.schema import normalise_id

KEY = "_key"  # a row's own id, as matched (`schema.normalise_id`)
REF = "_ref"  # the customer id this row names, trimmed and case-folded
ID = "_id"  # a customer's id as written (trimmed), for matching ids that need no folding
KEY_HASH = "_key_hash"  # `id_hashes` of a row's own id: equal ids, equal hashes (not conversely)

# Any fixed seed will do: every id is hashed by `id_hashes`, in one process.
ID_SEED = 20240731
# Ids are hashed in the form `normalise_id(id).upper()`: a function of the id as matched, so
# ids matched as equal share a hash; a column whose ids are all trimmed ASCII without a
# lower-case letter (`C-123`, `12345`: most exports) is hashed as it is, without making a
# folded copy first (five times faster on 10,000,000 ids).
_NOT_PLAIN_UPPER = r"^\s|\s$|[^\x00-\x7F]|[a-z]"


def id_hashes(ids: pl.Series) -> pl.Series:
    """The one hash of ids, for finding repeated ids (validation) and placing a person's rows
    in a bucket (--buckets): u64, null for a missing or empty id (one no row can be matched
    by). Equal hashes are only candidates; the ids are compared with `normalise_id`."""
    text = ids.cast(pl.String)
    plain_upper = not text.str.contains(_NOT_PLAIN_UPPER).any()
    return pl.select(id_hash(pl.lit(text), plain_upper=plain_upper)).to_series()


def id_hash(ids: pl.Expr, *, plain_upper: bool = False) -> pl.Expr:
    """`id_hashes` as an expression, for a query that streams the rows. `plain_upper`: the
    caller has proven every id trimmed ASCII without a lower-case letter (validation's
    whole-column figures), so each is hashed as written; otherwise every id is hashed folded,
    which for a plain id is the id as written, so both give every id the same hash."""
    text = ids.cast(pl.String)
    if not plain_upper:
        text = normalise_id(text).str.to_uppercase()
    present = text.is_not_null() & (text.str.len_bytes() > 0)
    return pl.when(present).then(text.hash(ID_SEED)).alias(KEY_HASH)


@dataclass(frozen=True)
class TableCount:
    """How every row read from one file was used: read = used + rejected + left_out."""

    table: str
    file: str
    read: int
    used: int
    rejected: int
    left_out: int

    def __add__(self, other: TableCount) -> TableCount:
        """The counts of two parts of one file (two buckets)."""
        if (other.table, other.file) != (self.table, self.file):
            raise ValueError(f"{other.file} is not {self.file}: only one file's counts add up")
        return TableCount(
            self.table,
            self.file,
            self.read + other.read,
            self.used + other.used,
            self.rejected + other.rejected,
            self.left_out + other.left_out,
        )


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
        _check_cut(self.as_of, as_of)

    def hand_over(self) -> Handed:
        """The tables the rules read, for `pipeline` to let go of one by one (`Handed`)."""
        return Handed(self)


def _check_cut(cut: dt.date | None, as_of: dt.date) -> None:
    if cut is not None and as_of != cut:
        raise ValueError(
            f"these tables were validated as of {cut}, not {as_of}: "
            f"validate them again for another day"
        )


class Handed:
    """The tables the rules read, each taken once: `pipeline.people_facts` lets a table go as
    soon as the facts read from it are computed. A caller that hands its tables over and keeps
    no other reference to them (one pass, a bucket) frees them on the way, 0.2 GB at the peak
    of 1M customers; one that keeps its `Validated` gets the same facts and frees nothing."""

    def __init__(self, tables: Validated) -> None:
        self.as_of = tables.as_of
        self._left: dict[str, pl.DataFrame] = {
            "customers": tables.customers,
            "agreements": tables.agreements,
            "payments": tables.payments,
            "events": tables.events,
            "data_issues": tables.data_issues,
        }

    def check_as_of(self, as_of: dt.date) -> None:
        """As `Validated.check_as_of`."""
        _check_cut(self.as_of, as_of)

    def take(self, name: str) -> pl.DataFrame:
        """The table `name`, no longer held here: tables are handed over for one use."""
        if name not in self._left:
            raise RuntimeError(f"the {name} table was taken already: hand tables over once")
        return self._left.pop(name)
