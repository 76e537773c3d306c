"""`rebound stats --html` in Chromium: the page renders its charts from a rolled-up lake, on its own.

A week of generated clicks, conversions and platform outcomes is rolled up (local lake directory,
in-memory stats table), rendered with ``rebound.report.render_html`` and loaded into headless
Chromium. The charts must really be drawn (sized SVG, one bar per day, one step per
funnel stage, bars in proportion to the data), with no console error and no request beyond the
file itself. A screenshot goes to ``build/test-artifacts/stats-report.png`` (path printed).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
from pathlib import Path

import pytest

from chalicelib.rollup.audiences import Catalog
from chalicelib.rollup.lake import LocalLake
from chalicelib.rollup.report import collect, parse_since
from chalicelib.rollup.run import Rollup
from chalicelib.rollup.store import MemoryStore
from rebound.report import render_html

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
NOW = dt.datetime(2026, 11, 30, 18, 10, tzinfo=dt.UTC)
DOMAIN = "go.example.com"
# Clicks per day, oldest first: a shape a reader can check in the chart.
PER_DAY = (40, 90, 150, 120, 60, 200, 110)
LINKS = (
    ("spring-sale", "spring", ["sale", "pricing"]),
    ("pricing", "spring", ["pricing"]),
    ("blog", None, ["blog"]),
)
AUDIENCES = [
    {"id": "pricing-visitors", "match": {"tags": ["pricing"]}, "window_days": 30},
    {"id": "spring-buyers", "match": {"campaigns": ["spring"]}, "window_days": 7},
    {"id": "blog-readers", "match": {"tags": ["blog"]}, "window_days": 14},
]


def _write(root: Path, table: str, when: dt.datetime, name: str, rows: list[dict]) -> None:
    folder = root / table / f"dt={when:%Y-%m-%d}" / f"hour={when:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps(r) + "\n" for r in rows)
    (folder / name).write_bytes(gzip.compress(body.encode(), mtime=0))


def write_week(root: Path) -> list[dict]:
    """Seven days of clicks (one busy hour a day), conversions and platform outcomes."""
    rng = random.Random(7)
    clicks = []
    for day, count in enumerate(PER_DAY):
        date = (NOW - dt.timedelta(days=len(PER_DAY) - 1 - day)).date()
        hour = dt.datetime(date.year, date.month, date.day, 11, tzinfo=dt.UTC)
        rows, conversions, outcomes = [], [], []
        for i in range(count):
            slug, campaign, tags = LINKS[rng.choices(range(3), weights=(5, 3, 2))[0]]
            ts = (hour + dt.timedelta(seconds=i * 7)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            bot = rng.random() < 0.15
            denied = not bot and rng.random() < 0.1
            click_id = f"{hour:%Y%m%d%H}-{i:05d}"
            platforms = [] if bot or denied or slug == "blog" else ["meta", "tiktok"]
            rows.append(
                {
                    "schema": 1,
                    "click_id": click_id,
                    "ts": ts,
                    "domain": DOMAIN,
                    "slug": slug,
                    "campaign": campaign,
                    "tags": tags,
                    "visitor_id": f"v{rng.randrange(400)}",
                    "is_bot": bot,
                    "consent": "denied" if denied else "granted",
                    "platforms": platforms,
                }
            )
            for platform in platforms:
                status = "dead" if rng.random() < 0.05 else "sent"
                outcomes.append(
                    {
                        "ts": ts,
                        "platform": platform,
                        "event_id": click_id,
                        "status": status,
                        "source_url": f"https://{DOMAIN}/{slug}",
                    }
                )
            if not bot and rng.random() < 0.12:
                purchase = rng.random() < 0.4
                conversions.append(
                    {
                        "schema": 1,
                        "conversion_id": f"cv-{click_id}",
                        "click_id": click_id,
                        "ts": ts,
                        "domain": DOMAIN,
                        "event": "purchase" if purchase else "lead",
                        "event_id": f"ev-{click_id}",
                        "value": round(rng.uniform(10, 90), 2) if purchase else None,
                        "currency": rng.choice(["EUR", "USD"]) if purchase else None,
                        "campaign": campaign,
                        "slug": slug,
                        "platforms": ["meta"],
                    }
                )
        clicks += rows
        _write(root, "clicks", hour, "shardId-000000000000-1.json.gz", rows)
        _write(root, "conversions", hour, "shardId-000000000000-1.json.gz", conversions)
        _write(root, "platform-events", hour, "meta-1.json.gz", outcomes)
    return clicks


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("lake")
    clicks = write_week(root)
    store = MemoryStore()
    catalog = Catalog.of(
        audiences=AUDIENCES,
        links=[
            {"domain": DOMAIN, "slug": s, "campaign": c, "tags": t, "url": "https://x.example/"}
            for s, c, t in LINKS
        ],
    )
    rollup = Rollup(LocalLake(root), store, catalog, workdir=tmp_path_factory.mktemp("work"))
    hours = sorted({c["ts"][:13] for c in clicks})
    assert len(rollup.run(now=NOW, hours=hours).by_status("rolled")) == len(PER_DAY)
    return collect(store, catalog, parse_since("7d", NOW), now=NOW)


def open_report(open_browser, report: dict):
    """The page loaded as its bytes (every request it then makes goes to the test's router,
    which records it and answers none of them)."""
    browser = open_browser()
    loaded: list[str] = []
    browser.page.on("request", lambda r: loaded.append(r.url))
    browser.page.set_viewport_size({"width": 1200, "height": 900})
    browser.page.set_content(render_html(report), wait_until="load")
    return browser, loaded


def boxes(page, selector: str) -> list[dict]:
    return page.eval_on_selector_all(
        selector,
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return {w: r.width, h: r.height, x: r.x, y: r.y}; })",
    )


def test_the_html_report_renders_its_charts_in_chromium_without_any_request(report, open_browser):
    browser, loaded = open_report(open_browser, report)
    page = browser.page

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "stats-report.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of the stats report: {shot}")

    # Self-contained: no request at all (fonts, scripts, images, styles), and nothing complained.
    assert loaded == [] and browser.requests == []
    assert browser.console == []

    # Every chart is an SVG with a real size on the page.
    for section in ("chart-clicks", "chart-funnel", "chart-audiences", "chart-platforms"):
        (box,) = boxes(page, f"#{section} svg.chart")
        assert box["w"] > 600 and box["h"] > 50, (section, box)

    # Clicks over time: one bar a day, as tall as that day's clicks (human + bots).
    bars = page.eval_on_selector_all(
        "#chart-clicks g.bar",
        "gs => gs.map(g => [...g.querySelectorAll('rect')]"
        ".reduce((s, r) => s + r.getBoundingClientRect().height, 0))",
    )
    assert len(bars) == len(PER_DAY)
    assert all(h > 0 for h in bars)
    tallest = max(bars)
    for height, count in zip(bars, PER_DAY, strict=True):
        assert height / tallest == pytest.approx(count / max(PER_DAY), abs=0.02)
    # The unique-visitors line has a point per day.
    assert len(boxes(page, "#chart-clicks circle")) == len(PER_DAY)

    # Funnel: five steps, each bar no wider than the one before.
    steps = boxes(page, "#chart-funnel g.step rect")
    assert len(steps) == 5
    widths = [s["w"] for s in steps]
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0

    # Audiences: one bar each, widths in proportion to the sizes the report gives.
    sizes = [a["size"] for a in report["audiences"]]
    audience_bars = boxes(page, "#chart-audiences g.audience rect")
    assert len(audience_bars) == len(report["audiences"]) == len(AUDIENCES)
    for bar, size in zip(audience_bars, sizes, strict=True):
        assert bar["w"] / audience_bars[0]["w"] == pytest.approx(size / sizes[0], abs=0.02)

    # Platform events: one row per platform; tables with a sparkline per link.
    assert len(page.query_selector_all("#chart-platforms g.platform")) == len(report["platforms"])
    assert len(page.query_selector_all("#table-links tbody tr")) == len(LINKS)
    sparks = boxes(page, "#table-links svg.spark")
    assert len(sparks) == len(LINKS) and all(s["w"] > 50 and s["h"] > 10 for s in sparks)
    assert page.title().startswith("Rebound · All links")


# --- Audience readiness, for the example config ------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "links.yaml"
BURST_DAY = -45  # a launch: 180 visitors, long out of a 30-day window by now
DAILY_SINCE = -19  # then 3 new visitors a day, today included


def write_example_traffic(root: Path, catalog: Catalog) -> list[str]:
    """Clicks on every link that feeds an example audience: a burst, then a trickle."""
    feeding = sorted({link for a in catalog.audiences for link in catalog.feeding(a["id"])})
    days = {BURST_DAY: 180} | dict.fromkeys(range(DAILY_SINCE, 1), 3)
    hours = []
    for day, count in days.items():
        date = (NOW + dt.timedelta(days=day)).date()
        hour = dt.datetime(date.year, date.month, date.day, 11, tzinfo=dt.UTC)
        rows = []
        for i in range(count):
            spec = catalog.links[feeding[i % len(feeding)]]
            rows.append(
                {
                    "schema": 1,
                    "click_id": f"{hour:%Y%m%d%H}-{i:05d}",
                    "ts": (hour + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "domain": spec["domain"],
                    "slug": spec["slug"],
                    "campaign": spec.get("campaign"),
                    "tags": list(spec.get("tags") or []),
                    "visitor_id": f"d{day}-v{i}",
                    "is_bot": False,
                    "consent": "granted",
                    "platforms": [],
                }
            )
        _write(root, "clicks", hour, "shardId-000000000000-1.json.gz", rows)
        hours.append(f"{hour:%Y-%m-%dT%H}")
    return hours


@pytest.fixture(scope="module")
def readiness_report(tmp_path_factory) -> dict:
    from chalicelib.config.loader import load_config
    from chalicelib.links.plan import Specs

    specs = Specs.from_config(load_config(EXAMPLE))
    catalog = Catalog.of(audiences=specs.audiences, links=specs.links)
    root = tmp_path_factory.mktemp("example-lake")
    hours = write_example_traffic(root, catalog)
    store = MemoryStore()
    rollup = Rollup(LocalLake(root), store, catalog, workdir=tmp_path_factory.mktemp("work"))
    assert len(rollup.run(now=NOW, hours=hours).by_status("rolled")) == len(hours)
    # Two of the schedule's checks: after the launch, and now that it left the window.
    rollup.check_readiness(NOW + dt.timedelta(days=DAILY_SINCE - 1))
    rollup.check_readiness(NOW)
    return collect(store, catalog, parse_since("7d", NOW), now=NOW)


def test_the_report_shows_each_example_audiences_readiness(readiness_report, open_browser):
    report = readiness_report
    browser, loaded = open_report(open_browser, report)
    page = browser.page

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "stats-readiness.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of the stats report with readiness: {shot}")
    assert loaded == [] and browser.requests == [] and browser.console == []

    expected = [(a, r) for a in report["audiences"] for r in a["readiness"]]
    assert expected, "the example config sends an audience to a platform"
    rows = page.eval_on_selector_all(
        "#table-readiness tbody tr",
        "trs => trs.map(tr => ({cls: tr.className, cells: [...tr.cells].map(c => c.innerText),"
        " bar: tr.querySelector('.progress i').getBoundingClientRect().width,"
        " track: tr.querySelector('.progress').getBoundingClientRect().width}))",
    )
    assert len(rows) == len(expected)
    for row, (a, r) in zip(rows, expected, strict=True):
        assert row["cells"][:2] == [a["id"], r["destination"]]
        if r["minimum"]:  # the bar fills as the size nears the minimum
            share = min(1.0, r["size"] / r["minimum"])
            assert row["bar"] / row["track"] == pytest.approx(share, abs=0.02)
        if r["fell_below"]:
            assert row["cls"] == "fell" and "fell below" in row["cells"][5]
        assert row["cells"][6] == ("now" if r["ready"] else r["ready_on"] or "—")

    # pricing-visitors (meta, tiktok): 180 visitors at the launch made it ready for meta; the
    # launch has left its 30 days, 3 visitors a day since leave 60: it fell below meta's 100.
    (audience,) = [a for a in report["audiences"] if a["id"] == "pricing-visitors"]
    pricing = {r["destination"]: r for r in audience["readiness"]}
    assert audience["size"] == 60 and audience["growth_per_day"] == 3
    assert pricing["meta"]["fell_below"] and pricing["meta"]["needed"] == 40
    assert pricing["meta"]["ready_on"] == "2026-12-14"  # 40 more at 3 a day: 14 days
    assert not pricing["tiktok"]["fell_below"] and pricing["tiktok"]["needed"] == 940
