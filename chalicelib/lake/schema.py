"""The shape of what the lake holds: defined once, here.

Plain Python only: the archiver Lambda imports this. `athena/ddl/*.sql` spells the same columns in
Hive types, `rebound query` builds its DuckDB views from these tuples, and `docs/clicks.md` explains
each field; tests keep the three in step (`tests/lake/test_athena_sql.py`).

Compatibility rule for click record v1: adding a field is backward compatible (old readers ignore
it, old rows read it as NULL) and keeps ``schema`` at 1; renaming, removing or retyping a field is
not, and needs ``schema`` 2 (``clicks/envelope.py``: ``CLICK_SCHEMA_VERSION``) with new tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from chalicelib.clicks.envelope import KIND_CLICK, KIND_CONVERSION


class Column(NamedTuple):
    name: str
    hive: str  # type in the Athena DDL
    duckdb: str  # type in `rebound query`'s DuckDB views


def _col(name: str, hive: str) -> Column:
    return Column(name, hive, _DUCKDB_TYPES[hive])


_DUCKDB_TYPES = {
    "int": "INTEGER",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "double": "DOUBLE",
    "array<string>": "VARCHAR[]",
    "map<string,string>": "MAP(VARCHAR, VARCHAR)",
}

# Click record v1, in the order of docs/clicks.md and the DDL.
CLICK_COLUMNS: tuple[Column, ...] = tuple(
    _col(name, hive)
    for name, hive in (
        ("schema", "int"),
        ("click_id", "string"),
        ("ts", "string"),
        ("domain", "string"),
        ("slug", "string"),
        ("campaign", "string"),
        ("tags", "array<string>"),
        ("rule", "string"),
        ("status", "int"),
        ("destination", "string"),
        ("visitor_id", "string"),
        ("is_bot", "boolean"),
        ("bot_name", "string"),
        ("country", "string"),
        ("device", "string"),
        ("os", "string"),
        ("browser", "string"),
        ("language", "string"),
        ("referrer_host", "string"),
        ("utm_source", "string"),
        ("utm_medium", "string"),
        ("utm_campaign", "string"),
        ("utm_term", "string"),
        ("utm_content", "string"),
        ("click_ids", "map<string,string>"),
        ("consent", "string"),
        ("ip_prefix", "string"),
        ("ua_hash", "string"),
        ("platforms", "array<string>"),
    )
)

# Conversion record: deliberately loose for now; the columns analysts can rely on.
CONVERSION_COLUMNS: tuple[Column, ...] = tuple(
    _col(name, hive)
    for name, hive in (
        ("schema", "int"),
        ("conversion_id", "string"),
        ("click_id", "string"),
        ("ts", "string"),
        ("domain", "string"),
        ("event", "string"),
        ("event_id", "string"),
        ("value", "double"),
        ("currency", "string"),
        ("attributed", "boolean"),
        ("campaign", "string"),
        ("slug", "string"),
        ("event_time", "string"),
        ("click_ts", "string"),
        ("platforms", "array<string>"),
    )
)

# Hive-style partitions, both strings: dt = YYYY-MM-DD, hour = 00..23 (UTC, event time).
PARTITION_COLUMNS: tuple[Column, ...] = (_col("dt", "string"), _col("hour", "string"))

# A click without these cannot be partitioned, deduplicated or told human from bot: it goes to
# errors/ instead of the table.
REQUIRED_CLICK_FIELDS = frozenset({"schema", "click_id", "ts", "domain", "slug", "is_bot"})
REQUIRED_CONVERSION_FIELDS = frozenset({"ts"})

# Keys that never reach the lake, wherever a producer puts them: the full IP address and the full
# user agent travel only in the stream envelope (the click index keeps the user agent, never the IP).
NEVER_IN_LAKE = frozenset({"ip", "user_agent", "client_ip_address", "client_user_agent"})

# The lake prefix (and table) each kind of stream envelope lands in.
PREFIXES = {KIND_CLICK: "clicks", KIND_CONVERSION: "conversions"}
ERRORS_PREFIX = "errors"


def hour_prefix(table_prefix: str, dt: str, hour: str) -> str:
    """Where one hour of a table lives, as Athena's partition projection reads it:
    ``clicks/dt=2026-11-23/hour=12/`` (``table_prefix`` without its slash)."""
    return f"{table_prefix}/dt={dt}/hour={hour}/"


# Tables: the raw JSON ones and the compacted Parquet ones the rollup writes.
TABLES: dict[str, tuple[str, tuple[Column, ...]]] = {
    "clicks_raw": ("clicks", CLICK_COLUMNS),
    "conversions_raw": ("conversions", CONVERSION_COLUMNS),
    "clicks": ("clicks_parquet", CLICK_COLUMNS),
    "conversions": ("conversions_parquet", CONVERSION_COLUMNS),
}


def sql_ident(name: str) -> str:
    """A quoted SQL identifier (DuckDB, Athena)."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """A quoted SQL string literal (DuckDB, Athena)."""
    return "'" + text.replace("'", "''") + "'"


def sql_empty(columns: Sequence[Column]) -> str:
    """A query with ``columns``, typed, and no rows: a table that has no data yet."""
    typed_nulls = ", ".join(f"CAST(NULL AS {c.duckdb}) AS {sql_ident(c.name)}" for c in columns)
    return f"SELECT {typed_nulls} WHERE false"
