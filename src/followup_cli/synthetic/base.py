"""The synthetic club's shared ground (see generate.py for the club itself): its calendar,
who people are (personas), the kinds of agreement, and a seeded counter-based random number
generator written as Polars expressions (splitmix64 over each row's key), so no Python loop
runs per row and the same seed gives the same values on any machine.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Sequence

import polars as pl

FIRST_CREATED = dt.date(2019, 1, 1)
EXPORTED_ON = dt.date(2024, 9, 30)  # the day the club system was exported: nothing later
BOOKED_AHEAD_DAYS = 61  # events are booked this far past the export day

_EPOCH = dt.date(1970, 1, 1)
FIRST = (FIRST_CREATED - _EPOCH).days
EXPORTED = (EXPORTED_ON - _EPOCH).days

# Personas: who a person is now, decided by their last agreement.
PROSPECT, MEMBER, FORMER_MEMBER, PACK, USED_PACK, DROP_IN, RENEWAL = range(7)
# Agreement kinds.
MEMBERSHIP, CLASS_PACK, SINGLE = range(3)
# How a current member pays.
PAYING, ARREARS, SUSPENDED, COLLECTIONS = range(4)

_MASK = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB
MAX_AGREEMENTS = 8  # keys leave room for this many agreements per person
MAX_PAYMENTS = 256  # and this many payments per agreement


# --- pseudo-random numbers -------------------------------------------------------------------


def _mix(value: int) -> int:
    """splitmix64's finaliser on one Python integer (for the per-stream constants)."""
    z = (value + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _MIX_1) & _MASK
    z = ((z ^ (z >> 27)) * _MIX_2) & _MASK
    return z ^ (z >> 31)


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


class Random:
    """Independent streams of numbers, one per name, each a pure function of (seed, key)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def bits(self, key: pl.Expr, stream: str) -> pl.Expr:
        offset = _mix((self.seed & _MASK) ^ (zlib.crc32(stream.encode()) << 32))
        z = key.cast(pl.UInt64) * _u64(_GOLDEN) + _u64(offset)
        z = z.xor(z // _u64(2**30)) * _u64(_MIX_1)
        z = z.xor(z // _u64(2**27)) * _u64(_MIX_2)
        return z.xor(z // _u64(2**31))

    def uniform(self, key: pl.Expr, stream: str) -> pl.Expr:
        """A float in [0, 1) (53 random bits); used only to choose, never as money."""
        return (self.bits(key, stream) // _u64(2**11)).cast(pl.Float64) * 2.0**-53

    def below(self, key: pl.Expr, stream: str, n: int) -> pl.Expr:
        """A whole number in [0, n)."""
        return (self.uniform(key, stream) * n).floor().cast(pl.Int64)


Dtype = pl.DataType | type[pl.DataType]


def pick(u: pl.Expr, weighted: Sequence[tuple[object, float]], dtype: Dtype) -> pl.Expr:
    """The value whose share of [0, 1) `u` falls in; the shares are the weights, normalised."""
    total = sum(weight for _, weight in weighted)
    uppers, upper = [], 0.0
    for _, weight in weighted:
        upper += weight / total
        uppers.append(upper)
    *earlier, (last_value, _) = weighted
    chosen = pl.lit(last_value, dtype=dtype)
    for (value, _), bound in reversed(list(zip(earlier, uppers, strict=False))):
        chosen = pl.when(u < bound).then(pl.lit(value, dtype=dtype)).otherwise(chosen)
    return chosen


def pick_by(key: pl.Expr, mapping: dict[int, int]) -> pl.Expr:
    """`mapping[key]` for a few keys, as a when/then chain (streams, unlike `replace_strict`)."""
    chosen = pl.lit(None, dtype=pl.Int64)
    for k, value in mapping.items():
        chosen = pl.when(key == k).then(pl.lit(value, dtype=pl.Int64)).otherwise(chosen)
    return chosen


def from_list(index: pl.Expr, values: Sequence[str]) -> pl.Expr:
    # A gather from a literal streams; `replace_strict` would hold the whole table in memory.
    return pl.lit(pl.Series(values, dtype=pl.String)).gather(index)


def days(date: pl.Expr) -> pl.Expr:
    return date.cast(pl.Int32)
