"""Audience readiness: the minimums table, the math (ready, n more, the estimated date, no date
without growth), the "fell below" flag across two checks of the rollup, and the EMF metric line
the scheduled function prints."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path

import pytest

from chalicelib.platforms import registry
from chalicelib.rollup import readiness
from chalicelib.rollup.audiences import Catalog
from chalicelib.rollup.lake import LocalLake
from chalicelib.rollup.readiness import MINIMUMS, advance, assess, daily_rate, emf_line, ready_on
from chalicelib.rollup.report import collect, parse_since
from chalicelib.rollup.run import Rollup, scheduled
from chalicelib.rollup.store import MemoryStore
from rebound.figures import minimum, ready_by
from rebound.figures import readiness as status
from tests.rollup.dataset import NOW

DOCS = Path(__file__).resolve().parents[2] / "docs" / "stats.md"
TODAY = dt.date(2026, 11, 23)


# --- The table ---------------------------------------------------------------------------------


def test_the_minimums_cover_every_registered_platform():
    assert set(MINIMUMS) >= set(registry.AD_PLATFORMS)
    assert "x" in MINIMUMS  # before the registry has it, too
    for name, m in MINIMUMS.items():
        assert m.minimum > 0 and m.source.startswith("https://"), name
        assert m.counted and m.window, name
    # Not found in the platforms' own documentation: said so, and shown with a *.
    assert {n for n, m in MINIMUMS.items() if not m.confirmed} == {"meta", "snapchat", "reddit"}
    assert (MINIMUMS["google"].minimum, MINIMUMS["linkedin"].minimum) == (100, 300)
    assert (MINIMUMS["tiktok"].minimum, MINIMUMS["pinterest"].minimum) == (1000, 100)
    assert MINIMUMS["x"].minimum == 100


def test_docs_list_the_same_minimums_and_sources():
    text = DOCS.read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| (\w+) \| ([\d,]+) \| .* \| (yes|\*\*no\*\*) \| \[[^\]]+\]\(([^)]+)\)", text, re.M
    )
    documented = {name: (int(n.replace(",", "")), ok == "yes", url) for name, n, ok, url in rows}
    assert documented == {n: (m.minimum, m.confirmed, m.source) for n, m in MINIMUMS.items()}


# --- The math ----------------------------------------------------------------------------------


def test_an_audience_at_its_minimum_is_ready():
    r = assess("meta", 100, 0.0, TODAY, None)
    assert (r["ready"], r["needed"], r["ready_on"], r["fell_below"]) == (True, 0, None, False)
    assert (status(r), ready_by(r), minimum(r)) == ("ready", "now", "100*")
    assert minimum(assess("google", 5, 0.0, TODAY, None)) == "100"


def test_a_short_audience_needs_n_more_and_gets_a_date_at_its_rate():
    r = assess("linkedin", 240, 7.5, TODAY, None)
    assert (r["ready"], r["needed"]) == (False, 60)
    assert r["ready_on"] == "2026-12-01"  # 60 / 7.5 = 8 days
    assert status(r) == "60 more needed" and ready_by(r) == "2026-12-01"
    # A part of a day more is a day more.
    assert ready_on(239, 300, 7.5, TODAY) == dt.date(2026, 12, 2)
    assert ready_on(300, 300, 0.0, TODAY) == TODAY


@pytest.mark.parametrize("rate", [0.0, -3.5])
def test_no_date_when_the_audience_does_not_grow(rate):
    r = assess("tiktok", 400, rate, TODAY, None)
    assert r["ready_on"] is None and ready_by(r) == "—"
    assert status(r) == "600 more needed"


def test_the_daily_rate_is_the_size_growth_over_the_window():
    assert daily_rate(130, 100, 7) == pytest.approx(4.29)
    assert daily_rate(80, 100, 4) == -5.0
    assert daily_rate(10, 0, 0) == 0.0


def test_a_destination_without_a_known_minimum_is_neither_ready_nor_not():
    r = assess("myspace", 50, 2.0, TODAY, None)
    assert r["ready"] is None and r["minimum"] is None and status(r) == "no known minimum"


def test_the_flag_is_set_when_a_ready_pair_falls_below_and_cleared_when_ready_again():
    audiences = [{"id": "a", "send_to": ["meta", "tiktok", "myspace"]}]
    first = advance(audiences, {"a": 150}, {})
    assert first.below == [] and first.state[("a", "meta")]["ready"] is True
    assert ("a", "myspace") not in first.state  # no minimum, nothing to track
    second = advance(audiences, {"a": 90}, first.state)
    assert second.below == ["a"]
    assert second.state[("a", "meta")]["fell_below"] is True
    assert second.state[("a", "tiktok")]["fell_below"] is False  # never was ready
    third = advance(audiences, {"a": 95}, second.state)  # still below: still flagged
    assert third.below == ["a"]
    fourth = advance(audiences, {"a": 100}, third.state)
    assert fourth.below == [] and fourth.state[("a", "meta")]["fell_below"] is False


def test_the_emf_line_follows_the_embedded_metric_format():
    now = dt.datetime(2026, 11, 23, 14, 30, tzinfo=dt.UTC)
    doc = json.loads(emf_line("prod", 2, now))
    assert doc == {
        "_aws": {
            "Timestamp": 1795444200000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "Rebound",
                    "Dimensions": [["Stage"]],
                    "Metrics": [{"Name": "AudiencesBelowMinimum", "Unit": "Count"}],
                }
            ],
        },
        "Stage": "prod",
        "AudiencesBelowMinimum": 2,
    }
    assert doc["_aws"]["Timestamp"] == int(now.timestamp() * 1000)
    assert "\n" not in emf_line("prod", 0, now)  # one log event


# --- Across rollup checks: a window that moves on ------------------------------------------------

DOMAIN = "go.example.com"
DAY0 = dt.datetime(2026, 11, 1, 11, tzinfo=dt.UTC)
AUDIENCE = {
    "id": "pricing-visitors",
    "match": {"tags": ["pricing"]},
    "window_days": 7,
    "send_to": ["meta", "tiktok", "myspace"],
}
# Day 0: a burst of 120 visitors; then nobody until days 8, 9 and 10, 20 new visitors each.
VISITORS = {0: [f"v{i}" for i in range(120)]} | {
    d: [f"w{d}-{i}" for i in range(20)] for d in (8, 9, 10)
}


def at(day: int, hour: int = 18) -> dt.datetime:
    return (DAY0 + dt.timedelta(days=day)).replace(hour=hour, minute=10)


def write_days(root: Path) -> list[str]:
    hours = []
    for day, visitors in VISITORS.items():
        when = DAY0 + dt.timedelta(days=day)
        folder = root / "clicks" / f"dt={when:%Y-%m-%d}" / f"hour={when:%H}"
        folder.mkdir(parents=True)
        lines = [
            json.dumps(
                {
                    "schema": 1,
                    "click_id": f"{when:%Y%m%d}-{i:04d}",
                    "ts": (when + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "domain": DOMAIN,
                    "slug": "pricing",
                    "campaign": None,
                    "tags": ["pricing"],
                    "visitor_id": v,
                    "is_bot": False,
                    "consent": "granted",
                    "platforms": [],
                }
            )
            for i, v in enumerate(visitors)
        ]
        (folder / "shardId-000000000000-1.json.gz").write_bytes(
            gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
        )
        hours.append(f"{when:%Y-%m-%dT%H}")
    return hours


@pytest.fixture
def rolled(tmp_path):
    store = MemoryStore()
    catalog = Catalog.of(
        audiences=[AUDIENCE],
        links=[{"domain": DOMAIN, "slug": "pricing", "tags": ["pricing"], "url": "https://x/"}],
    )
    rollup = Rollup(LocalLake(tmp_path / "lake"), store, catalog, workdir=tmp_path)
    hours = write_days(tmp_path / "lake")
    assert len(rollup.run(now=at(10), hours=hours).by_status("rolled")) == len(VISITORS)
    return rollup, store, catalog


def by_destination(report: dict) -> dict[str, dict]:
    (audience,) = report["audiences"]
    return {r["destination"]: r for r in audience["readiness"]}


def test_an_audience_whose_window_moved_on_is_flagged_until_it_is_ready_again(rolled):
    rollup, store, catalog = rolled

    first = rollup.check_readiness(at(0))  # the burst: 120 visitors
    assert first.below == []
    assert store.readiness()[("pricing-visitors", "meta")] == {
        "ready": True,
        "fell_below": False,
        "size": 120,
        "minimum": 100,
    }
    assert store.readiness()[("pricing-visitors", "tiktok")]["ready"] is False

    second = rollup.check_readiness(at(8))  # the burst is out of the 7-day window: 20 left
    assert second.below == ["pricing-visitors"]
    meta = store.readiness()[("pricing-visitors", "meta")]
    assert (meta["ready"], meta["fell_below"], meta["size"]) == (False, True, 20)
    assert store.readiness()[("pricing-visitors", "tiktok")]["fell_below"] is False

    # The stats show it per destination, read from the stats table.
    report = collect(store, catalog, parse_since("7d", at(8)), now=at(8))
    rows = by_destination(report)
    assert (rows["meta"]["fell_below"], rows["meta"]["needed"]) == (True, 80)
    assert status(rows["meta"]) == "fell below · 80 more needed"
    assert rows["tiktok"]["fell_below"] is False and rows["tiktok"]["needed"] == 980
    assert rows["myspace"]["ready"] is None
    # Shrinking (120 a week ago, 20 now): no date.
    assert report["audiences"][0]["growth_per_day"] == pytest.approx((20 - 120) / 7, abs=0.01)
    assert rows["meta"]["ready_on"] is None

    # Days 9 and 10: 60 visitors, growing 20 a day over the last 3 days: still below 100.
    third = rollup.check_readiness(at(10))
    assert third.below == ["pricing-visitors"]
    report = collect(store, catalog, parse_since("3d", at(10)), now=at(10))
    assert report["rate_days"] == 3
    assert report["audiences"][0]["size"] == 60
    assert report["audiences"][0]["growth_per_day"] == 20.0  # 60 now, 0 three days ago
    rows = by_destination(report)
    assert rows["meta"]["ready_on"] == "2026-11-13"  # 40 more at 20 a day: 2 days
    assert rows["tiktok"]["ready_on"] == "2026-12-28"  # 940 more: 47 days
    assert rows["meta"]["fell_below"] is True


def test_the_state_keeps_only_configured_pairs(rolled):
    rollup, store, _ = rolled
    store.put_readiness(
        {("gone", "meta"): {"ready": True, "fell_below": False, "size": 500, "minimum": 100}}
    )
    rollup.check_readiness(at(0))
    assert set(store.readiness()) == {("pricing-visitors", "meta"), ("pricing-visitors", "tiktok")}


# --- The scheduled function on the stack -----------------------------------------------------------


def emf_lines(text: str) -> list[dict]:
    docs = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [d for d in docs if "_aws" in d]


def test_the_scheduled_run_prints_the_metric_and_keeps_the_state(
    lake, names, store, capsys, monkeypatch
):
    monkeypatch.setenv("REBOUND_METRICS", "stdout")
    # The known lake's pricing-visitors (meta, tiktok) has a handful of members; say the last
    # check found it ready for meta.
    store.put_readiness(
        {
            ("pricing-visitors", "meta"): {
                "ready": True,
                "fell_below": False,
                "size": 140,
                "minimum": 100,
            }
        }
    )
    capsys.readouterr()
    summary = scheduled(names, now=NOW)

    (doc,) = emf_lines(capsys.readouterr().out)
    assert doc["AudiencesBelowMinimum"] == 1 and doc["Stage"] == names.stage
    assert doc["_aws"]["Timestamp"] == int(NOW.timestamp() * 1000)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == readiness.METRIC_NAMESPACE
    assert summary["below_minimum"] == ["pricing-visitors"]
    state = store.readiness()
    assert state[("pricing-visitors", "meta")]["fell_below"] is True
    assert state[("pricing-visitors", "tiktok")] == {
        "ready": False,
        "fell_below": False,
        "size": state[("pricing-visitors", "meta")]["size"],
        "minimum": 1000,
    }

    # Nothing was ever ready elsewhere: a fresh state reports 0, and the metric is still printed.
    store.put_readiness({})
    scheduled(names, now=NOW)
    (doc,) = emf_lines(capsys.readouterr().out)
    assert doc["AudiencesBelowMinimum"] == 0
