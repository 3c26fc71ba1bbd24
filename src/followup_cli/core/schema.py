"""The four input tables as data: column names, kinds, whether required, vocabularies (SPEC 2)."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar, overload

import polars as pl

from followup_cli.core.money import MONEY_DTYPE

TABLE_NAMES = ("customers", "agreements", "payments", "events")


class Kind(Enum):
    TEXT = "text"
    KEY = "key"  # this table's unique id
    CUSTOMER_REF = "customer reference"  # must name a customer
    DATE = "date"
    DATETIME = "date or datetime"
    COUNT = "whole number >= 0"
    MONEY = "money"
    VOCAB = "vocabulary"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    # Money: whether zero is allowed (fees may be 0.00, payments must be more than 0).
    allow_zero: bool = True
    # Vocabulary: every accepted spelling (already lower-case) mapped to its canonical word.
    vocabulary: dict[str, str] = field(default_factory=dict)

    @property
    def canonical_words(self) -> list[str]:
        return sorted(set(self.vocabulary.values()))


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    required: bool = False

    @property
    def key(self) -> Column:
        return next(c for c in self.columns if c.kind is Kind.KEY)

    @functools.cached_property
    def column_names(self) -> tuple[str, ...]:
        # Asked once per header name as a file is matched: 200,000 names asked it 600,000 times.
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _words(*groups: tuple[str, ...]) -> dict[str, str]:
    """Accepted spellings per canonical word: the first of each group is the canonical one."""
    return {spelling: group[0] for group in groups for spelling in group}


AGREEMENT_STATUS = _words(("active",), ("inactive",), ("suspended",), ("collections",))
AGREEMENT_ALERT = _words(("canceled", "cancelled"), ("expired",))
PAYMENT_KIND = _words(("one-off", "one_off", "one off", "oneoff"), ("recurring",))
EVENT_OUTCOME = _words(("scheduled",), ("attended",), ("no-show", "no_show"), ("canceled",))

CUSTOMERS = Table(
    "customers",
    (
        Column("customer_id", Kind.KEY, required=True),
        Column("name", Kind.TEXT),
        Column("origin", Kind.TEXT),
        Column("created_on", Kind.DATE, required=True),
    ),
    required=True,
)
AGREEMENTS = Table(
    "agreements",
    (
        Column("agreement_id", Kind.KEY, required=True),
        Column("customer_id", Kind.CUSTOMER_REF, required=True),
        Column("purchase_date", Kind.DATE, required=True),
        Column("session_quantity", Kind.COUNT),
        Column("sessions_remaining", Kind.COUNT),
        Column("status", Kind.VOCAB, required=True, vocabulary=AGREEMENT_STATUS),
        Column("alert", Kind.VOCAB, vocabulary=AGREEMENT_ALERT),
        Column("monthly_fee", Kind.MONEY),
        Column("end_date", Kind.DATE),
    ),
)
PAYMENTS = Table(
    "payments",
    (
        Column("payment_id", Kind.KEY, required=True),
        Column("customer_id", Kind.CUSTOMER_REF, required=True),
        Column("paid_on", Kind.DATE, required=True),
        Column("amount", Kind.MONEY, required=True, allow_zero=False),
        Column("kind", Kind.VOCAB, required=True, vocabulary=PAYMENT_KIND),
    ),
)
EVENTS = Table(
    "events",
    (
        Column("event_id", Kind.KEY, required=True),
        Column("customer_id", Kind.CUSTOMER_REF, required=True),
        Column("starts_at", Kind.DATETIME, required=True),
        Column("kind", Kind.TEXT),
        Column("outcome", Kind.VOCAB, required=True, vocabulary=EVENT_OUTCOME),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (CUSTOMERS, AGREEMENTS, PAYMENTS, EVENTS)}

# The output's columns in their order and types (SPEC 5: the first ten, then ours): declared
# here once, for whatever writes, checks or reads an output back.
OUTPUT_SCHEMA = pl.Schema(
    {
        "customer_id": pl.String(),
        "name": pl.String(),
        "customer_type": pl.String(),
        "follow_up_status": pl.String(),
        "reason": pl.String(),
        "account_status": pl.String(),
        "balance": MONEY_DTYPE,
        "past_due": MONEY_DTYPE,
        "oldest_unpaid_on": pl.Date(),
        "days_in_arrears": pl.Int64(),
        # SPEC 9: the latest payment and the latest attended event on or before A, right
        # after the contract's ten (before our own columns and any carried ones).
        "last_paid_on": pl.Date(),
        "last_visit_on": pl.Date(),
        "account_reason": pl.String(),
        "data_issues": pl.Int64(),
    }
)
OUTPUT_COLUMNS = tuple(OUTPUT_SCHEMA.names())

# The person's position in the customers file, among the rows kept: what every table's rows
# are joined on once validated (a customer id is matched only once, in validation).
CUST = "cust_idx"

# Every row keeps `_line`: the physical line of a CSV file (header = line 1) or the 1-based row
# number of a Parquet file, so a rejected value can be found in the export.
LINE = "_line"
FILES_OWN_LINE = LINE + " (from the file)"  # a `_line` column in the export itself, renamed

# Output rows in memory, or read as they are written (after a bucketed run, SPEC 10).
Rows = TypeVar("Rows", pl.DataFrame, pl.LazyFrame)

# record_id: the rejected row's own key as written (payment_id of a payment row, ...), so the
# row can be found in the club system; empty when a row could not be split to find it.
REJECT_COLUMNS = ("file", "line", "record_id", "column", "value", "reason")
REJECT_SCHEMA = pl.Schema(
    {
        "file": pl.String,
        "line": pl.Int64,
        "record_id": pl.String,
        "column": pl.String,
        "value": pl.String,
        "reason": pl.String,
    }
)

# Characters a spreadsheet or a copy-paste leaves in header names that no one can see.
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"))


def normalise_name(name: str) -> str:
    """A header name as matched against the contract (SPEC 2): trimmed, invisible characters
    removed, case-folded, runs of spaces and hyphens read as `_` (`Monthly Fee` is monthly_fee)."""
    return _SPACES.sub("_", name.translate(_INVISIBLE).strip().casefold())


_SPACES = re.compile(r"[\s-]+")
_REPEATED = re.compile(r"(.*)_duplicated_[0-9]+")


def matched_name(original: str, contract: Collection[str], repeats: Collection[str]) -> str:
    """A file's column name as the reader matches it: normalised, and one of `repeats` (the
    reader's `x_duplicated_N` for a header that repeats `x`, as Polars names it) as a second
    `x` when `x` is one of `contract`. A header's own `customer_id_duplicated_0` is no repeat:
    it was once read as the customer ids of a file without them, or as a second `customer_id`
    beside the one the file has (the file refused)."""
    if original in repeats:
        repeated = _REPEATED.fullmatch(original)
        if repeated is not None and normalise_name(repeated.group(1)) in contract:
            return normalise_name(repeated.group(1))
    return normalise_name(original)


@overload
def normalise_id(value: str) -> str: ...
@overload
def normalise_id(value: pl.Expr) -> pl.Expr: ...
@overload
def normalise_id(value: pl.Series) -> pl.Series: ...
def normalise_id(value: str | pl.Expr | pl.Series) -> str | pl.Expr | pl.Series:
    """An id as matched (customer, agreement, payment, event): trimmed and case-insensitive,
    so `c-1 ` in payments names `C-1`. Every place that matches ids goes through here, for a
    column of ids or one id a person typed."""
    if isinstance(value, str):
        return value.strip().lower()
    return value.str.strip_chars().str.to_lowercase()
