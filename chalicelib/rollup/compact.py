"""An hour's raw JSON lines → one ZSTD Parquet file, de-duplicated, with exactly the columns of
``chalicelib.lake.schema``. DuckDB on local files.

De-duplication: a click can reach the stream twice (a producer retry, the SQS fallback), and
``click_id`` is the key everywhere, so one row per ``click_id`` is kept; a conversion is one row
per ``domain`` + ``event_id`` (its ``conversion_id`` when the merchant sent no event id). Of two
copies the one in the first object (by key) is kept. Rows are written in ``ts`` order: the same
input always gives byte-identical Parquet.

Memory: a window over the whole hour's wide rows does not spill well in DuckDB, and a big hour
then fails under the Lambda's memory limit. Nor does one sort of the whole hour fit: DuckDB's sort
holds about 2 KB per wide click row (1.7 GB of its buffers for 1M clicks, and 0.6 GB more outside
them that its memory_limit does not count). So the hour is first copied as read into a scratch
Parquet file (streamed, not sorted), the losing copies are found among the few duplicated keys
only, over narrow columns, and the rest is sorted one ``ts`` range at a time (about
``CHUNK_ROWS`` rows each, split at quantiles of ``ts``) into parts that are then streamed in
order into the final file: a few hundred MB for any hour, whatever DuckDB's memory limit.

Determinism: the ranges depend only on the rows, each part is one row group (its layout does not
depend on how DuckDB's threads split the sort) and the final file is written by one thread from
the parts alone (no join, which may emit row groups out of order), so its row groups depend only
on the rows too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chalicelib.lake.schema import CLICK_COLUMNS, CONVERSION_COLUMNS, Column
from chalicelib.lake.schema import sql_ident as ident
from chalicelib.lake.schema import sql_literal as literal

CLICKS = "clicks"
CONVERSIONS = "conversions"

TABLES: dict[str, tuple[Column, ...]] = {CLICKS: CLICK_COLUMNS, CONVERSIONS: CONVERSION_COLUMNS}
RAW_PREFIX = {CLICKS: "clicks", CONVERSIONS: "conversions"}
PARQUET_PREFIX = {CLICKS: "clicks_parquet", CONVERSIONS: "conversions_parquet"}
PARQUET_NAME = "part-0.parquet"

_DEDUP = {
    CLICKS: ("click_id", "click_id IS NOT NULL", "ts, click_id"),
    CONVERSIONS: (
        "lower(domain), coalesce(event_id, conversion_id, ts)",
        "true",
        "ts, conversion_id, event_id",
    ),
}
# Ties between copies in the same object (the same record twice): any is the same record.
_TIEBREAK = {CLICKS: "ts, visitor_id, status, destination", CONVERSIONS: "ts, conversion_id"}
# The first column of both orders above: the hour is sorted one range of it at a time.
_RANGE = "ts"
# Rows sorted at a time: about 0.5 GB of DuckDB's memory for clicks (ranges hold whole ts values,
# so a range can be bigger when many rows share one ts).
CHUNK_ROWS = 250_000


def connect(workdir: Path, *, memory_limit: str | None = None, threads: int | None = None) -> Any:
    """A DuckDB connection that spills to ``workdir`` (Lambda: /tmp) and keeps row order."""
    import duckdb

    con = duckdb.connect(config={"preserve_insertion_order": True})
    spill = Path(workdir) / "duckdb-spill"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = {literal(str(spill))}")
    if memory_limit:
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
    con.execute(f"SET threads = {int(threads or os.cpu_count() or 1)}")
    return con


def raw_source(kind: str, files: Sequence[Path], *, filename: bool = False) -> str:
    """SQL for the raw JSON lines of one table, typed as in schema.py.

    A value of the wrong type becomes NULL rather than failing the hour (the archiver has
    already checked the fields the rollup cannot do without).
    """
    columns = TABLES[kind]
    types = ", ".join(f"{literal(c.name)}: {literal(c.duckdb)}" for c in columns)
    return (
        f"read_json([{', '.join(literal(str(f)) for f in files)}], "
        f"format = 'newline_delimited', compression = 'gzip', columns = {{{types}}}, "
        f"ignore_errors = true{', filename = true' if filename else ''})"
    )


def compact(
    con: Any, kind: str, files: Sequence[Path], out: Path, *, chunk_rows: int = CHUNK_ROWS
) -> int:
    """Write the de-duplicated rows of ``files`` to ``out``; return how many rows."""
    key, keep, order = _DEDUP[kind]
    columns = [ident(c.name) for c in TABLES[kind]]
    select = ", ".join(columns)
    copies = out.with_name(out.stem + ".copies.parquet")
    parts: list[Path] = []
    try:
        # 1. Every copy, as read (in no particular order), with its object.
        with _setting(con, "preserve_insertion_order", "false"):
            (n,) = con.execute(
                f"COPY (SELECT {select}, filename FROM {raw_source(kind, files, filename=True)} "  # noqa: S608
                f"WHERE {keep}) TO {literal(str(copies))} (FORMAT parquet, COMPRESSION uncompressed)"
            ).fetchone()
        scratch = f"read_parquet({literal(str(copies))}, file_row_number = true)"
        # 2. The copies that lose: only keys seen more than once, narrow columns.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE rollup_losers AS "  # noqa: S608
            f"WITH dup AS (SELECT ({key}) AS k FROM {scratch} GROUP BY ALL HAVING count(*) > 1) "
            f"SELECT file_row_number FROM {scratch} WHERE ({key}) IN (SELECT k FROM dup) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY filename, {_TIEBREAK[kind]}) > 1"
        )
        # 3. The rest, one range of ts at a time, each sorted into a part of one row group
        #    (ROW_GROUP_SIZE is a minimum: more rows than any part has).
        for i, where in enumerate(_ranges(con, scratch, int(n), chunk_rows)):
            part = out.with_name(f"{out.stem}.part-{i}.parquet")
            parts.append(part)
            con.execute(
                f"COPY (SELECT {select} FROM {scratch} WHERE ({where}) AND file_row_number "  # noqa: S608
                "NOT IN (SELECT file_row_number FROM rollup_losers) "
                f"ORDER BY {order}, filename, {_TIEBREAK[kind]}) TO {literal(str(part))} "
                f"(FORMAT parquet, COMPRESSION uncompressed, ROW_GROUP_SIZE {int(n) + 1})"
            )
        copies.unlink()
        # 4. The parts in order (insertion order is preserved), by one thread: two would each
        #    buffer a whole part as they write (a few hundred MB more) for little time.
        sources = ", ".join(literal(str(p)) for p in parts)
        with _setting(con, "threads", "1"):
            (rows,) = con.execute(
                f"COPY (SELECT {select} FROM read_parquet([{sources}])) "  # noqa: S608
                f"TO {literal(str(out))} (FORMAT parquet, COMPRESSION zstd)"
            ).fetchone()
    finally:
        con.execute("DROP TABLE IF EXISTS rollup_losers")
        copies.unlink(missing_ok=True)
        for part in parts:
            part.unlink(missing_ok=True)
    return int(rows)


def _ranges(con: Any, scratch: str, rows: int, chunk_rows: int) -> list[str]:
    """SQL conditions on ``_RANGE`` that split the rows into consecutive ranges of about
    ``chunk_rows`` rows, in sort order (NULL last, as DuckDB sorts by default)."""
    bounds: list[str] = []
    if rows > chunk_rows:
        chunks = -(-rows // chunk_rows)
        fractions = ", ".join(f"{i}/{chunks}" for i in range(1, chunks))
        (found,) = con.execute(
            f"SELECT quantile_disc({_RANGE}, [{fractions}]) FROM {scratch}"  # noqa: S608
        ).fetchone()
        # Ascending in DuckDB's order already; a value can repeat (many rows with one ts).
        bounds = list(dict.fromkeys(b for b in found or () if b is not None))
    if not bounds:
        return ["true"]
    low = [f"{_RANGE} >= {literal(b)}" for b in bounds]
    high = [f"{_RANGE} < {literal(b)}" for b in bounds]
    return [
        high[0],
        *(f"{lo} AND {hi}" for lo, hi in zip(low[:-1], high[1:], strict=True)),
        f"{low[-1]} OR {_RANGE} IS NULL",
    ]


@contextmanager
def _setting(con: Any, name: str, value: str) -> Iterator[None]:
    """DuckDB's ``name`` set to ``value`` for the statements inside, then back as it was."""
    (before,) = con.execute(f"SELECT current_setting({literal(name)})").fetchone()
    con.execute(f"SET {name} = {value}")
    try:
        yield
    finally:
        con.execute(f"SET {name} = {literal(str(before))}")
