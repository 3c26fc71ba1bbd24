"""Decision tables as data: ordered rules of (status, when, reason), first match wins.

The follow-up tables (SPEC 4, `follow_up_tables.py`) and the account status table (SPEC 3,
`account_status.py`) are both lists of `Rule`s. `first_match` folds a list into one when/then chain,
so the precedence is the order of the list and the reason falls out of the same table;
`verdicts` gives every rule's condition as its own column, for `explain`. Over many rows,
`rule_number` (with `rule_status`) and `reasons` give the same answer while building each
rule's reason only for the rows that rule decided; the run uses those, and `first_match`
stays the plain definition the tests hold them to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import polars as pl

from followup_cli.core import frames

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


def rule_number(rules: Sequence[Rule], first: int = 0) -> pl.Expr:
    """The place of the first rule whose condition holds, counting from `first`; null if none
    does. The same rule `first_match` picks."""
    head, *rest = rules
    chain: Then | ChainedThen = pl.when(head.when.fill_null(False)).then(_number(first))
    for place, rule in enumerate(rest, start=first + 1):
        chain = chain.when(rule.when.fill_null(False)).then(_number(place))
    return chain.otherwise(None)


def _number(place: int) -> pl.Expr:
    return pl.lit(place, dtype=pl.UInt32)


def rule_status(rules: Sequence[Rule], number: pl.Expr) -> pl.Expr:
    """The status of the rule whose place `number` holds (a `rule_number(rules)`), null where
    it is null: `first_match(rules, "status")` without a second chain of conditions."""
    statuses = [rule.status for rule in rules]
    return number.replace_strict(
        range(len(statuses)), statuses, default=None, return_dtype=pl.String
    )


def reasons(frame: pl.DataFrame, rules: Sequence[Rule], numbers: pl.Series) -> pl.Series:
    """`first_match(rules, "reason")` for every row of `frame`, where `numbers` holds each
    row's `rule_number(rules)`, a null reason where it is null. Each reason must
    be text worked out row by row from columns named as they are, as every reason of a rules
    file is: one over the whole column (a `max()`, a `shift()`) would be worked out over the
    rule's rows alone.

    A when/then chain computes every branch for every row, so `first_match` formats each
    rule's text for all rows and keeps one (at 1,000,000 people, 15 rules, 0.39 s of text of
    which 0.05 s is kept). Here each rule's reason is made over the rows it decided alone,
    and the texts are put back in the rows' order.

    A rule's rows are gathered, with only the columns its reason reads, into columns of one
    chunk each, and let go once its texts are made. Not filtered: Polars 2.1 panics in
    `pl.format` ("assertion failed: i < self.len()") over rows filtered from a frame in
    several chunks, even chunks alike (a bucket's accounts came in four: 6,735, 32, 41 and
    6,716 rows), in its streaming engine and in memory alike. Nor rechunked first: a copy
    of the columns the reasons read (the facts are collected in many chunks) was 0.25 GB
    at the run's peak, at 1,000,000 people and 12 rules."""
    places, texts = [], []
    for at, rule in enumerate(rules):
        rows = (numbers == at).arg_true()
        read = list(dict.fromkeys(rule.reason.meta.root_names()))
        taken = frames.gathered(frame, [pl.col(read).gather(rows)])
        places.append(rows)
        made = taken.select(rule.reason).to_series()
        if made.len() != rows.len():  # a reason that reads no column: one value, every row's
            made = pl.repeat(made.item(), rows.len(), dtype=made.dtype, eager=True)
        texts.append(made)
    undecided = numbers.is_null().arg_true()
    places.append(undecided)
    texts.append(pl.repeat(None, undecided.len(), dtype=pl.String, eager=True))
    order = pl.concat(places).arg_sort()
    return pl.concat(texts).gather(order).alias("reason")
