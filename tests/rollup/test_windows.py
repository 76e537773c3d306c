"""Windows merged from sketches (no raw data read) agree with exact counts within the stated error.

Thirty days of clicks in a local lake directory (two busy hours a day, tens of thousands of
visitors, so that the sketches are in their estimating mode), rolled up into the in-memory
store; the report's unique visitors and audience sizes are checked against exact counts.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random

import pytest

from chalicelib.rollup import sketch
from chalicelib.rollup.audiences import Catalog
from chalicelib.rollup.lake import LocalLake
from chalicelib.rollup.report import collect, parse_since
from chalicelib.rollup.run import Rollup
from chalicelib.rollup.store import MemoryStore

NOW = dt.datetime(2026, 11, 30, 18, 10, tzinfo=dt.UTC)
DAYS = 30
HOURS_A_DAY = (9, 17)
CLICKS_AN_HOUR = 1500
POOL = 40_000
AUDIENCES = [
    {"id": "pricing", "match": {"tags": ["pricing"]}, "window_days": 30},
    {"id": "week", "match": {"tags": ["pricing"]}, "window_days": 7},
]


def write_month(root) -> list[dict]:
    rng = random.Random(30)
    clicks = []
    for day in range(DAYS):
        date = (NOW - dt.timedelta(days=DAYS - 1 - day)).date()
        for hour in HOURS_A_DAY:
            start = dt.datetime(date.year, date.month, date.day, hour, tzinfo=dt.UTC)
            lines = []
            for i in range(CLICKS_AN_HOUR):
                when = start + dt.timedelta(seconds=i * 2)
                pricing = rng.random() < 0.6
                record = {
                    "schema": 1,
                    "click_id": f"{start:%Y%m%d%H}-{i:05d}",
                    "ts": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "domain": "go.example.com",
                    "slug": "pricing" if pricing else "blog",
                    "campaign": "autumn",
                    "tags": ["pricing"] if pricing else ["blog"],
                    "visitor_id": f"v{rng.randrange(POOL)}",
                    "is_bot": rng.random() < 0.05,
                    "consent": "denied" if rng.random() < 0.05 else "granted",
                    "platforms": [],
                }
                clicks.append(record)
                lines.append(json.dumps(record))
            folder = root / "clicks" / f"dt={date}" / f"hour={hour:02d}"
            folder.mkdir(parents=True)
            (folder / "shardId-000000000000-1.json.gz").write_bytes(
                gzip.compress(("\n".join(lines) + "\n").encode())
            )
    return clicks


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    clicks = write_month(root)
    store = MemoryStore()
    catalog = Catalog.of(audiences=AUDIENCES)
    rollup = Rollup(LocalLake(root), store, catalog, workdir=tmp_path_factory.mktemp("work"))
    hours = [f"{c['ts'][:13]}" for c in clicks[::CLICKS_AN_HOUR]]
    report = rollup.run(now=NOW, hours=hours)
    assert len(report.by_status("rolled")) == DAYS * len(HOURS_A_DAY)
    return clicks, store, catalog


def exact_visitors(clicks, *, since: dt.datetime, audience: bool = False) -> int:
    return len(
        {
            c["visitor_id"]
            for c in clicks
            if not c["is_bot"]
            and c["ts"] >= since.strftime("%Y-%m-%d")
            and (not audience or ("pricing" in c["tags"] and c["consent"] != "denied"))
        }
    )


def within(estimate: int, exact: int) -> bool:
    return abs(estimate - exact) <= sketch.relative_error(3) * exact


def test_thirty_day_unique_visitors_from_sketches_agree_with_the_exact_count(month):
    clicks, store, catalog = month
    report = collect(store, catalog, parse_since("30d", NOW), now=NOW)

    total = report["focus"][0]
    exact = exact_visitors(clicks, since=NOW - dt.timedelta(days=DAYS - 1))
    assert exact > 30_000  # well past the sketch's exact (list and set) modes
    assert not total["unique_visitors_exact"]
    assert within(total["unique_visitors"], exact), (total["unique_visitors"], exact)
    assert total["clicks"] == len(clicks)  # counters stay exact
    assert total["human_clicks"] == sum(1 for c in clicks if not c["is_bot"])
    assert report["unique_visitors_error"] == pytest.approx(sketch.relative_error(3), abs=1e-4)


def test_audience_sizes_use_each_audiences_own_window(month):
    clicks, store, catalog = month
    report = collect(store, catalog, parse_since("48h", NOW), now=NOW)

    sizes = {a["id"]: a for a in report["audiences"]}
    month_exact = exact_visitors(clicks, since=NOW - dt.timedelta(days=29), audience=True)
    week_exact = exact_visitors(clicks, since=NOW - dt.timedelta(days=6), audience=True)
    assert week_exact < month_exact
    assert sizes["pricing"]["window_days"] == 30 and sizes["week"]["window_days"] == 7
    assert within(sizes["pricing"]["size"], month_exact), (sizes["pricing"], month_exact)
    assert within(sizes["week"]["size"], week_exact), (sizes["week"], week_exact)
    assert sizes["pricing"]["size_low"] <= month_exact <= sizes["pricing"]["size_high"]


def test_one_hour_is_exact_and_a_week_is_within_the_error(month):
    clicks, store, catalog = month
    hour = collect(store, catalog, parse_since("1h", NOW.replace(hour=17)), now=NOW)["focus"][0]
    in_hour = [c for c in clicks if c["ts"].startswith(NOW.strftime("%Y-%m-%dT17"))]
    assert hour["unique_visitors_exact"]
    assert hour["unique_visitors"] == len({c["visitor_id"] for c in in_hour if not c["is_bot"]})

    week = collect(store, catalog, parse_since("7d", NOW), now=NOW)["focus"][0]
    exact = exact_visitors(clicks, since=NOW - dt.timedelta(days=6))
    assert within(week["unique_visitors"], exact)
    assert len(week["trend"]["clicks"]) == 7 and set(week["trend"]["clicks"]) == {3000}
