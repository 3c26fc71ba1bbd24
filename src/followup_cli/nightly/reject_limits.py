"""When a run is not worth delivering (SPEC 6): no usable customer, or too much set aside.

A trailing comma on every data row, a wrong delimiter or a truncated export makes most rows
bad at once. Writing the few survivors would replace yesterday's good lists with nearly empty
ones and exit 1, which a cron job reads as "done". Such a run stops with exit 3 instead,
before anything is written, and says where the first bad rows are.
"""

from __future__ import annotations

import re
from fractions import Fraction

from followup_cli.core.errors import UnusableRunError
from followup_cli.outputs.summary import describe_rejects
from followup_cli.reading.run import RunResult

DEFAULT_MAX_REJECTED = "50%"
SHOWN = 3  # rejects described in the message: enough to see the pattern


def parse_percent(text: str) -> Fraction:
    """`10%` or `10` (a plain number is a percentage too), from 0 to 100; `2.5%` is allowed."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a percentage; expected e.g. 10% or 10")
    value = Fraction(match.group(1))
    if value > 100:
        raise ValueError(f"{text!r} is more than 100%")
    return value


def percent_text(value: Fraction) -> str:
    """A percentage as a person writes it: 50%, 2.5%, 33.3%."""
    return f"{float(value):.1f}".removesuffix(".0") + "%"


def check_usable(result: RunResult, max_rejected: Fraction) -> None:
    """Raise UnusableRunError when no customer row is usable or any table has more than
    `max_rejected` percent of its rows rejected; the message names the table, the counts,
    the limit and the first few rejects."""
    for count in result.counts:
        if count.read == 0:
            continue
        share = Fraction(count.rejected * 100, count.read)
        if share > max_rejected:
            raise UnusableRunError(
                f"{count.file}: {count.rejected:,} of {count.read:,} rows rejected "
                f"({percent_text(share)}), more than --max-rejected {percent_text(max_rejected)}"
                f"; nothing written. {_first_rejects(result, count.file)}"
            )
    customers = next(c for c in result.counts if c.table == "customers")
    if customers.used == 0:
        if customers.read == 0:
            why = "has no data rows"
        elif customers.rejected == customers.read:
            why = f"has no usable row: {_all_rows(customers.read)} rejected"
        elif customers.rejected == 0:
            why = (
                f"has no usable row: {_its_rows(customers.read)} of a person created after the "
                f"as-of date (check --as-of)"
            )
        else:
            why = (
                f"has no usable row: {customers.rejected:,} of {customers.read:,} rows were "
                f"rejected and the rest are of people created after the as-of date"
            )
        first = _first_rejects(result, customers.file) if customers.rejected else ""
        raise UnusableRunError(f"{customers.file} {why}; nothing written. {first}".rstrip())


def _all_rows(count: int) -> str:
    return "its 1 row was" if count == 1 else f"all {count:,} rows were"


def _its_rows(count: int) -> str:
    return "its 1 row is" if count == 1 else f"all {count:,} rows are"


def _first_rejects(result: RunResult, file: str) -> str:
    rejects = result.rejects.filter(result.rejects.get_column("file") == file).head(SHOWN)
    return "First: " + "; ".join(describe_rejects(rejects, limit=SHOWN))
