"""The buckets' first pass (SPEC 10): each table read once, its rows written, as read and with
their `_line`, into Arrow IPC files by bucket = hash(customer id) mod N: a customers row by its
own id, any other row by the customer it names, the id hashed as every id is hashed
(`tables.id_hashes`, a function of the id as matched), so a person and every row naming them
share a bucket.

Only one check crosses buckets: an agreement, payment or event id repeated under two
customers. When a table's ids, read alone first, stand in order in one case, none repeats
(`_ids_in_order`, one pass's proof taken a slice at a time) and nothing more is done.
Otherwise the first pass also writes each row's line and the hash of its own id into files by
that hash, so one small pass per id bucket finds the lines whose hash repeats; their ids are
then compared exactly (`repeats.confirmed`), and validation is handed every repeat and its
first line. A reference to an unknown customer never crosses: the id it names hashes to the
bucket that customer would be in. A row without a customer id lands in bucket 0 and is set
aside there as in one pass; a row that could not be split into columns goes with the person
validation guesses it names, else bucket 0.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import polars as pl

from followup_cli.core.ledger import LedgerSettings
from followup_cli.core.schema import LINE, TABLES, normalise_id
from followup_cli.core.tables import KEY_HASH, id_hashes
from followup_cli.reading import repeats as repeated
from followup_cli.reading import whole_column
from followup_cli.reading.file_query import naming_the_file
from followup_cli.reading.loading import RawTable, read_table
from followup_cli.reading.parsing import parse
from followup_cli.reading.unsplit import guessed_people
from followup_cli.scaleout.plan import Plan, TableShape

BUCKET = "_bucket"
ID_BUCKET = "_id_bucket"  # the bucket of a row's own id, for finding repeated ids
# Rows split at a time in the first pass, which bound its memory (under 0.5 GB at 10 columns).
CHUNK_ROWS = 1_000_000
WRITERS = 2  # files of the first pass written at once
SLICES_AT_ONCE = 2  # slices of the first pass hashed, split and written at once

# What hashes one column of a slice of rows: u64, null where the row names no id.
Hasher = Callable[[pl.DataFrame], pl.Series]


def split(
    located: Mapping[str, Path | None],
    as_of: dt.date,
    settings: LedgerSettings,
    buckets: int,
    work: Path,
) -> tuple[Plan, dict[str, RawTable]]:
    """The first pass: every table's rows into bucket files, the repeated ids found; and each
    table as read without its rows (for the summary and the run report)."""
    shapes: dict[str, TableShape] = {}
    inputs: dict[str, RawTable] = {}
    repeats: dict[str, pl.DataFrame] = {}
    for name, table in TABLES.items():
        raw = read_table(table, located[name])
        shapes[name] = _shape(raw)
        with naming_the_file(raw):
            person = _id_hashes(raw, "customer_id")
            ids = None
            if name != "customers":
                if _ids_in_order(raw):
                    repeats[name] = pl.DataFrame(schema=repeated.REPEATS_SCHEMA)
                else:
                    ids = _id_hashes(raw, table.key.name)
            _sink(raw.frame, person, buckets, work / name, ids)
            _split_structural(raw, buckets, work / name)
            if ids is not None:
                repeats[name] = _repeated_ids(raw, _ids_folder(work / name))
        # The rows are on disk now; keep what the summary and the report read, and let a CSV
        # file's rows go before the next file is read.
        inputs[name] = raw.without_rows()
        del raw
    return Plan(work, buckets, as_of, settings, shapes, repeats, occupied(work, buckets)), inputs


def occupied(work: Path, buckets: int) -> tuple[int, ...]:
    """The buckets that hold a row of any table, or a row that could not be split: the only
    ones worth reconciling (an empty bucket adds nothing to the output, the rejects or the
    counts; 4,096 buckets of 18 people took ten minutes when every one was run). Bucket 0
    always, so that a run of empty tables still has a bucket that says what it read."""
    found = {0}
    for folder in work.iterdir():
        if folder.is_dir() and folder.name in TABLES:
            for path in folder.iterdir():
                number = path.stem.split("-")[0].removeprefix("b")
                if path.name.startswith("structural-"):
                    number = path.stem.removeprefix("structural-")
                if number.isdigit() and int(number) < buckets:
                    found.add(int(number))
    return tuple(sorted(found))


def _ids_in_order(raw: RawTable) -> bool:
    """Whether the table's own ids, read alone in slices, prove that no id repeats, much as
    one pass's figures do (`whole_column.IdsInOrder`): then the first pass neither hashes nor
    writes them, and no repeat is looked for (10,000,000 customers: 10 s of a 73 s run). It
    stops at the first slice that fails; ids not written as text are hashed as before."""
    key = raw.table.key.name
    if raw.schema[key] != pl.String:
        return False
    proof = whole_column.IdsInOrder()
    raw.frame.select(key).sink_batches(
        lambda rows: not proof.add(rows.get_column(key)), chunk_size=CHUNK_ROWS
    )
    return proof.proven


def _shape(raw: RawTable) -> TableShape:
    return TableShape(
        name=raw.table.name,
        path=raw.path,
        format=raw.format,
        schema=dict(raw.schema),
        header=raw.header,
        unknown_columns=raw.unknown_columns,
        structural_schema=dict(raw.structural_rejects.schema),
        file_label=raw.file_label,
    )


def _id_hashes(raw: RawTable, column: str) -> Hasher:
    """The hasher of `column` of `raw`'s rows: `id_hashes` of the id as written, or, for
    Parquet numbers and categories, as parsed."""
    if raw.schema[column] != pl.String:
        spec = raw.table.column(column)
        # An id column: the as-of day (for implausible dates) does not matter here.
        parsed = parse(spec, raw.schema[column], raw.file_label, raw.format == "parquet", None)
        as_text = normalise_id(parsed.value).alias(column)

        def from_parsed(rows: pl.DataFrame) -> pl.Series:
            return id_hashes(rows.select(as_text).get_column(column))

        return from_parsed

    def from_text(rows: pl.DataFrame) -> pl.Series:
        return id_hashes(rows.get_column(column))

    return from_text


def bucket_of(customer_id: str, buckets: int) -> int:
    """The bucket of the person with this id, as the first pass places them."""
    return int(_bucket_numbers(id_hashes(pl.Series([customer_id])), buckets).item())


def _bucket_numbers(hashes: pl.Series, buckets: int) -> pl.Series:
    """The bucket of each hash; a row that names no id goes to bucket 0."""
    return (hashes % buckets).fill_null(0).cast(pl.UInt32).alias(BUCKET)


def _sink(
    frame: pl.LazyFrame,
    person: Hasher,
    buckets: int,
    folder: Path,
    ids: Hasher | None = None,
) -> None:
    """Write `frame`'s rows as files by the bucket of the customer they name (`person`
    hashes it), `folder/b{bucket}-{chunk}.arrow`, and, when `ids` (the hasher of the rows' own
    ids) is given, in the same pass each row's line and id hash by a bucket of that hash into
    `_ids_folder(folder)`, where repeated ids are looked for.

    About CHUNK_ROWS rows at a time, split in memory: Polars' partitioned sink
    (`pl.PartitionBy`) holds every partition's rows until the end (10,000,000 payments in 64
    buckets peaked at 830 MB, growing with the file), and a scan per bucket was 8 times slower
    on Parquet (each one hashes every row again). Arrow IPC files with LZ4: written once and
    read once, they take 0.6 of the time Parquet with LZ4 took to write, read as fast, and take
    about as much disk (see the README for the work folder's size).
    """
    folder.mkdir(parents=True, exist_ok=True)
    ids_folder = _ids_folder(folder)
    if ids is not None:
        ids_folder.mkdir(parents=True, exist_ok=True)
    # One streaming pass: a slice of a scan at an offset reads the rows before it again (row
    # numbers are counted from the start), which made the first pass quadratic. A sink that
    # calls back rather than collect_batches, which reads ahead of the writing: at 1,000,000
    # customers the first pass peaked at 0.9 GB with that, 0.7 GB with this.
    chunks = itertools.count()

    def write(rows_now: pl.DataFrame, name: str) -> None:
        if ids is not None:
            hashes = ids(rows_now)
            found = pl.DataFrame(
                [
                    rows_now.get_column(LINE),
                    hashes.alias(KEY_HASH),
                    _bucket_numbers(hashes, buckets).alias(ID_BUCKET),
                ]
            ).filter(pl.col(KEY_HASH).is_not_null())
            _write_parts(found, ID_BUCKET, ids_folder, name)
        _write_parts(
            rows_now.with_columns(_bucket_numbers(person(rows_now), buckets)), BUCKET, folder, name
        )

    # Two slices are hashed, split and written at once, by threads of their own, while the
    # engine reads the next: one slice's work leaves a core idle much of the time.
    pending: collections.deque[Future[None]] = collections.deque()
    with ThreadPoolExecutor(SLICES_AT_ONCE) as workers:

        def hand_over(rows_now: pl.DataFrame) -> None:
            # Named here, in the order read: a bucket's files are read back in name order.
            pending.append(workers.submit(write, rows_now, f"{next(chunks):05d}.arrow"))
            while len(pending) > SLICES_AT_ONCE:
                pending.popleft().result()

        frame.sink_batches(hand_over, chunk_size=CHUNK_ROWS)
        while pending:
            pending.popleft().result()


def _ids_folder(folder: Path) -> Path:
    """Where the first pass writes a table's id hashes, beside its rows' `folder`."""
    return folder.with_name(f"{folder.name}-ids")


def _write_parts(rows: pl.DataFrame, by: str, folder: Path, name: str) -> None:
    """`rows` split by the column `by`, each part to `folder/b{part}-{name}`, two at a time
    (compressing one file is one core's work; 1.2 times faster on two cores)."""
    parts = rows.partition_by(by, as_dict=True, include_key=False)
    with ThreadPoolExecutor(WRITERS) as pool:
        written = [
            pool.submit(piece.write_ipc, folder / f"b{int(number):05d}-{name}", compression="lz4")
            for (number,), piece in parts.items()
        ]
    for each in written:
        each.result()  # an error writing any part is raised here


def _split_structural(raw: RawTable, buckets: int, folder: Path) -> None:
    """Rows that could not be split go with the person validation guesses they name, where it
    counts them in that person's data_issues; the rest to bucket 0."""
    rows = raw.structural_rejects
    if rows.height == 0:
        return
    guessed = guessed_people(raw)
    bucket = _bucket_numbers(id_hashes(guessed.get_column("person")), buckets)
    placed = rows.join(
        guessed.select(pl.col(LINE).alias("line")).with_columns(bucket),
        on="line",
        how="left",
    ).with_columns(pl.col(BUCKET).fill_null(0))
    for (bucket,), part in placed.partition_by(BUCKET, as_dict=True).items():
        part.drop(BUCKET).write_parquet(folder / f"structural-{int(bucket):05d}.parquet")


def _repeated_ids(raw: RawTable, folder: Path) -> pl.DataFrame:
    """Every line whose id an earlier line of the table has, with that first line.

    Equal ids have equal hashes, so they share an id bucket: each id bucket (all its slices)
    is read on its own for lines whose hash another line has (`repeats.candidates`), and the
    candidates are confirmed as one pass confirms them. The files go once read.
    """
    by_bucket: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("b*-*.arrow")):  # listed once: a glob per bucket was slow
        by_bucket.setdefault(path.name.split("-")[0], []).append(path)

    def candidates(files: list[Path]) -> pl.DataFrame:
        found = pl.scan_ipc(files, glob=False).collect()
        for path in files:
            path.unlink()
        return repeated.candidates(found)

    empty = pl.DataFrame(schema={LINE: pl.Int64})
    lines = pl.concat([empty, *(candidates(files) for files in by_bucket.values())])
    return repeated.confirmed(raw, lines)
