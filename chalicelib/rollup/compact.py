"""An hour's raw JSON lines → one ZSTD Parquet file, de-duplicated, with exactly the columns of
``chalicelib.lake.schema``. DuckDB on local files.

De-duplication: a click can reach the stream twice (a producer retry, the SQS fallback), and
``click_id`` is the key everywhere, so one row per ``click_id`` is kept; a conversion is one row
per ``domain`` + ``event_id`` (its ``conversion_id`` when the merchant sent no event id). Of two
copies the one in the first object (by key) is kept. Rows are written in ``ts`` order: the same
input always gives byte-identical Parquet.

Memory: a window over the whole hour's wide rows does not spill well in DuckDB, and a big hour
then fails under the Lambda's memory limit. So the hour is first sorted into a scratch Parquet
file (DuckDB's sort spills to disk), the losing copies are found among the few duplicated keys
only, over narrow columns, and the rest is streamed in order into the final file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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


def compact(con: Any, kind: str, files: Sequence[Path], out: Path) -> int:
    """Write the de-duplicated rows of ``files`` to ``out``; return how many rows."""
    key, keep, order = _DEDUP[kind]
    columns = [ident(c.name) for c in TABLES[kind]]
    select = ", ".join(columns)
    sorted_file = out.with_name(out.stem + ".sorted.parquet")
    try:
        # 1. Every copy, in the final order (copies of a row next to each other), with its object.
        con.execute(
            f"COPY (SELECT {select}, filename FROM {raw_source(kind, files, filename=True)} "  # noqa: S608
            f"WHERE {keep} ORDER BY {order}, filename, {_TIEBREAK[kind]}) "
            f"TO {literal(str(sorted_file))} (FORMAT parquet, COMPRESSION uncompressed)"
        )
        scratch = f"read_parquet({literal(str(sorted_file))}, file_row_number = true)"
        # 2. The copies that lose: only keys seen more than once, narrow columns.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE rollup_losers AS "  # noqa: S608
            f"WITH dup AS (SELECT ({key}) AS k FROM {scratch} GROUP BY ALL HAVING count(*) > 1) "
            f"SELECT file_row_number FROM {scratch} WHERE ({key}) IN (SELECT k FROM dup) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY filename, {_TIEBREAK[kind]}) > 1"
        )
        # 3. The rest, streamed in the order of step 1 (insertion order is preserved).
        (rows,) = con.execute(
            f"COPY (SELECT {select} FROM {scratch} "  # noqa: S608
            "WHERE file_row_number NOT IN (SELECT file_row_number FROM rollup_losers)) "
            f"TO {literal(str(out))} (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()
    finally:
        con.execute("DROP TABLE IF EXISTS rollup_losers")
        sorted_file.unlink(missing_ok=True)
    return int(rows)
