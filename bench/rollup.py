"""Benchmark: roll up one hour of 1,000,000 clicks (quick: 50,000) from a local lake directory.

The hour is generated the way the archiver lays it out (gzip JSON lines under
``clicks/dt=…/hour=…/``, eight shard objects, 0.1% of clicks twice), with conversions (1% of
clicks) and the dispatcher's outcome rows (two platforms per consented human click). The rollup
(compaction to Parquet + aggregation + sketches) runs on it in a fresh process, with an in-memory
stats store, and so does a plain DuckDB ``count(*) GROUP BY`` over the same click files: time and
peak memory (max RSS) of each, and their ratio.

    run(quick=True) -> {"clicks": 50000, "rollup_seconds": ..., "ratio_to_group_by": ..., ...}
"""

from __future__ import annotations

import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOUR = "2026-11-23T12"
SHARDS = 8
LINKS = 200
CAMPAIGNS = 10
NOW = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)


def run(quick: bool = False) -> dict[str, Any]:
    clicks = 50_000 if quick else 1_000_000
    root = Path(tempfile.mkdtemp(prefix="rebound-bench-rollup-"))
    try:
        started = time.perf_counter()
        generated = generate(root, clicks)
        generate_seconds = time.perf_counter() - started
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            baseline = pool.apply(_baseline, (str(root),))
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            rollup = pool.apply(_rollup, (str(root),))
        parquet = sum(p.stat().st_size for p in (root / "clicks_parquet").rglob("*.parquet"))
        raw = sum(p.stat().st_size for p in (root / "clicks").rglob("*.json.gz"))
        return {
            "clicks": clicks,
            "click_rows_in_lake": generated["clicks"],
            "conversions": generated["conversions"],
            "platform_events": generated["platform_events"],
            "generate_seconds": round(generate_seconds, 2),
            "rollup_seconds": round(rollup["seconds"], 2),
            "rollup_peak_rss_mb": rollup["peak_rss_mb"],
            "group_by_seconds": round(baseline["seconds"], 2),
            "group_by_peak_rss_mb": baseline["peak_rss_mb"],
            "ratio_to_group_by": round(rollup["seconds"] / baseline["seconds"], 1),
            "stats_rows": rollup["rows"],
            "clicks_compacted": rollup["clicks"],
            "raw_clicks_mb": round(raw / 2**20, 1),
            "parquet_clicks_mb": round(parquet / 2**20, 1),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def generate(root: Path, clicks: int) -> dict[str, int]:
    """Write one hour of clicks, conversions and platform outcomes under ``root``."""
    import duckdb

    dt, hh = HOUR[:10], HOUR[11:]
    con = duckdb.connect()
    per_shard = -(-clicks // SHARDS)
    for shard in range(SHARDS):
        folder = root / "clicks" / f"dt={dt}" / f"hour={hh}"
        folder.mkdir(parents=True, exist_ok=True)
        lo, hi = shard * per_shard, min(clicks, (shard + 1) * per_shard)
        # 0.1% of the shard's clicks reach the stream (and the lake) a second time.
        dupes = f"UNION ALL SELECT * FROM gen WHERE i % 1000 = 7 AND i < {lo + (hi - lo) // 2}"
        out = folder / f"shardId-{shard:012d}-{49590000000000 + lo}.json.gz"
        con.execute(
            f"COPY (WITH gen AS ({_clicks_sql(lo, hi, clicks)}) "
            f"SELECT * EXCLUDE (i) FROM (SELECT * FROM gen {dupes})) "
            f"TO '{out}' (FORMAT json, COMPRESSION gzip)"
        )
    folder = root / "conversions" / f"dt={dt}" / f"hour={hh}"
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT 1 AS schema, 'cv-' || i AS conversion_id, {_click_id('i')} AS click_id, "
        f"'{dt}T{hh}:59:00.000Z' AS ts, 'go.example.com' AS domain, "
        "CASE WHEN i % 3 = 0 THEN 'purchase' ELSE 'lead' END AS event, 'ev-' || i AS event_id, "
        "CASE WHEN i % 3 = 0 THEN round(10 + (i % 9000) / 100.0, 2) END AS value, "
        "CASE WHEN i % 3 = 0 THEN (['EUR', 'USD'])[1 + i % 2] END AS currency, true AS attributed, "
        f"'c' || (i % {LINKS}) % {CAMPAIGNS} AS campaign, 'link-' || i % {LINKS} AS slug, "
        f"'{dt}T{hh}:58:00.000Z' AS event_time, '{dt}T{hh}:00:00.000Z' AS click_ts, "
        f"['meta'] AS platforms FROM range(0, {clicks}, 100) t(i)) "
        f"TO '{folder}/shardId-000000000000-1.json.gz' (FORMAT json, COMPRESSION gzip)"
    )
    folder = root / "platform-events" / f"dt={dt}" / f"hour={hh}"
    folder.mkdir(parents=True, exist_ok=True)
    for platform in ("meta", "tiktok"):
        con.execute(
            f"COPY (SELECT '{dt}T{hh}:30:00.000Z' AS ts, '{platform}' AS platform, "
            f"{_click_id('i')} AS event_id, 'page_view' AS kind, "
            "CASE WHEN i % 50 = 0 THEN 'dead' ELSE 'sent' END AS status, '' AS reason, "
            f"'https://go.example.com/link-' || i % {LINKS} AS source_url, "
            f"'{dt}T{hh}:30:00.000Z' AS event_time "
            f"FROM range({clicks}) t(i) WHERE NOT ({_is_bot('i')}) AND NOT ({_denied('i')})) "
            f"TO '{folder}/{platform}-1.json.gz' (FORMAT json, COMPRESSION gzip)"
        )
    counted = {
        "clicks": con.execute(
            f"SELECT count(*) FROM read_json('{root}/clicks/*/*/*.json.gz')"
        ).fetchone()[0],
        "conversions": con.execute(
            f"SELECT count(*) FROM read_json('{root}/conversions/*/*/*.json.gz')"
        ).fetchone()[0],
        "platform_events": con.execute(
            f"SELECT count(*) FROM read_json('{root}/platform-events/*/*/*.json.gz')"
        ).fetchone()[0],
    }
    con.close()
    return counted


def _click_id(i: str) -> str:
    return f"'01JBENCH' || lpad(CAST({i} AS VARCHAR), 18, '0')"


def _is_bot(i: str) -> str:
    return f"hash({i} * 3) % 100 < 8"


def _denied(i: str) -> str:
    return f"hash({i} * 5) % 100 < 5"


def _clicks_sql(lo: int, hi: int, total: int) -> str:
    dt, hh = HOUR[:10], HOUR[11:]
    link = f"(hash(i) % {LINKS})"
    return (
        "SELECT i, 1 AS schema, "
        f"{_click_id('i')} AS click_id, "
        f"strftime(TIMESTAMP '{dt} {hh}:00:00' + to_milliseconds(CAST(i * 3600000 // {total} AS BIGINT)), "
        "'%Y-%m-%dT%H:%M:%S.%gZ') AS ts, "
        f"'go.example.com' AS domain, 'link-' || {link} AS slug, "
        f"'c' || {link} % {CAMPAIGNS} AS campaign, "
        f"CASE WHEN {link} % 2 = 0 THEN ['sale', 'pricing'] ELSE ['blog'] END AS tags, "
        "'default' AS rule, 302 AS status, "
        f"'https://shop.example/p/' || {link} || '?utm_source=newsletter' AS destination, "
        "'v' || hash(i * 7) % 400000 AS visitor_id, "
        f"{_is_bot('i')} AS is_bot, CASE WHEN {_is_bot('i')} THEN 'Slackbot' END AS bot_name, "
        "(['DE', 'FR', 'US', 'GB', 'NL'])[1 + i % 5] AS country, "
        "(['desktop', 'ios', 'android'])[1 + i % 3] AS device, 'macos' AS os, "
        "'chrome' AS browser, 'de' AS language, 'news.example' AS referrer_host, "
        "'newsletter' AS utm_source, 'email' AS utm_medium, 'spring' AS utm_campaign, "
        "NULL AS utm_term, NULL AS utm_content, "
        "MAP {'fbclid': 'IwAR' || i} AS click_ids, "
        f"CASE WHEN {_denied('i')} THEN 'denied' ELSE 'granted' END AS consent, "
        "'203.0.' || i % 256 || '.0/24' AS ip_prefix, md5('ua' || i % 5000) AS ua_hash, "
        f"CASE WHEN {_is_bot('i')} OR {_denied('i')} THEN []::VARCHAR[] "
        "ELSE ['meta', 'tiktok'] END AS platforms "
        f"FROM range({lo}, {hi}) t(i)"
    )


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return round(kb / (1024 if sys.platform != "darwin" else 1024 * 1024), 1)


def _baseline(root: str) -> dict[str, Any]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        f"SELECT domain, slug, count(*) FROM read_json('{root}/clicks/*/*/*.json.gz', "
        "format = 'newline_delimited', compression = 'gzip', "
        "columns = {'domain': 'VARCHAR', 'slug': 'VARCHAR'}) GROUP BY ALL"
    ).fetchall()
    con.close()
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb()}


def _rollup(root: str) -> dict[str, Any]:
    from chalicelib.rollup.audiences import Catalog
    from chalicelib.rollup.lake import LocalLake
    from chalicelib.rollup.run import Rollup
    from chalicelib.rollup.store import MemoryStore

    catalog = Catalog.of(
        audiences=[
            {"id": "pricing", "match": {"tags": ["pricing"]}, "window_days": 30},
            {"id": "campaign-c3", "match": {"campaigns": ["c3"]}, "window_days": 7},
        ]
    )
    store = MemoryStore()
    started = time.perf_counter()
    report = Rollup(LocalLake(root), store, catalog).run(now=NOW, hours=[HOUR])
    seconds = time.perf_counter() - started
    (hour,) = report.hours
    if hour.status != "rolled":
        raise RuntimeError(f"the rollup did not roll the hour up: {hour}")
    return {
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "rows": sum(1 for period, _ in store.items if period.startswith("h#")),
        "clicks": hour.clicks,
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
