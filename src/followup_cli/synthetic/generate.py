"""Synthetic club exports: all four tables, realistic, deterministic, valid under SPEC 2.

For trying the tool at scale and for the benchmark. Every value is drawn from a seeded
counter-based generator (splitmix64 over the row's key: the customer's number, then its
agreement's and payment's place), written as Polars expressions, so no Python loop runs per
row, the same seed gives the same rows on any machine and Polars version (and the same bytes,
whatever the number of threads), and each table is streamed to its file without holding the
whole of it in memory: 10,000,000 people (100,000,000 payments) take about a minute and
under 1 GB.

The club (every figure is a share of all people):

- **People** sign up between 2019-01-01 and the export day, 2024-09-30, at a rate growing
  linearly over time (created_on = first day + span * sqrt(u)), so about 6% arrive after
  2024-07-31 and are left out at that as-of date. Origins: web 28%, walk-in 20%, referral 17%,
  instagram 7%, phone 6%, facebook 5%, corporate 3%, website/online/web lead 9%, empty 5%;
  a few are capitalised ("Web", "Referral") as staff type them. Names are drawn from lists
  that include accents and apostrophes; 2% are empty.
- **Journeys.** 30% are prospects with no agreement. The others first buy on the day they
  sign up (half of them) or within 30 days, and hold 1 to 6 agreements one after another
  (40%, 28%, 16%, 9%, 5%, 2%: 2.2 on average, 1.5 per person); agreement j starts in the
  j-th equal slice of the time from their first purchase to the export day, and purchases
  fall on any day, weekends and month ends included. The last agreement says who they are
  now: a current member (38%: paying 84%, in arrears 8%, suspended 5%, in collections 3%),
  a former member (12%), an active class pack (7%), a used-up class pack (5%), or a single
  session with none left (4%, Drop-In) or one left (4%, Renewal Opportunity). Former members
  and used-up packs are canceled (60%, a quarter of them spelt "cancelled"), expired (35%)
  or without an alert (5%, Unclassified). Earlier agreements are inactive (expired 65%,
  canceled 30%, no alert 5%), except 5% of earlier class packs, still active with sessions
  left.
- **Agreements.** Memberships cost 29.00 to 79.00 a month (1% are free staff memberships at
  0.00) and are open-ended, except 15% of current ones on a 12-month term; a finished
  membership ends 15% to 90% of the way to the export day, an earlier one near the start of
  the next. Class packs hold 5, 10 or 20 sessions, cost 60.00, 110.00 or 200.00 and expire
  180 days after purchase; single sessions cost 15.00.
- **Payments** (about 10 per person). A member pays the first month on the purchase day and
  every later month on its billing date plus a lag: on the day (70%), 1-3 days early (8%),
  0-4 days late (15%) or 3-15 days late (7%), and 2% of payments come 20-45 days late. 86%
  are recurring for the fee, 13.5% one-off for the fee plus the 1.00 surcharge, 0.5% one-off
  for the fee alone (the surcharge forgotten). Members in arrears stop paying 1 to 18 months
  before the export month (geometric, mean 3.5), collections 3 to 18 months; 5% of former
  members leave their last 1 or 2 months unpaid; 4% of memberships paid a month in advance
  (in credit). Packs and single sessions are paid once, one-off, on purchase. Payments after
  the export day are not in the export.
- **Events** (about 1 per person, besides visits). A prospect books 0-3 trials or
  appointments, the first within 14 days of signing up and then about every 3 weeks; a
  customer has 0-3 classes, appointments or personal-training sessions anywhere from sign-up
  to 61 days after the export day. Times run 06:00-20:30 on the half hour. Past events were
  attended (62%), no-shows (16%), canceled (15%) or still marked scheduled (7%); events after
  the export day are scheduled.
- **Visits** (about 3.5 per person, visits.py). People who first bought on or before
  2024-07-31 book classes (kind `class`) in the 120 days up to the export day: of current
  members and class-pack holders 60% come every 7 to 21 days throughout, 25% came so but
  stopped somewhere in those days and 15% never come (of the others 10%, 40% and 50%). A visit
  was attended (78%), a no-show (11%) or canceled (11%). So at 2024-07-31 a `no_visit` rule of
  30 days finds members with a recent class, members whose last class is older and members
  with none. Visits are the events file's last rows, V-1, V-2, ...: the events above keep
  their rows and ids, and the default output is the same with or without them.

At as-of 2024-07-31 (a Wednesday billing date) this gives every follow-up status and every
account status: members who pay July a few days late are Due, a June payment 20 or more days
late or a stop in June is Warning, older stops are Disabled.

Files hold rows in customer order (a real export is more often in id or date order). CSV
money is text with two places (4.00), dates ISO, starts_at "YYYY-MM-DD HH:MM"; Parquet uses
Date, Datetime, Decimal(18, 2), Int64 and String.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import polars as pl

from followup_cli.core import money
from followup_cli.core.errors import UsageError
from followup_cli.core.formats import EXPORT_FORMATS
from followup_cli.core.money import MONEY_DTYPE
from followup_cli.core.schema import TABLE_NAMES
from followup_cli.outputs.writing import Fill, write_together
from followup_cli.synthetic.agreements import agreements_table, make_agreements, payments_table
from followup_cli.synthetic.base import Random
from followup_cli.synthetic.people import customers_table, events_table, make_people
from followup_cli.synthetic.visits import visits_table

# Fixed row groups: the bytes of a Parquet file must not depend on the number of threads.
ROW_GROUP_ROWS = 250_000
# Ids are numbered with a 32-bit row index: about 10 payments a person stays well inside it.
MAX_CUSTOMERS = 100_000_000


def generate(customers: int, out_dir: Path, seed: int = 0, fmt: str = "parquet") -> dict[str, int]:
    """Write customers, agreements, payments and events files for `customers` people.

    Returns the rows written per table. The same arguments give byte-identical files.
    """
    if not 0 <= customers <= MAX_CUSTOMERS:
        raise UsageError(f"--customers {customers}: must be from 0 to {MAX_CUSTOMERS:,}")
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format {fmt!r}: choose csv or parquet")
    out_dir.mkdir(parents=True, exist_ok=True)
    other = "csv" if fmt == "parquet" else "parquet"
    clashing = [p.name for p in sorted(out_dir.glob(f"*.{other}")) if p.stem in TABLE_NAMES]
    if clashing:
        raise UsageError(
            f"{out_dir} already holds {', '.join(clashing)}; a second file for a table would "
            f"make it unreadable. Remove them or generate into another folder"
        )
    rng = Random(seed)
    people = make_people(customers, rng)
    agreements = make_agreements(people, rng)
    tables = {
        "customers": customers_table(people),
        "agreements": agreements_table(agreements),
        "payments": payments_table(agreements, rng),
        # Members' visits follow the other events, so those keep their rows and ids.
        "events": pl.concat([events_table(people, rng), visits_table(people, rng)]),
    }
    paths = {name: out_dir / f"{name}.{fmt}" for name in tables}
    # As a set, through the output module's writer: all four files land or none changes.
    write_together([(paths[name], _filler(frame, fmt)) for name, frame in tables.items()])
    return {name: _count_rows(path, fmt) for name, path in paths.items()}


# --- writing --------------------------------------------------------------------------------


# Money is integer cents until written: text with two places in CSV, decimals in Parquet.
_MONEY_COLUMNS = ("monthly_fee", "amount")


def _filler(frame: pl.LazyFrame, fmt: str) -> Fill:
    """What streams `frame` into an open file as `fmt` (the exports are never held whole)."""
    money_columns = [c for c in frame.collect_schema().names() if c in _MONEY_COLUMNS]

    def fill(sink: BinaryIO) -> None:
        if fmt == "csv":
            frame.with_columns(money.as_text(pl.col(c)).alias(c) for c in money_columns).sink_csv(
                sink, date_format="%Y-%m-%d", datetime_format="%Y-%m-%d %H:%M"
            )
        else:
            frame.with_columns(_decimal(pl.col(c)).alias(c) for c in money_columns).sink_parquet(
                sink, row_group_size=ROW_GROUP_ROWS
            )

    return fill


def _decimal(cents: pl.Expr) -> pl.Expr:
    """Cents as Decimal(18, 2). Scaled before dividing: a Decimal(18, 0) divided by 100 is
    rounded to whole units by Polars 2.1, which would turn 39.99 into 40.00."""
    return (cents.cast(MONEY_DTYPE) / 100).cast(MONEY_DTYPE)


def _count_rows(path: Path, fmt: str) -> int:
    scan = (
        pl.scan_csv(path, infer_schema=False, glob=False)
        if fmt == "csv"
        else pl.scan_parquet(path, glob=False)
    )
    return int(scan.select(pl.len()).collect().item())
