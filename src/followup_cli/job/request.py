"""What the nightly job is asked to do, as one frozen request (issue 19): the options of
`followup reconcile` grouped by what they are about. Every field is keyword-only, so two paths
cannot be swapped by position, and nothing can be changed once the request is made.

Values may be given as a person types them on the command line (`as_of="yesterday"`,
`surcharge="1.50"`, `max_rejected="10%"`) or as Python values (`datetime.date`, `Decimal`,
`Path`); they are read and checked when the job runs, and a bad one is the job's usage error
(exit 2), as on the command line.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from followup_cli.nightly.reject_limits import DEFAULT_MAX_REJECTED
from followup_cli.scaleout.buckets import Scale


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """The exports: a folder, files named one by one instead of the folder's, and the tables
    to run without (agreements, payments or events)."""

    data: Path = Path(".")
    customers: Path | None = None
    agreements: Path | None = None
    payments: Path | None = None
    events: Path | None = None
    without: tuple[str, ...] = ()

    def overrides(self) -> dict[str, Path | None]:
        """The files named one by one; None means "look in `data`"."""
        return {
            "customers": self.customers,
            "agreements": self.agreements,
            "payments": self.payments,
            "events": self.events,
        }


@dataclass(frozen=True, kw_only=True)
class Outputs:
    """Where the output set goes (SPEC 6): the output (None or "-": standard output), its
    format (None: from the extension), the rejects and changes files (None: beside the
    output), what a bad row does ("reject" or "fail") and the share of rejects that stops it."""

    output: Path | str | None = None
    format: str | None = None
    rejects: Path | None = None
    changes: Path | None = None
    on_error: str = "reject"
    max_rejected: str = DEFAULT_MAX_REJECTED

    @property
    def destination(self) -> Path | None:
        """The output file, or None for standard output."""
        return None if self.output is None or str(self.output) == "-" else Path(self.output)


@dataclass(frozen=True, kw_only=True)
class Lists:
    """What is asked of the lists (SPEC 9): which, in what order, with which customers-file
    columns, how CSV text is written, and the customers-file column whose every value gets an
    output file of its own (`split_by`, beside the output)."""

    status: tuple[str, ...] = ()
    sort: str | None = None
    carry: tuple[str, ...] = ()
    raw_text: bool = False
    bom: bool = False
    split_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class Records:
    """The nightly records (SPEC 8): the run report, the metrics file, the history folder,
    and an earlier output to compare with instead of the history."""

    report: Path | None = None
    metrics: Path | None = None
    history: Path | None = None
    previous: Path | None = None


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    """One run of the nightly job. `as_of` None is today; `quiet` is only recorded in the run
    report (the job itself prints nothing)."""

    inputs: Inputs = field(default_factory=Inputs)
    as_of: dt.date | str | None = None
    surcharge: str | Decimal | None = None  # None: the rules file's (default 1.00)
    rules: Path | None = None  # SPEC 11: None for the default rules
    outputs: Outputs = field(default_factory=Outputs)
    lists: Lists = field(default_factory=Lists)
    records: Records = field(default_factory=Records)
    scale: Scale = field(default_factory=Scale)
    quiet: bool = False

    def arguments(self) -> dict[str, object]:
        """The options as given, under their command-line names, for the run report (SPEC 8)."""
        i, o, lists, r, s = self.inputs, self.outputs, self.lists, self.records, self.scale
        given: dict[str, object] = {
            "data": i.data,
            **i.overrides(),
            "without": list(i.without) or None,
            "as_of": self.as_of,
            "output": o.output,
            "format": o.format,
            "rejects": o.rejects,
            "on_error": o.on_error,
            "max_rejected": o.max_rejected,
            "surcharge": self.surcharge,
            "rules": self.rules,
            "status": list(lists.status) or None,
            "sort": lists.sort,
            "carry": list(lists.carry) or None,
            "split_by": lists.split_by,
            "raw_text": lists.raw_text,
            "bom": lists.bom,
            "quiet": self.quiet,
            **{"report": r.report, "metrics": r.metrics, "history": r.history},
            **{"previous": r.previous, "changes": o.changes},
            **{"buckets": s.buckets, "engine": s.engine, "ray_address": s.ray_address},
        }
        return {name: _as_json(value) for name, value in given.items()}


def _as_json(value: object) -> object:
    """An option as given, as a JSON value the report can hold (SPEC 8): a list stays a list,
    and a path whose name is not UTF-8 (`caf\\xe9`) is shown with the odd bytes escaped."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return os.fsencode(str(value)).decode("utf-8", "backslashreplace")
