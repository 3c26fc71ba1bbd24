"""Health checks a nightly job wants (SPEC 8): warnings for the summary and the run report.

They never change the exit code: a table that shrank or an export that stopped moving may be
real (a purge, a quiet week), but on-call should look before the lists go out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from followup_cli.core.tables import TableCount

SHRINK = 0.20  # more than this share fewer rows than last run
STALE_DAYS = 7  # newest payment or event more than this many days before the as-of date

# The kinds of warning a run counts (SPEC 8), each one a `followup_warnings{kind}` gauge that is
# always written (0 when none), so that an alert can rely on it: a stale export, a table that
# shrank since the previous run, an empty table, a backfill (an as-of date older than a night
# already delivered), a snapshot not stored in --history, a signal that came after the output
# set was written, and any other warning the run report holds.
STALE_EXPORT, SHRUNK_TABLE, EMPTY_TABLE, BACKFILL = (
    "stale_export",
    "shrunk_table",
    "empty_table",
    "backfill",
)
SNAPSHOT_NOT_STORED, LATE_SIGNAL, OTHER = "snapshot_not_stored", "late_signal", "other"
KINDS = (
    STALE_EXPORT,
    SHRUNK_TABLE,
    EMPTY_TABLE,
    BACKFILL,
    SNAPSHOT_NOT_STORED,
    LATE_SIGNAL,
    OTHER,
)


def shrunk_tables(counts: tuple[TableCount, ...], previous: Mapping[str, Any] | None) -> list[str]:
    """Tables with more than 20% fewer rows read than in the previous run's report."""
    if not previous or not isinstance(previous.get("inputs"), list):
        return []
    # An edited or foreign report may hold anything: a table named by a list, a count of 400
    # digits (both were internal errors). Only a run's own shapes are compared.
    before = {
        entry.get("table"): entry.get("rows_read")
        for entry in previous["inputs"]
        if isinstance(entry, dict) and isinstance(entry.get("table"), str)
    }
    day = previous.get("as_of")
    day = day if isinstance(day, str) and len(day) <= len("2024-07-31") else "unknown"
    warnings = []
    for count in counts:
        earlier = before.get(count.table)
        if not isinstance(earlier, int) or isinstance(earlier, bool) or earlier > 2**62:
            continue
        if earlier > 0 and count.read < earlier * (1 - SHRINK):
            drop = (earlier - count.read) / earlier
            warnings.append(
                f"{count.file}: {count.read:,} rows, {drop:.0%} fewer than the {earlier:,} of the "
                f"previous run (as of {day}); check the export is complete"
            )
    return warnings


def stale_exports(newest: Mapping[str, dt.date | None], as_of: dt.date) -> list[str]:
    """Payments or events whose newest row (on or before the as-of date) is more than 7 days
    old: the club system may have stopped exporting them."""
    warnings = []
    for table, day in newest.items():
        if day is not None and (as_of - day).days > STALE_DAYS:
            warnings.append(
                f"{table}: the newest row is from {day}, {(as_of - day).days} days before the "
                f"as-of date {as_of}; is the export up to date?"
            )
    return warnings


def payments_missing_in_effect(file: str, owing: int) -> str | None:
    """A payments export with a header and no rows while accounts owe: read as "nobody ever
    paid", it would make every subscriber Delinquent, which is what stopping on a missing
    table prevents (SPEC 2). The sentence that stops the run (exit 3), or None when no
    account owes (a studio whose first charge is not due yet)."""
    if owing == 0:
        return None
    accounts = "account owes" if owing == 1 else "accounts owe"
    return (
        f"{file}: a header and no rows, while {owing:,} subscription {accounts} money; read as "
        f"'nobody paid' it would make them Delinquent. Export the payments again, or pass "
        f"--without payments if the club truly has none"
    )
