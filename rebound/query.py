"""`rebound query`: DuckDB over the lake, the local twin of Athena.

The lake's data prefixes are mirrored into a local cache (incrementally: only new or changed
objects are fetched, vanished ones are removed), then DuckDB gets views named like the Athena
tables (``clicks_raw``, ``conversions_raw``, ``clicks``, ``conversions``, also reachable as
``rebound.<table>``). A table with no data yet is an empty view with the same typed columns, so
every saved query runs and returns zero rows. SQL is written for Athena and transpiled to DuckDB
with sqlglot (``dialect="duckdb"`` runs it as is); the saved queries in ``athena/queries/`` run
unchanged on both.

Everything a user can get wrong surfaces as a ``QueryError`` with a plain message.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.lake.schema import (
    PARTITION_COLUMNS,
    TABLES,
    Column,
    sql_ident,
    sql_literal,
)

ATHENA_DIR = Path(__file__).resolve().parent.parent / "athena"
QUERIES_DIR = ATHENA_DIR / "queries"
DDL_DIR = ATHENA_DIR / "ddl"
FORMATS = ("table", "csv", "json")
DIALECTS = ("athena", "duckdb")
MANIFEST = ".rebound-sync.json"
# prefix → the data files that belong to it (other objects, e.g. errors/, are never fetched)
_SYNCED = {
    f"{prefix}/": ".parquet" if prefix.endswith("_parquet") else ".json.gz"
    for prefix, _ in TABLES.values()
}
_DOWNLOAD_WORKERS = 8


class QueryError(Exception):
    """A problem to show the user as it is: no traceback, exit 1."""


# ---------------------------------------------------------------------------------------------
# Saved queries


@dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str  # the first comment line of the file
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def list_saved(queries_dir: Path | None = None) -> list[SavedQuery]:
    """The saved queries (``athena/queries/*.sql``), by name."""
    folder = queries_dir or QUERIES_DIR
    found = []
    for path in sorted(folder.glob("*.sql")):
        first = path.read_text(encoding="utf-8").lstrip().splitlines()[:1]
        description = first[0].lstrip("-").strip() if first and first[0].startswith("--") else ""
        found.append(SavedQuery(path.stem, description, path))
    return found


def saved_query(name: str, queries_dir: Path | None = None) -> SavedQuery:
    saved = {q.name: q for q in list_saved(queries_dir)}
    if name.removesuffix(".sql") in saved:
        return saved[name.removesuffix(".sql")]
    available = ", ".join(saved) or "(none)"
    raise QueryError(f"no saved query named {name!r}; available: {available}")


def ddl_statements(bucket: str, ddl_dir: Path | None = None) -> list[str]:
    """The Athena DDL (``athena/ddl/*.sql``, in order) with ``${LAKE_BUCKET}`` filled in.

    Only that placeholder is replaced: ``${dt}`` and ``${hour}`` belong to partition projection.
    Each string is one statement, as Athena's StartQueryExecution wants them.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise QueryError(f"not an S3 bucket name: {bucket!r}")
    folder = ddl_dir or DDL_DIR
    return [
        path.read_text(encoding="utf-8").replace("${LAKE_BUCKET}", bucket).strip()
        for path in sorted(folder.glob("*.sql"))
    ]


# ---------------------------------------------------------------------------------------------
# Sync: bucket → local cache


@dataclass
class SyncStats:
    listed: int = 0
    downloaded: int = 0
    deleted: int = 0
    bytes: int = 0


@contextmanager
def progress_bar(label: str = "syncing the lake") -> Iterator[Callable[[int, int], None]]:
    """A ``progress`` callback for ``sync_lake``/``run_query`` that draws a bar on stderr."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def default_cache_dir() -> Path:
    """``$REBOUND_CACHE_DIR``, else ``$XDG_CACHE_HOME/rebound/lake``, else ``~/.cache/...``."""
    if os.environ.get("REBOUND_CACHE_DIR"):
        return Path(os.environ["REBOUND_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rebound" / "lake"


def lake_dir(cache_dir: Path | str, bucket: str) -> Path:
    """Where one bucket's mirror lives inside the cache."""
    return Path(cache_dir) / bucket


def sync_lake(
    s3: Any,
    bucket: str,
    cache_dir: Path | str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SyncStats:
    """Mirror the lake's data objects into ``cache_dir/<bucket>/``; fetch only what changed.

    ``progress(done, total)`` is called as downloads finish.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    root = lake_dir(cache_dir, bucket)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}

    stats = SyncStats()
    listed: dict[str, tuple[str, int]] = {}
    try:
        for prefix, suffix in _SYNCED.items():
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", ()):
                    key = obj["Key"]
                    if key.endswith(suffix) and _safe_key(key):
                        listed[key] = (obj.get("ETag", "").strip('"'), obj.get("Size", 0))
    except (BotoCoreError, ClientError) as exc:
        raise QueryError(f"cannot list the lake bucket {bucket}: {_aws_message(exc)}") from None
    stats.listed = len(listed)

    wanted = [
        key
        for key, (etag, _) in listed.items()
        if manifest.get(key) != etag or not (root / key).is_file()
    ]

    def fetch(key: str) -> str:
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(body, out, 1 << 20)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    try:
        with ThreadPoolExecutor(max_workers=_DOWNLOAD_WORKERS) as pool:
            for done, key in enumerate(pool.map(fetch, wanted), 1):
                manifest[key] = listed[key][0]
                stats.downloaded += 1
                stats.bytes += listed[key][1]
                if progress:
                    progress(done, len(wanted))
    except (BotoCoreError, ClientError) as exc:
        raise QueryError(f"cannot read the lake bucket {bucket}: {_aws_message(exc)}") from None
    finally:
        _write_manifest(manifest_path, manifest)

    # Whatever is in the mirror but no longer in the bucket goes (the manifest may be stale).
    for prefix, suffix in _SYNCED.items():
        for path in (root / prefix).rglob(f"*{suffix}"):
            key = path.relative_to(root).as_posix()
            if key not in listed:
                path.unlink()
                manifest.pop(key, None)
                stats.deleted += 1
    for key in [k for k in manifest if k not in listed]:
        del manifest[key]
    _write_manifest(manifest_path, manifest)
    return stats


def _safe_key(key: str) -> bool:
    """Refuse keys that would land outside the cache (``..``, absolute paths)."""
    parts = key.split("/")
    return not key.startswith("/") and ".." not in parts and "" not in parts


def _write_manifest(path: Path, manifest: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, sort_keys=True))
    os.replace(tmp, path)


def _aws_message(exc: Exception) -> str:
    error = getattr(exc, "response", {}).get("Error", {})
    if error:
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


# ---------------------------------------------------------------------------------------------
# DuckDB


def connect(root: Path | str) -> Any:
    """A DuckDB connection with the lake tables as views over the mirror at ``root``."""
    import duckdb

    root = Path(root)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA rebound")
    for table, (prefix, columns) in TABLES.items():
        con.execute(f"CREATE VIEW {table} AS {_view_sql(root, prefix, columns)}")
        con.execute(f"CREATE VIEW rebound.{table} AS SELECT * FROM main.{table}")  # noqa: S608
    return con


def _view_sql(root: Path, prefix: str, columns: Sequence[Column]) -> str:
    everything = [*columns, *PARTITION_COLUMNS]
    parquet = prefix.endswith("_parquet")
    pattern = "dt=*/hour=*/*" + (".parquet" if parquet else ".json.gz")
    if not any((root / prefix).glob(pattern)):
        typed_nulls = ", ".join(
            f"CAST(NULL AS {c.duckdb}) AS {sql_ident(c.name)}" for c in everything
        )
        return f"SELECT {typed_nulls} WHERE false"
    files = sql_literal(str(root / prefix / pattern))
    hive = "hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'hour': 'VARCHAR'}"
    if parquet:
        source = f"read_parquet({files}, union_by_name = true, {hive})"
        select = ", ".join(
            f"CAST({sql_ident(c.name)} AS {c.duckdb}) AS {sql_ident(c.name)}" for c in everything
        )
    else:
        types = ", ".join(f"{sql_literal(c.name)}: {sql_literal(c.duckdb)}" for c in columns)
        source = (
            f"read_json({files}, format = 'newline_delimited', compression = 'gzip', "
            f"columns = {{{types}}}, {hive})"
        )
        select = ", ".join(sql_ident(c.name) for c in everything)
    # Names come from schema.py and paths are quoted: nothing here is user input.
    return f"SELECT {select} FROM {source}"  # noqa: S608


def to_duckdb(sql: str, dialect: str = "athena") -> str:
    """Athena (Trino) SQL → DuckDB SQL with sqlglot; SQL sqlglot cannot parse is passed as is,
    so that DuckDB's own error message (with the position) is what the user sees.

    ``approx_distinct(x)`` becomes ``count(DISTINCT x)``: locally the exact count is cheap, and it
    is what Athena's estimate (2.3% standard error) approximates, whereas DuckDB's own sketch is
    far off on the small sets of a local lake."""
    if dialect == "duckdb":
        return sql
    if dialect != "athena":
        raise QueryError(f"unknown dialect {dialect!r}; use one of: {', '.join(DIALECTS)}")
    import sqlglot
    from sqlglot.errors import SqlglotError

    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    from sqlglot import exp

    def exact_distinct(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.ApproxDistinct):
            return exp.Count(this=exp.Distinct(expressions=[node.this]))
        return node

    try:
        parsed = sqlglot.parse(sql, read="athena")
        statements = [e.transform(exact_distinct).sql(dialect="duckdb") for e in parsed if e]
    except SqlglotError:
        return sql
    return ";\n".join(s for s in statements if s.strip()) or sql


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]


def execute(con: Any, sql: str, *, dialect: str = "athena") -> QueryResult:
    """Run SQL (one or more statements; the last one's rows are returned)."""
    import duckdb

    if not sql.strip():
        raise QueryError("the query is empty")
    try:
        cursor = con.execute(to_duckdb(sql, dialect))
        if cursor.description is None:
            return QueryResult([], [], [])
        columns = [d[0] for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        return QueryResult(columns, types, cursor.fetchall())
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Rendering


def render(result: QueryResult, fmt: str = "table", *, width: int | None = None) -> str:
    """The result as a readable table (rich, no colour codes), CSV or a JSON array."""
    if fmt == "json":
        rows = [dict(zip(result.columns, map(_plain, row), strict=True)) for row in result.rows]
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(["" if v is None else _cell(v) for v in row])
        return out.getvalue()
    if fmt != "table":
        raise QueryError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    from rich.console import Console

    out = io.StringIO()
    console = Console(
        file=out,
        width=width or shutil.get_terminal_size((120, 24)).columns,
        color_system=None,
        force_terminal=False,
        highlight=False,
    )
    console.print(table_of(result))
    return out.getvalue()


def table_of(result: QueryResult) -> Any:
    """The result as a ``rich.table.Table`` (for a caller that prints with its own console)."""
    from rich.table import Table
    from rich.text import Text

    count = len(result.rows)
    table = Table(caption=f"{count} row{'' if count == 1 else 's'}", caption_justify="left")
    for i, name in enumerate(result.columns):
        numeric = bool(result.rows) and all(_is_number(row[i]) for row in result.rows)
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in result.rows:
        # Text(), not str: a value like "[bold]" is data, never markup.
        table.add_row(*(Text("NULL", style="dim") if v is None else Text(_cell(v)) for v in row))
    return table


def _is_number(value: Any) -> bool:
    return value is None or (
        isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)
    )


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict | tuple):
        return json.dumps(_plain(value), ensure_ascii=False)
    return str(_plain(value))


def _plain(value: Any) -> Any:
    """A DuckDB value as plain JSON data."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# ---------------------------------------------------------------------------------------------
# The command


def run_query(
    sql: str | None = None,
    saved: str | None = None,
    *,
    s3_client: Any,
    bucket: str,
    cache_dir: Path | str | None = None,
    fmt: str = "table",
    dialect: str = "athena",
    sync: bool = True,
    width: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """What ``rebound query SQL`` / ``rebound query --saved NAME`` prints.

    Syncs the bucket's lake prefixes into ``cache_dir`` (default: ``default_cache_dir()``), runs
    the SQL on DuckDB and renders it as ``fmt`` ("table", "csv" or "json").
    Raises ``QueryError`` for anything the user should read (unknown saved query, SQL error,
    unreachable bucket).
    """
    if (sql is None) == (saved is None):
        raise QueryError("give either SQL or the name of a saved query (--saved NAME)")
    if fmt not in FORMATS:
        raise QueryError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    text = saved_query(saved).sql if saved is not None else sql
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if sync:
        sync_lake(s3_client, bucket, cache_dir, progress=progress)
    con = connect(lake_dir(cache_dir, bucket))
    try:
        try:
            result = execute(con, text or "", dialect=dialect)
        except QueryError as exc:
            if saved is not None:
                raise QueryError(f"saved query {saved!r}: {exc}") from None
            raise
    finally:
        con.close()
    return render(result, fmt, width=width)
