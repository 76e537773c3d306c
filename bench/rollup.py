"""Rollup: one hour of 1,000,000 clicks (quick 100,000) rolled up from a local lake directory.

The hour is generated the way the archiver lays it out (gzip JSON lines under
``clicks/dt=…/hour=…/``, eight shard objects, 0.1% of clicks twice), with conversions (1% of
clicks) and the dispatcher's outcome rows (two platforms per consented human click). The rollup
(compaction to ZSTD Parquet, de-duplication, aggregation per link/campaign/audience/platform,
HyperLogLog sketches) runs on it into an in-memory stats store; the baseline is a plain DuckDB
``count(*) GROUP BY domain, slug`` over the same raw click files, read with the same typed
columns. Each side runs in a fresh interpreter (``python -m bench.rollup SIDE ROOT``), one after
the other, alternating round by round: wall time of the work itself, and the process's peak RSS
(VmHWM: the interpreter, DuckDB's buffers and the Python side together), which is what a Lambda's
memory size must hold.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.figures import Figure, Result
from bench.interpreter import last_line, python

NAME = "rollup"
TITLE = "Rollup: one hour of clicks → Parquet + stats rows (DuckDB, local files)"
PARAMS: dict[str, dict[str, int]] = {
    "full": {"clicks": 1_000_000, "rounds": 2},
    "quick": {"clicks": 100_000, "rounds": 1},
    "tiny": {"clicks": 2_000, "rounds": 1},
}
BASELINE = "plain DuckDB count(*) GROUP BY over the same files"
HOUR = "2026-11-23T12"
SHARDS = 8
LINKS = 200
CAMPAIGNS = 10
NOW = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)
MIB = 1024  # VmHWM is in KiB
# The rollup function's memory (infra/template.yaml) and the DuckDB limit the function sets from it
# (run.memory_limit(): 60%): one more rollup runs under it, as the deployed function would.
LAMBDA_MEMORY_MB = 3008
LAMBDA_LIMIT = f"{int(LAMBDA_MEMORY_MB * 0.6)}MB"


def run(*, clicks: int, rounds: int) -> Result:
    started = time.perf_counter()
    result = Result(NAME, TITLE, params={"clicks": clicks, "rounds": rounds})
    root = Path(tempfile.mkdtemp(prefix="rebound-bench-rollup-"))
    try:
        t0 = time.perf_counter()
        generated = generate(root, clicks)
        generate_seconds = time.perf_counter() - t0
        sides: dict[str, list[dict[str, Any]]] = {"rollup": [], "baseline": []}
        for i in range(rounds):
            order = ("baseline", "rollup") if i % 2 == 0 else ("rollup", "baseline")
            for side in order:
                sides[side].append(_child(side, root))
        capped = _child("rollup", root, LAMBDA_LIMIT)
        raw = sum(p.stat().st_size for p in _files(root, "clicks"))
        parquet = sum(p.stat().st_size for p in (root / "clicks_parquet").rglob("*.parquet"))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    roll, base = sides["rollup"], sides["baseline"]
    last = roll[-1]
    if last["clicks"] != generated["unique_clicks"]:
        raise RuntimeError(
            f"the rollup compacted {last['clicks']} clicks, expected {generated['unique_clicks']}"
        )
    roll_s = min(r["seconds"] for r in roll)
    base_s = min(r["seconds"] for r in base)
    roll_mb = max(r["peak_kib"] for r in roll) / MIB
    base_mb = max(r["peak_kib"] for r in base) / MIB
    result.figures += [
        Figure("rollup of the hour: time", roll_s, "s", base_s, BASELINE),
        Figure("rollup of the hour: peak RSS", roll_mb, "MB", base_mb, BASELINE),
        Figure(
            "rollup of the hour: clicks per second",
            generated["click_rows"] / roll_s,
            "clicks/s",
            generated["click_rows"] / base_s,
            BASELINE,
        ),
        Figure(
            f"rollup under memory_limit={LAMBDA_LIMIT} ({LAMBDA_MEMORY_MB} MB Lambda): time",
            capped["seconds"],
            "s",
            base_s,
            BASELINE,
        ),
        Figure(
            f"rollup under memory_limit={LAMBDA_LIMIT} ({LAMBDA_MEMORY_MB} MB Lambda): peak RSS",
            capped["peak_kib"] / MIB,
            "MB",
            base_mb,
            BASELINE,
        ),
        Figure(
            "rollup process at start (interpreter + imports): RSS",
            max(r["start_kib"] for r in roll) / MIB,
            "MB",
            max(r["start_kib"] for r in base) / MIB,
            BASELINE,
        ),
    ]
    result.notes.append(
        f"{generated['click_rows']:,} click rows in {SHARDS} gzip JSON objects "
        f"({raw / 2**20:.1f} MiB; {generated['click_rows'] - generated['unique_clicks']:,} "
        f"duplicates), {generated['conversions']:,} conversions, "
        f"{generated['platform_events']:,} platform outcomes; generated in "
        f"{generate_seconds:.1f} s. The rollup wrote {last['rows']:,} stats rows and "
        f"{parquet / 2**20:.1f} MiB of ZSTD Parquet. Best of {rounds} round(s) for time, worst "
        "for peak RSS (VmHWM of a fresh process each time); DuckDB threads = "
        f"{os.cpu_count()}. Ratio > 1: the rollup costs more than the bare scan."
    )
    result.seconds = time.perf_counter() - started
    return result


def _child(side: str, root: Path, memory_limit: str = "") -> dict[str, Any]:
    proc = python("-m", "bench.rollup", side, str(root), memory_limit, timeout=3600)
    return json.loads(last_line(proc))


def generate(root: Path, clicks: int) -> dict[str, int]:
    """Write one hour of clicks, conversions and platform outcomes under ``root``; count them."""
    import duckdb

    dt, hh = HOUR[:10], HOUR[11:]
    con = duckdb.connect()
    per_shard = -(-clicks // SHARDS)
    folder = root / "clicks" / f"dt={dt}" / f"hour={hh}"
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(SHARDS):
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
    click_rows, unique_clicks = con.execute(
        f"SELECT count(*), count(DISTINCT click_id) FROM read_json('{root}/clicks/*/*/*.json.gz')"
    ).fetchone()
    counted = {
        "click_rows": click_rows,
        "unique_clicks": unique_clicks,
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


def _files(root: Path, table: str) -> list[Path]:
    return sorted((root / table).rglob("*.json.gz"))


def baseline(root: Path, memory_limit: str | None = None) -> dict[str, Any]:
    """The least any rollup must do: read the hour's raw clicks once and count per link."""
    from chalicelib.rollup.compact import CLICKS, connect, raw_source

    with tempfile.TemporaryDirectory(prefix="rollup-baseline-") as work:
        con = connect(Path(work), memory_limit=memory_limit)
        started = time.perf_counter()
        rows = con.execute(
            f"SELECT domain, slug, count(*) FROM {raw_source(CLICKS, _files(root, 'clicks'))} "
            "GROUP BY ALL"
        ).fetchall()
        seconds = time.perf_counter() - started
        con.close()
    return {"seconds": seconds, "groups": len(rows)}


