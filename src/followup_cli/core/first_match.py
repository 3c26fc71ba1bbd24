"""Decision tables as data: ordered rules of (status, when, reason), first match wins.

The follow-up tables (SPEC 4, `follow_up_tables.py`) and the account status table (SPEC 3,
`account_status.py`) are both lists of `Rule`s. `first_match` folds a list into one when/then chain,
so the precedence is the order of the list and the reason falls out of the same table;
`verdicts` gives every rule's condition as its own column, for `explain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import polars as pl

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then


@dataclass(frozen=True)
class Rule:
    status: str
    when: pl.Expr  # over one row of facts per person; null counts as not matched
    reason: pl.Expr  # the text saying why, naming the record or figures that decided


def first_match(rules: Sequence[Rule], field: Literal["status", "reason"]) -> pl.Expr:
    """The status (or reason) of the first rule whose condition holds; null if none does."""
    first, *rest = rules
    chain: Then | ChainedThen = pl.when(first.when.fill_null(False)).then(_field(first, field))
    for rule in rest:
        chain = chain.when(rule.when.fill_null(False)).then(_field(rule, field))
    return chain.otherwise(None)


def _field(rule: Rule, field: Literal["status", "reason"]) -> pl.Expr:
    return pl.lit(rule.status) if field == "status" else rule.reason


def verdicts(rules: Sequence[Rule]) -> list[pl.Expr]:
    """Every rule's condition as a true/false column named for its status."""
    return [rule.when.fill_null(False).alias(rule.status) for rule in rules]
