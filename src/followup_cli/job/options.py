"""Option values read into the job's own types, the same from a command line and from Python:
the as-of date (YYYY-MM-DD, `today`, `yesterday`, or a `datetime.date`), the --surcharge
amount in cents and the --max-rejected share. A bad value is a UsageError naming the option."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from fractions import Fraction

from followup_cli.core.errors import UsageError
from followup_cli.core.money import cents_text
from followup_cli.core.rules_file import SURCHARGE_MAX_CENTS as MAX_SURCHARGE_CENTS
from followup_cli.nightly.reject_limits import parse_percent
from followup_cli.reading.parsing import amount_cents

# The dates a run can be as of. Before 1900 every date in the exports is implausible (SPEC 6);
# the last is far enough from year 9999 that the as-of date plus the 100 years of the
# plausibility check, and every month and billing date computed from it, stays a date.
FIRST_AS_OF = dt.date(1900, 1, 1)
LAST_AS_OF = dt.date(7899, 12, 31)
# How far past today a run that records its night (--history, --metrics) may be as of: one
# day, for a job that dates its nights by a club's clock a time zone ahead of the machine's.
RECORDED_DAYS_AHEAD = 1


def today() -> dt.date:
    """The local calendar day (`today`, `yesterday`, and the nights a run may record)."""
    return dt.date.today()


def as_of_date(value: str | dt.date | None, option: str = "--as-of") -> dt.date:
    """The one date parser (--as-of, --from, --to): YYYY-MM-DD, `today` or `yesterday` (the
    local calendar day), or a date; None is today. Errors name `option`."""
    if isinstance(value, dt.date):
        day = value.date() if isinstance(value, dt.datetime) else value
        return _supported(day, repr(day.isoformat()), option)
    word = (value or "today").strip().lower()
    if word in ("today", "yesterday"):
        return today() - dt.timedelta(days=1 if word == "yesterday" else 0)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
        raise UsageError(
            f"{option}: {value!r} is not a date; expected YYYY-MM-DD (e.g. 2024-07-31), "
            f"today or yesterday"
        )
    try:
        day = dt.date.fromisoformat(word)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a real calendar date") from None
    return _supported(day, repr(value), option)


def _supported(day: dt.date, shown: str, option: str) -> dt.date:
    if not FIRST_AS_OF <= day <= LAST_AS_OF:
        raise UsageError(
            f"{option}: {shown} is outside the supported dates, {FIRST_AS_OF} to {LAST_AS_OF}"
        )
    return day


def check_recorded_night(as_of: dt.date, recording: list[str]) -> None:
    """Refuse a night not yet come when the run records it (`recording`: the options that do).

    The newest night in --history, or the metrics file's as-of date, is the night in place:
    any run as of an earlier day is a backfill, which never replaces its lists (SPEC 8). One
    mistyped year (`--as-of 2025-07-31` on 2024-07-31) would so make every night until then a
    backfill, the lists left as the mistaken night wrote them. Looking ahead without them is
    allowed."""
    latest = today() + dt.timedelta(days=RECORDED_DAYS_AHEAD)
    if recording and as_of > latest:
        named = " and ".join(recording)
        raise UsageError(
            f"--as-of {as_of} is after tomorrow ({latest}): {named} would record it as the "
            f"night in place, and every night until then would be a backfill that leaves "
            f"its lists as they are; run without {named} to look ahead"
        )


def surcharge_cents(value: str | Decimal) -> int:
    """--surcharge, read by the same rules as money in the exports, up to 1,000,000.00."""
    text = format(value, "f") if isinstance(value, Decimal) else value
    try:
        cents = amount_cents(text, "--surcharge")
    except ValueError as exc:
        raise UsageError(f"--surcharge: {text!r}: {exc}") from None
    if cents > MAX_SURCHARGE_CENTS:
        raise UsageError(
            f"--surcharge: {text!r} is too large; at most {cents_text(MAX_SURCHARGE_CENTS)}"
        )
    return cents


def max_rejected_share(value: str) -> Fraction:
    """--max-rejected: `10%` or `10`, from 0 to 100."""
    try:
        return parse_percent(value)
    except ValueError as exc:
        raise UsageError(f"--max-rejected: {exc}") from None
