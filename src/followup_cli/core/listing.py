"""A list of names in a sentence for a person: the first few, then how many more."""

from __future__ import annotations

from collections.abc import Sequence

LISTED_NAMES = 20  # column names listed in one sentence (a header's, the ignored ones)


def first_of(shown: Sequence[str], limit: int, count: int | None = None) -> str:
    """`a, b, c and 1,234 more`: at most `limit` of `shown`, already written as they should
    read, so that a sentence stays a sentence however many there are (a header of 200,000
    ignored columns was a 2 MB warning). `count` is how many there are when `shown` holds only
    the first of them (default: all are in `shown`)."""
    more = (len(shown) if count is None else count) - limit
    return ", ".join(shown[:limit]) + (f" and {more:,} more" if more > 0 else "")
