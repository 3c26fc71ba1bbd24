"""One output set per club (SPEC 9, `--split-by COLUMN`): the output's rows split by a
customers-file column, one file per value beside -o, written with the run's rejects and
changes files as one set (all of them or none).

- `-o lists.xlsx --split-by home_club` writes `lists-Downtown.xlsx`, `lists-Riverside.xlsx`,
  ... and `lists-no-home_club.xlsx` for the people without a value; `lists.xlsx` itself is
  not written (-o names the folder, the stem and the format). File names are made safe and
  distinct by `destinations.split_paths`.
- Every value any person has gets its file, even when `--status` leaves none of its people
  (a header only): a club's list from an earlier night is never left standing as tonight's.
- The column is read as `--carry` reads it (same name matching, same trimming: an empty or
  blank value is no value), and it is not added to the output unless carried too.
- At most MAX_FILES values: a column with more (an email, a phone number, an id: one value
  per person) is a mistake that would write a file per person, so the run is refused (exit 2)
  before any file is written, naming how many there are.
- One rejects file and one changes file for the run, beside -o as always: rejects are about
  the exports, not a club. A workbook's Summary counts the club's people, its Changes sheet
  the changes of the club's people (people gone since the previous run are in the changes
  file only); its Rejected rows sheet is the run's.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from followup_cli.core.errors import UsageError
from followup_cli.core.frames import free_name
from followup_cli.core.schema import LINE
from followup_cli.job.deliver import Delivery, RefusedRecord
from followup_cli.nightly.history import check_not_inside
from followup_cli.outputs.destinations import (
    SPLIT_VALUE_CHARACTERS,
    check_name_fits,
    check_writable,
    is_special,
    resolved,
    split_paths,
)
from followup_cli.outputs.lists import carried_columns
from followup_cli.outputs.lists import carry as carry_columns
from followup_cli.outputs.summary import summarise
from followup_cli.outputs.workbook import Sheets
from followup_cli.reading.run import RunResult

if TYPE_CHECKING:
    from followup_cli.job.plan import Plan

OPTION = "--split-by"
VALUE = "_split_value"  # the value each row is split by, dropped before writing
# The most files --split-by writes: far more clubs than any gym has, far fewer than people. A
# value per person (50,000 files) took 75 s and 1.8 GB, each file a writer of its own.
MAX_FILES = 1_000


@dataclass(frozen=True)
class SplitBy:
    """The column asked for (its name in the output's words) and its name in the file."""

    column: str
    source: str


def split_column(name: str | None, customers: Path | None, output: Path | None) -> SplitBy | None:
    """--split-by checked before any work: it needs -o a file (the files go beside it), and
    the customers file must have the column (exit 2 naming the columns there, as --carry)."""
    if name is None:
        return None
    if output is None or is_special(output):
        where = "standard output" if output is None else str(output)
        raise UsageError(
            f"{OPTION} {name}: writes one file per value beside -o, and the output is {where}; "
            f"give -o a file name (-o lists.xlsx)"
        )
    # Each file is named after -o with a value made safe (at most SPLIT_VALUE_CHARACTERS, and
    # a hash of up to 16 when values clash): the longest such name must fit its folder.
    longest = len(os.fsencode(output.stem + output.suffix)) + 2 + SPLIT_VALUE_CHARACTERS + 16
    check_name_fits(f"{OPTION} {name} with -o", output, output.parent, longest)
    if customers is None:
        return None  # the run says the customers file is missing (exit 3)
    found = carried_columns(customers, [name], OPTION)
    if not found:
        raise UsageError(f"{OPTION}: give a customers-file column, such as home_club")
    ((column, source),) = found.items()
    return SplitBy(column, source)


def deliveries(
    plan: Plan,
    result: RunResult,
    rows: pl.DataFrame | pl.LazyFrame,
    sheets: Sheets | None,
    records: list[Path | None],
    history: Path | None = None,
) -> list[Delivery]:
    """The output's files, one per value, in the order of their values (no value last). Each
    is checked as -o was (not an input, nor another file of the run, nor the run's report or
    metrics file `records`, nor inside a snapshot folder of `history`, and writable) before any
    file is written: the names are known only once the values are read."""
    assert plan.split is not None and plan.destination is not None, "split_column checked"
    value = free_name(VALUE, plan.carried)  # a carried column may be named _split_value
    everyone = _with_values(plan, result, value)
    values = sorted(v for v in everyone.get_column(value).unique().to_list() if v is not None)
    if everyone.get_column(value).null_count():
        values.append(None)
    if len(values) > MAX_FILES:
        raise UsageError(
            f"{OPTION} {plan.split.column}: {len(values):,} different values would make "
            f"{len(values):,} files, more than {MAX_FILES:,}; split by a column that names a "
            f"club, not a person (such as home_club)"
        )
    paths = split_paths(plan.destination, plan.split.column, values)
    _check(paths, list(plan.inputs), [plan.rejects, plan.changes], records)
    if history is not None:
        check_not_inside(history, [(OPTION, path) for path in paths.values()])
    held = rows if isinstance(rows, pl.DataFrame) else rows.collect()
    by_person = everyone.select("customer_id", value)
    kept = held.join(by_person, on="customer_id", how="left", maintain_order="left")
    kept_parts = kept.partition_by(value, as_dict=True, include_key=False)
    people_parts = everyone.partition_by(value, as_dict=True, include_key=False)
    empty = kept.clear().drop(value)
    files = []
    for club_value in values:  # a loop per club, never per person
        club = kept_parts.get((club_value,), empty)
        people = people_parts[(club_value,)]
        club_sheets = None if sheets is None else _club_sheets(plan, result, sheets, people)
        split = (plan.split.column, club_value)
        files.append(Delivery(club, paths[club_value], plan.fmt, club_sheets, club.height, split))
    return files


def described(column: str, written: list[Path]) -> str:
    """The summary's destination: how many files, and which."""
    names = ", ".join(path.name for path in written[:3]) + (", ..." if len(written) > 3 else "")
    folder = written[0].parent if written else Path(".")
    return f"{len(written):,} files by {column} in {folder} ({names})"


def _with_values(plan: Plan, result: RunResult, value: str) -> pl.DataFrame:
    """Every person of the output (all lists) with their line and their value as text in the
    column `value`, null when empty; read as --carry reads a column (the run's own reading of
    the file when it holds the column)."""
    assert plan.split is not None and plan.customers is not None, "split_column checked"
    read = result.inputs.get("customers")
    valued = carry_columns(
        result.output,
        plan.customers,
        {value: plan.split.source},
        result.customer_lines,
        read.unknown_frame if read is not None and read.format == "csv" else None,
    )
    return valued.with_columns(
        pl.col(value).cast(pl.String), result.customer_lines.alias(LINE).cast(pl.Int64)
    )


def _club_sheets(plan: Plan, result: RunResult, sheets: Sheets, people: pl.DataFrame) -> Sheets:
    """The workbook's other sheets for one club: its people's counts and changes."""
    club = dataclasses.replace(result, rows=people.lazy(), people=people.height, unordered=None)
    summary = summarise(club, plan.as_of, plan.rejects, "", plan.settings.rules)
    changes = sheets.changes
    if changes is not None:
        changes = changes.filter(pl.col("customer_id").is_in(people.get_column("customer_id")))
    return dataclasses.replace(sheets, summary=summary, changes=changes)


def _check(
    paths: dict[str | None, Path],
    inputs: list[Path],
    taken: list[Path | None],
    records: list[Path | None],
) -> None:
    """Refuse, before anything is written, a club's file that would overwrite an input or
    another file of the run (exit 2), or that cannot be written (a folder by that name). One
    that is the run's report or metrics file refuses them too (RefusedRecord): the failed
    run's report must not replace the club's list an earlier night wrote there."""
    read = {resolved("input", path) for path in inputs}
    others = {resolved("a file of the run", path) for path in taken if path is not None}
    recorded = {
        resolved("a record of the run", path): path
        for path in records
        if path is not None and not is_special(path)
    }
    for value, path in paths.items():
        where = resolved(OPTION, path)
        shown = "no value" if value is None else repr(value)
        if where in read:
            raise UsageError(
                f"{OPTION}: the file for {shown}, {path}, is one of the input files; "
                f"give -o another name"
            )
        if where in recorded:
            raise RefusedRecord(
                f"{OPTION}: the file for {shown}, {path}, is also the run's report or metrics "
                f"file {recorded[where]}; give -o or them another name"
            )
        if where in others:
            raise UsageError(
                f"{OPTION}: the file for {shown}, {path}, is also another file of the run; "
                f"give -o another name"
            )
        check_writable(OPTION, path)
