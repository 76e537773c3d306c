"""Compaction on local files: the hour sorted one ts range at a time is the hour sorted at once."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random

import duckdb

from chalicelib.rollup.compact import CLICKS, compact, connect
from tests.lake.factories import click

H12 = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


def write_objects(folder, objects: list[list[dict]]) -> list:
    folder.mkdir(parents=True)
    paths = []
    for i, records in enumerate(objects):
        path = folder / f"shardId-{i:012d}-1.json.gz"
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
        paths.append(path)
    return paths


def an_hour() -> tuple[list[list[dict]], dict]:
    """Three objects; many clicks share a ts (ranges must not split them); one click reached two
    objects with different content; one has no ts."""
    rng = random.Random(3)
    clicks = [
        click(H12 + dt.timedelta(seconds=i // 4), rng=rng, visitor_id=f"v{i % 7}")
        for i in range(60)
    ]
    twice = dict(clicks[10], country="FR")
    no_ts = dict(click(H12, rng=rng), ts=None)
    objects = [[*clicks[0::3], no_ts], clicks[1::3], [*clicks[2::3], twice]]  # 10: in 1 and 2
    return objects, {"twice": twice, "no_ts": no_ts, "clicks": clicks}


# DuckDB 2.0's Parquet writer encodes pages by the chunks it is handed, so the hour streamed from
# eight parts and from one part differ in bytes (not in rows or row groups); DuckDB 1.2's did
# not. What the rollup relies on (an unchanged hour is not uploaded again) is that the same input
# gives the same bytes: whatever DuckDB's threads and the order the objects are listed in.
def test_the_hour_sorted_in_ts_ranges_is_the_hour_sorted_at_once_and_the_same_bytes_each_time(
    tmp_path,
):
    objects, made = an_hour()
    files = write_objects(tmp_path / "raw", objects)
    con = connect(tmp_path / "work")
    settings = "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
    before = con.execute(settings).fetchall()

    whole = compact(con, CLICKS, files, tmp_path / "whole.parquet")
    ranged = compact(con, CLICKS, files, tmp_path / "ranged.parquet", chunk_rows=7)

    assert whole == ranged == 61  # 60 clicks and the one without ts; the second copy is gone
    read = duckdb.connect()
    layout = "SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata(?)"
    for name in ("whole", "ranged"):
        assert read.execute(layout, [str(tmp_path / f"{name}.parquet")]).fetchall() == [(0, 61)]
    whole_rows, rows = (
        read.execute(
            f"SELECT ts, click_id, country FROM read_parquet('{tmp_path / name}.parquet')"  # noqa: S608
        ).fetchall()
        for name in ("whole", "ranged")
    )
    assert rows == whole_rows
    for threads, listed in ((1, files), (4, files[::-1])):
        again = connect(tmp_path / f"work-{threads}")
        again.execute(f"SET threads = {threads}")
        compact(again, CLICKS, listed, tmp_path / "again.parquet", chunk_rows=7)
        again.close()
        assert (tmp_path / "again.parquet").read_bytes() == (
            tmp_path / "ranged.parquet"
        ).read_bytes()
    timed = sorted((c["ts"], c["click_id"]) for c in made["clicks"])
    assert [(ts, cid) for ts, cid, _ in rows] == [*timed, (None, made["no_ts"]["click_id"])]
    kept = {cid: country for _, cid, country in rows}
    assert kept[made["twice"]["click_id"]] == "DE"  # the copy in the first object
    assert con.execute(settings).fetchall() == before  # DuckDB's settings are back as they were
    assert not [p.name for p in tmp_path.iterdir() if ".part-" in p.name or ".copies" in p.name]
