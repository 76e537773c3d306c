"""The per-platform click columns (one ungrouped scan) equal a GROUP BY over unnested platforms."""

from __future__ import annotations

import duckdb

from chalicelib.rollup.aggregate import _platform_clicks

_ROWS = [
    # is_bot, consent, visitor_id, platforms (as ``c`` has them: de-duplicated)
    (False, "granted", "v2", ["meta", "tiktok"]),
    (False, "granted", "v1", ["meta"]),
    (False, "granted", "v1", ["meta", None]),
    (False, "denied", "v3", ["tiktok"]),
    (False, None, None, ["meta"]),
    (None, "granted", "v4", ["o'quote"]),
    (True, None, "v5", ["bots-only"]),
    (False, "granted", "v6", []),
    (False, "granted", "v7", None),
    (False, "granted", "v8", [""]),
]


def _grouped(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[object, ...]]:
    rows = con.execute(
        "SELECT platform, count(*), count(*) FILTER (is_bot IS FALSE), "
        "count(*) FILTER (NOT (is_bot IS FALSE)), "
        "count(*) FILTER (is_bot IS FALSE AND consent = 'denied'), "
        "count(DISTINCT visitor_id) FILTER (is_bot IS FALSE), "
        "list(DISTINCT visitor_id ORDER BY visitor_id) "
        "FILTER (is_bot IS FALSE AND visitor_id IS NOT NULL) "
        "FROM (SELECT *, unnest(platforms) AS platform FROM c) WHERE platform IS NOT NULL "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_platform_clicks_match_a_group_by_over_unnested_platforms() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE c (is_bot BOOLEAN, consent VARCHAR, visitor_id VARCHAR, "
        "platforms VARCHAR[])"
    )
    con.executemany("INSERT INTO c VALUES (?, ?, ?, ?)", _ROWS)
    found = _platform_clicks(con)
    assert found == _grouped(con)
    assert sorted(found) == ["", "bots-only", "meta", "o'quote", "tiktok"]
    assert found["meta"] == (4, 4, 0, 0, 2, ["v1", "v2"])
    assert found["bots-only"][5] is None


def test_no_platforms_no_rows() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE c (is_bot BOOLEAN, consent VARCHAR, visitor_id VARCHAR, platforms VARCHAR[])"
    )
    con.execute("INSERT INTO c VALUES (false, 'granted', 'v1', [])")
    assert _platform_clicks(con) == {} == _grouped(con)
