"""What the person at the terminal is told after a run, as plain data (rendered by `render`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from followup_cli.core.account_status import ACCOUNT_STATUSES
from followup_cli.core.conditions import UNMATCHED
from followup_cli.core.default_rules import DEFAULT_RULES
from followup_cli.core.rules_file import RuleSet
from followup_cli.core.schema import LINE
from followup_cli.core.tables import TableCount
from followup_cli.reading.run import RunResult

UNCLASSIFIED_SHOWN = 5


@dataclass(frozen=True)
class Summary:
    as_of: dt.date
    people: int
    follow_up: tuple[tuple[str, int], ...]  # every list, in RuleSet.list_order
    accounts: tuple[tuple[str, int, int], ...]  # status, accounts, cents owed
    owed_cents: int
    tables: tuple[TableCount, ...]
    rejected_rows: int
    rejects_path: Path | None
    rejects_shown: tuple[str, ...]  # the first few set-aside values: where, why, what
    unclassified: tuple[tuple[str, str], ...]  # first few: customer_id, reason
    timings: tuple[tuple[str, float], ...]
    destination: str
    ignored_columns: tuple[tuple[str, tuple[str, ...]], ...] = ()  # file, unknown column names
    without: tuple[str, ...] = ()  # tables the run was told to do without
    elapsed: float | None = None  # the whole run's wall time; None: the stages' sum
    unclassified_status: str = DEFAULT_RULES.unclassified  # the customers' catch-all list
    unclassified_count: int | None = None  # how many the catch-all took; None: not counted


def summarise(
    result: RunResult,
    as_of: dt.date,
    rejects_path: Path | None,
    destination: str,
    rules: RuleSet = DEFAULT_RULES,
) -> Summary:
    """The counts per list in the rules' order (SPEC 11), per account status, and the first
    few people only the catch-all rule took."""
    # Sums and counts in any order; the first unclassified people by their line.
    out = result.any_order
    owed_cents = pl.col("balance").cast(pl.Decimal(18, 2)) * -100
    # Taken by the customers' catch-all rule: its own reason says so. Its list's name may be
    # another rule's too, and a prospect's catch-all is not "unclassified".
    caught = (pl.col("customer_type") == "Customer") & pl.col("reason").str.starts_with(UNMATCHED)
    follow_rows, account_rows, first_unclassified, caught_rows = pl.collect_all(
        [
            out.group_by("follow_up_status").len(),
            out.filter(pl.col("account_status").is_not_null())
            .group_by("account_status")
            .agg(
                pl.len().alias("accounts"),
                owed_cents.filter(pl.col("balance") < 0).sum().cast(pl.Int64).alias("owed"),
            ),
            out.filter(caught).sort(LINE).head(UNCLASSIFIED_SHOWN).select("customer_id", "reason"),
            out.select(caught.sum()),
        ]
    )
    follow_counts = dict(follow_rows.iter_rows())
    by_status = {row[0]: (row[1], row[2] or 0) for row in account_rows.iter_rows()}
    unclassified = first_unclassified.iter_rows()
    return Summary(
        as_of=as_of,
        people=result.people,
        follow_up=tuple((status, follow_counts.get(status, 0)) for status in rules.list_order),
        accounts=tuple((s, *by_status.get(s, (0, 0))) for s in ACCOUNT_STATUSES),
        owed_cents=sum(owed for _, owed in by_status.values()),
        tables=result.counts,
        rejected_rows=sum(c.rejected for c in result.counts),
        rejects_path=rejects_path,
        rejects_shown=describe_rejects(result.rejects),
        unclassified=tuple((str(a), str(b)) for a, b in unclassified),
        timings=tuple(result.timings.items()),
        destination=destination,
        unclassified_status=rules.unclassified,
        unclassified_count=int(caught_rows.item()),
        ignored_columns=tuple(
            (raw.file_label, raw.unknown_columns)
            for raw in result.inputs.values()
            if raw.unknown_columns
        ),
        without=tuple(name for name, raw in result.inputs.items() if raw.path is None),
    )


SHOWN_VALUE = 40  # characters of a rejected value quoted on the terminal
SHOWN_REASON = 200  # and of its reason, as in the rejects file


def describe_rejects(rejects: pl.DataFrame, limit: int = 5) -> tuple[str, ...]:
    """The first `limit` rejects as sentences for a person: where (file, line, column), why,
    and the value as found, each cut short; the rejects file has them all."""
    sentences = []
    for row in rejects.head(limit).iter_rows(named=True):
        where = f"{row['file']} line {row['line']}"
        if row["column"] != "*":  # "*": the row could not be split into columns at all
            where += f", column {row['column']}"
        value = _shortened(row["value"] or "", SHOWN_VALUE)
        reason = _shortened(row["reason"] or "", SHOWN_REASON)
        sentences.append(f"{where}: {reason} (value {value!r})")
    if rejects.height > limit:
        sentences.append(f"... and {rejects.height - limit:,} more in the rejects file")
    return tuple(sentences)


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
