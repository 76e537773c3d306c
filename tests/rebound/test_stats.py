"""`rebound rollup` and `rebound stats` in-process on moto, over the known lake (dataset.py)."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from click.testing import CliRunner

from rebound import cli
from rebound import stats as rb_stats
from tests.rollup import conftest as rollup_fixtures
from tests.rollup.dataset import NOW

lake, names = rollup_fixtures.lake, rollup_fixtures.names  # the known lake on the stack


def run(*args: str):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


@pytest.fixture
def rolled(lake, monkeypatch):
    monkeypatch.setattr(rb_stats, "utc_now", lambda: NOW)
    result = run("rollup")
    assert result.exit_code == 0, result.output
    return result


def stats_json(*args: str) -> dict:
    result = run("stats", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_rollup_by_hand_says_what_it_rolled_up(rolled):
    assert "2026-11-23T12" in rolled.output and "2026-11-23T13" in rolled.output
    assert "2 hours rolled up" in rolled.output
    assert "days updated: 2026-11-23" in rolled.output
    again = run("rollup", "--hour", "2026-11-23T12", "--json")
    assert again.exit_code == 0
    (hour,) = json.loads(again.output)["hours"]
    assert (hour["hour"], hour["status"], hour["clicks"]) == ("2026-11-23T12", "rolled", 24)


def test_rollup_refuses_a_bad_hour(lake, monkeypatch):
    monkeypatch.setattr(rb_stats, "utc_now", lambda: NOW)
    result = run("rollup", "--hour", "yesterday")
    assert result.exit_code == 1
    assert "not an hour" in result.output
    assert run("rollup", "--hour", "2026-11-23T12", "--since", "1d").exit_code == 2


def test_stats_json_has_the_funnel_with_rates_and_revenue_per_currency(rolled):
    report = stats_json("--since", "1d")

    assert report["window"] == {
        "since": "1d",
        "unit": "day",
        "from": "2026-11-23",
        "to": "2026-11-23",
        "periods": ["2026-11-23"],
    }
    assert report["rolled_up"]["hour"] == "2026-11-23T13"
    total = report["focus"][0]
    funnel = {s["step"]: (s["count"], s["rate"]) for s in total["funnel"]}
    assert funnel == {
        "clicks": (26, None),
        "human_clicks": (22, round(22 / 26, 4)),
        "unique_visitors": (13, round(13 / 22, 4)),
        "leads": (2, round(2 / 13, 4)),
        "purchases": (2, 1.0),
    }
    assert total["revenue"] == {"EUR": 49.9, "USD": 20}
    assert total["platform_events"] == {
        "sent": 8,
        "failed": 1,
        "skipped": 1,
        "by_status": {"dead": 1, "dry_run": 3, "sent": 5, "skipped": 1},
    }
    links = {e["id"]: e for e in report["links"]}
    assert list(links) == [
        "go.example.com/spring-sale",
        "go.example.com/pricing",
        "go.example.com/blog",
    ]
    spring = links["go.example.com/spring-sale"]
    assert (spring["clicks"], spring["leads"], spring["purchases"]) == (17, 1, 1)
    assert spring["revenue"] == {"EUR": 49.9}
    assert [c["id"] for c in report["campaigns"]] == ["spring"]
    assert {p["id"] for p in report["platforms"]} == {"meta", "tiktok"}
    sizes = {a["id"]: (a["size"], a["window_days"]) for a in report["audiences"]}
    assert sizes == {
        "pricing-visitors": (9, 30),
        "spring-buyers": (9, 7),
        "blog-readers": (2, 14),
    }


def test_stats_for_one_link_campaign_or_audience(rolled):
    link = stats_json("--link", "GO.example.com/Spring-Sale", "--since", "2d")
    assert [e["id"] for e in link["focus"]] == ["go.example.com/spring-sale"]
    assert link["focus"][0]["trend"]["clicks"] == [0, 17]
    assert {a["id"] for a in link["audiences"]} == {"pricing-visitors", "spring-buyers"}
    assert link["platforms"] == []

    campaign = stats_json("--campaign", "spring")
    assert campaign["focus"][0]["id"] == "spring"
    assert [e["id"] for e in campaign["links"]] == [
        "go.example.com/spring-sale",
        "go.example.com/pricing",
    ]

    audience = stats_json("--audience", "blog-readers")
    (entry,) = audience["audiences"]
    assert (entry["size"], entry["size_exact"], entry["links"]) == (
        2,
        True,
        ["go.example.com/blog"],
    )
    assert [e["id"] for e in audience["links"]] == ["go.example.com/blog"]


def test_stats_by_hour(rolled):
    report = stats_json("--since", "3h")
    assert report["window"]["periods"] == ["2026-11-23T12", "2026-11-23T13", "2026-11-23T14"]
    total = report["focus"][0]
    assert total["trend"]["clicks"] == [24, 2, 0]
    assert total["trend"]["unique_visitors"] == [12, 2, 0]


def test_stats_prints_readable_tables_with_a_trend(rolled):
    result = run("stats", "--since", "3h")

    assert result.exit_code == 0, result.output
    text = result.output
    for expected in (
        "Rebound stats · last 3h",
        "All links",
        "unique visitors",
        "Links",
        "spring-sale",
        "Campaigns",
        "Audiences",
        "pricing-visitors",
        "Destinations",
        "revenue EUR 49.90, USD 20.00",
    ):
        assert expected in text, expected
    assert "█▁▁" in text  # 24, 2, 0 clicks: one tall block, then low ones
    assert "\x1b[" not in text


def test_unknown_names_and_bad_windows_are_errors(rolled):
    result = run("stats", "--link", "go.example.com/nope")
    assert result.exit_code == 1
    assert "no link 'go.example.com/nope'" in result.output
    assert run("stats", "--audience", "nobody").exit_code == 1
    assert run("stats", "--link", "no-slash").exit_code == 1
    result = run("stats", "--since", "7x")
    assert result.exit_code == 2
    assert "48h, 7d, 2w" in result.output
    assert run("rollup", "--since", "7x").exit_code == 2
    result = run("stats", "--html", "/nonexistent-dir/report.html")
    assert result.exit_code == 1
    assert "cannot write /nonexistent-dir/report.html" in result.output


def test_long_trends_are_summed_into_a_table_sized_sparkline():
    assert rb_stats.squeeze([1, 2, 3], 12) == [1, 2, 3]
    assert rb_stats.squeeze(list(range(48)), 12) == [sum(range(i, i + 4)) for i in range(0, 48, 4)]
    # 50 hours in 12 buckets of 5: the oldest bucket takes the remainder, the latest is whole.
    assert rb_stats.squeeze([1] * 50, 12) == [5] * 10
    assert rb_stats.squeeze([1] * 49, 12) == [4] + [5] * 9


def test_stats_before_any_rollup_says_so(lake, monkeypatch):
    monkeypatch.setattr(rb_stats, "utc_now", lambda: NOW)
    result = run("stats")
    assert result.exit_code == 0
    assert "No rollup has run yet" in result.output


def test_stats_html_writes_a_self_contained_page(rolled, tmp_path):
    page = tmp_path / "report.html"
    result = run("stats", "--since", "2d", "--html", str(page))

    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert html.count("<svg") >= 5
    for section in ("chart-clicks", "chart-funnel", "chart-audiences", "chart-platforms"):
        assert f'id="{section}"' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<script" not in html


@pytest.fixture
def was_ready(rolled, names):
    """The last scheduled check found pricing-visitors ready for meta (the known lake now has
    only a handful of its members)."""
    from chalicelib.aws.clients import client
    from chalicelib.rollup.store import StatsStore

    StatsStore(client("dynamodb"), names.stats_table).put_readiness(
        {
            ("pricing-visitors", "meta"): {
                "ready": True,
                "fell_below": False,
                "size": 120,
                "minimum": 100,
            }
        }
    )


def test_stats_json_has_each_audiences_readiness_per_destination(was_ready):
    report = stats_json("--since", "7d")
    assert report["rate_days"] == 7
    audiences = {a["id"]: a for a in report["audiences"]}
    pricing = audiences["pricing-visitors"]
    size = pricing["size"]
    assert 0 < size < 100
    # Nothing before today in the known lake: all of it is growth over the 7 days.
    assert pricing["growth_per_day"] == round(size / 7, 2)
    meta, tiktok = pricing["readiness"]
    assert (meta["destination"], meta["minimum"], meta["ready"]) == ("meta", 100, False)
    assert (meta["needed"], meta["fell_below"], meta["confirmed"]) == (100 - size, True, False)
    days = math.ceil((100 - size) / pricing["growth_per_day"])
    assert meta["ready_on"] == (NOW.date() + dt.timedelta(days=days)).isoformat()
    assert meta["source"].startswith("https://")
    assert (tiktok["destination"], tiktok["minimum"], tiktok["needed"]) == (
        "tiktok",
        1000,
        1000 - size,
    )
    assert tiktok["fell_below"] is False and tiktok["confirmed"] is True
    assert audiences["spring-buyers"]["readiness"] == []  # sent nowhere


def test_stats_text_shows_readiness_and_the_fell_below_flag(was_ready):
    report = stats_json("--since", "7d")
    size = {a["id"]: a["size"] for a in report["audiences"]}["pricing-visitors"]
    result = run("stats", "--since", "7d")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # a wrapped cell or caption reads the same
    assert "Audience readiness" in text
    assert f"⚠ fell below · {100 - size} more needed" in text
    assert f"{1000 - size:,} more needed" in text
    assert "100*" in text and "not confirmed by the platform's own documentation" in text


def test_stats_html_shows_readiness(was_ready, tmp_path):
    page = tmp_path / "report.html"
    assert run("stats", "--html", str(page)).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert 'id="table-readiness"' in html
    assert '<tr class="fell">' in html and '<span class="flag">fell below</span>' in html
    assert "https://" not in html
