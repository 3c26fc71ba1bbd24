"""What a run of the nightly job gives back (issue 19): its exit code and error sentence as
the command's (SPEC 6), and everything the command shows a person, as plain data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from followup_cli.outputs.summary import Summary

# One move since the previous run: field, from, to, people.
Transition = tuple[str, str, str, int]


@dataclass
class Said:
    """Lines for the person gathered while the job runs, in the order they came: errors said in
    passing (a snapshot or a run report that could not be written after the output set was),
    and the warnings of the report and metrics writers."""

    problems: list[str] = field(default_factory=list)
    record_warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class JobOutcome:
    """The end of one run.

    exit_code: 0 clean, 1 rows set aside, 2 usage, 3 nothing reconciled (SPEC 6).
    error: None, or the one sentence the command prints for a failed run.
    summary: counts per list and account status, money owed, rows per file (None if failed).
    warnings: the run's warnings, as the run report holds them (a stale export, a shrunk
        table, a snapshot not stored, a signal that came after the output set was written).
    transitions: from -> to counts since the previous run; None when there was none to compare.
    previous_as_of: the as-of date of the run compared with, when known.
    report: the run report as a dict (what --report writes).
    removed_stale_rejects: an earlier run's rejects file removed beside a clean output.
    problems: errors said in passing; the exit code stays the run's (README, Decisions).
    record_warnings: warnings of the report and metrics writers (an unreadable earlier file).
    late_signal: a signal that came after the output set was written, described.
    """

    exit_code: int
    error: str | None = None
    summary: Summary | None = None
    warnings: tuple[str, ...] = ()
    transitions: tuple[Transition, ...] | None = None
    previous_as_of: dt.date | None = None
    report: dict[str, Any] = field(default_factory=dict)
    removed_stale_rejects: Path | None = None
    problems: tuple[str, ...] = ()
    record_warnings: tuple[str, ...] = ()
    late_signal: str | None = None

    @property
    def succeeded(self) -> bool:
        """The output set was delivered (exit 0 or 1)."""
        return self.error is None