def rollup(root: Path, memory_limit: str | None = None) -> dict[str, Any]:
    """The rollup of the hour, as the scheduled function does it (an in-memory stats store)."""
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
    with tempfile.TemporaryDirectory(prefix="rollup-work-") as work:
        started = time.perf_counter()
        report = Rollup(
            LocalLake(root), store, catalog, workdir=work, memory_limit=memory_limit
        ).run(now=NOW, hours=[HOUR], force=True)
        seconds = time.perf_counter() - started
    (hour,) = report.hours
    if hour.status != "rolled":
        raise RuntimeError(f"the rollup did not roll the hour up: {hour}")
    return {
        "seconds": seconds,
        "rows": sum(1 for period, _ in store.items if period.startswith("h#")),
        "clicks": hour.clicks,
    }


def main() -> None:
    """One side in this fresh process; prints one JSON line (seconds, peak RSS in KiB)."""
    from bench.child import peak_rss_kib

    side, root, limit = sys.argv[1], Path(sys.argv[2]), (sys.argv[3:] or [""])[0]
    import duckdb  # noqa: F401  (both sides pay for it before the clock starts)

    import chalicelib.rollup.compact  # noqa: F401

    start_kib = peak_rss_kib()
    out = rollup(root, limit or None) if side == "rollup" else baseline(root)
    print(json.dumps({**out, "start_kib": start_kib, "peak_kib": peak_rss_kib()}), flush=True)


if __name__ == "__main__":
    main()
