"""The rollup on moto: a lake of known content (dataset.py) in, exact stats rows and Parquet out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from chalicelib.aws.clients import client
from chalicelib.lake.schema import CLICK_COLUMNS, CONVERSION_COLUMNS
from chalicelib.rollup import sketch
from chalicelib.rollup.metrics import merge, money_text
from chalicelib.rollup.run import scheduled
from tests.lake.factories import click_envelope
from tests.rollup import dataset
from tests.rollup.conftest import lake_objects, stats_items
from tests.rollup.dataset import EXPECTED, NOW

H12 = "h#2026-11-23T12"
H13 = "h#2026-11-23T13"
DAY = "d#2026-11-23"
CLICKS_12 = "clicks_parquet/dt=2026-11-23/hour=12/part-0.parquet"
CONVERSIONS_13 = "conversions_parquet/dt=2026-11-23/hour=13/part-0.parquet"


def parquet(body: bytes, tmp_path, sql: str = "SELECT * FROM t"):
    path = tmp_path / f"p-{len(body)}-{hash(body)}.parquet"
    path.write_bytes(body)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")  # noqa: S608
    return con.execute(sql).fetchall()


def counters(row) -> dict:
    return {"clicks": row.clicks, "human_clicks": row.human_clicks, "bot_clicks": row.bot_clicks}


def test_an_hour_is_counted_exactly_per_link_campaign_audience_and_platform(lake, rollup, store):
    report = rollup.run(now=NOW)

    assert [h.hour for h in report.by_status("rolled")] == ["2026-11-23T13", "2026-11-23T12"]
    assert report.days == ["2026-11-23"]
    rows = store.read([H12])[H12]
    expected = EXPECTED["h12"]
    total = rows["total"]
    assert {**counters(total), "denied_clicks": total.denied_clicks} == expected["total"]
    assert total.visitors == expected["total_visitors"]
    for sk in ("link#go.example.com/spring-sale", "link#go.example.com/pricing"):
        assert counters(rows[sk]) == expected[sk]
    assert counters(rows["link#go.example.com/blog"]) == expected["link#go.example.com/blog"]
    assert rows["link#go.example.com/spring-sale"].visitors == 6
    assert rows["link#go.example.com/spring-sale"].campaign == "spring"
    assert counters(rows["campaign#spring"]) == expected["campaign#spring"]
    # Platforms: the clicks that queued an event for them (human, consent not denied).
    assert rows["platform#meta"].clicks == 14 and rows["platform#meta"].bot_clicks == 0
    assert [sk for sk in rows if sk.startswith("campaign#")] == ["campaign#spring"]  # blog: none


def test_bots_and_visitors_who_denied_consent_are_not_audience_members(lake, rollup, store):
    rollup.run(now=NOW)

    rows = store.read([H12, H13, DAY])
    for sk, members in EXPECTED["h12"]["members"].items():
        assert rows[H12][sk].members == members, sk
    for sk, members in EXPECTED["h13_members"].items():
        assert rows[H13][sk].members == members, sk
    for sk, members in EXPECTED["day_members"].items():
        assert rows[DAY][sk].members == members, sk
    # The audience still counts the bot clicks and denied visitors as clicks, not as members.
    pricing = rows[H12]["audience#pricing-visitors"]
    assert (pricing.clicks, pricing.human_clicks, pricing.bot_clicks) == (20, 17, 3)
    assert pricing.visitors == 10  # v1..v10: human, consent or not
    assert pricing.denied_clicks == 3


def test_duplicate_clicks_and_conversions_are_counted_and_compacted_once(
    lake, rollup, store, names, tmp_path
):
    rollup.run(now=NOW)

    body = lake_objects(names, "clicks_parquet/dt=2026-11-23/hour=12/")[CLICKS_12]
    n, distinct = parquet(body, tmp_path, "SELECT count(*), count(DISTINCT click_id) FROM t")[0]
    assert n == distinct == 24 == len(lake["h12"])
    in_file_order = parquet(body, tmp_path, "SELECT ts, click_id FROM t")
    assert in_file_order == sorted(in_file_order)  # written in time order
    conv = lake_objects(names, "conversions_parquet/dt=2026-11-23/hour=13/")[CONVERSIONS_13]
    assert parquet(conv, tmp_path, "SELECT count(*) FROM t")[0][0] == 4
    assert store.read([H13])[H13]["total"].conversions == EXPECTED["h13_conversions_total"]


def test_parquet_has_exactly_the_lake_schema_columns_compressed_with_zstd(
    lake, rollup, names, tmp_path
):
    rollup.run(now=NOW)

    for key, columns in ((CLICKS_12, CLICK_COLUMNS), (CONVERSIONS_13, CONVERSION_COLUMNS)):
        prefix = key.rsplit("/", 1)[0] + "/"
        objects = lake_objects(names, prefix)
        assert list(objects) == [key]
        body = objects[key]
        described = parquet(body, tmp_path, "DESCRIBE SELECT * FROM t")
        assert [(name, kind) for name, kind, *_ in described] == [
            (c.name, c.duckdb) for c in columns
        ]
        path = tmp_path / "codec.parquet"
        path.write_bytes(body)
        codecs = (
            duckdb.connect()
            .execute(f"SELECT DISTINCT compression FROM parquet_metadata('{path}')")  # noqa: S608
            .fetchall()
        )
        assert codecs == [("ZSTD",)]
    rows = parquet(
        lake_objects(names, "clicks_parquet/")[CLICKS_12],
        tmp_path,
        f"SELECT click_ids, tags, platforms FROM t WHERE click_id = '{lake['h12'][0]['click_id']}'",  # noqa: S608
    )
    assert rows == [({"fbclid": "IwAR-fb-1"}, ["sale", "pricing"], ["meta", "tiktok"])]


def test_conversions_count_by_event_with_revenue_per_currency(lake, rollup, store):
    rollup.run(now=NOW)

    rows = store.read([H13])[H13]
    total = rows["total"]
    assert total.conversions == EXPECTED["h13_conversions_total"]
    assert {
        e: {c: money_text(v) for c, v in by.items()} for e, by in total.revenue.items()
    } == EXPECTED["h13_revenue_total"]
    assert total.revenue_by_currency() == {"EUR": Decimal("49.9"), "USD": Decimal("20")}
    assert (
        rows["link#go.example.com/spring-sale"].conversions
        == EXPECTED["h13_conversions_spring_sale"]
    )
    assert (
        rows["audience#pricing-visitors"].conversions
        == EXPECTED["h13_conversions_pricing_visitors"]
    )
    assert rows["campaign#spring"].conversions == {"lead": 1, "purchase": 2}
    assert rows["platform#meta"].conversions == {"lead": 1, "purchase": 2}
    assert "audience#blog-readers" not in rows  # no click, no conversion of its links in 13


def test_platform_events_are_counted_by_outcome(lake, rollup, store):
    rollup.run(now=NOW)

    rows = store.read([H12])[H12]
    assert rows["total"].platform_events == EXPECTED["h12_platform_events_total"]
    assert rows["platform#meta"].platform_events == EXPECTED["h12_platform_events_meta"]
    assert (
        rows["link#go.example.com/spring-sale"].platform_events
        == EXPECTED["h12_platform_events_spring_sale"]
    )
    assert (
        rows["audience#pricing-visitors"].platform_events
        == EXPECTED["h12_platform_events_pricing_visitors"]
    )
    meta = rows["platform#meta"]
    assert (meta.events_sent, meta.events_failed, meta.events_skipped) == (5, 1, 0)
    assert rows["campaign#spring"].events_sent == 8  # 5 sent + 3 dry run


def test_rolling_up_again_gives_identical_stats_items_and_parquet_objects(lake, rollup, names):
    rollup.run(now=NOW)
    items = stats_items(names)
    objects = lake_objects(names, "clicks_parquet/") | lake_objects(names, "conversions_parquet/")

    again = rollup.run(now=NOW, hours=["2026-11-23T12", "2026-11-23T13"], force=True)
    assert [h.status for h in again.hours] == ["rolled", "rolled"]
    assert stats_items(names) == items
    assert (
        lake_objects(names, "clicks_parquet/") | lake_objects(names, "conversions_parquet/")
        == objects
    )
    assert len(objects) == 3  # clicks 12 and 13, conversions 13

    unchanged = rollup.run(now=NOW + dt.timedelta(minutes=5))
    assert unchanged.by_status("rolled") == []
    assert {h.hour for h in unchanged.by_status("unchanged")} == {
        "2026-11-23T12",
        "2026-11-23T13",
    }
    assert stats_items(names) == items


def test_late_clicks_are_counted_once_the_recent_hours_are_rolled_up_again(
    lake, rollup, store, names, tmp_path
):
    rollup.run(now=NOW)
    before = store.read([H12, DAY])

    late = dataset.Clicks(dataset.H12 + dt.timedelta(minutes=50), seed=9)
    late("pricing", "v14")
    late("pricing", "v1")
    late_object = [click_envelope(c) for c in late.made]
    dataset.archive(
        client("s3"),
        client("dynamodb"),
        names.lake_bucket_name(),
        names.click_index_table,
        late_object,
        9 * 10**20,
    )
    report = rollup.run(now=NOW + dt.timedelta(hours=1))  # the schedule, an hour later

    assert "2026-11-23T12" in {h.hour for h in report.by_status("rolled")}
    after = store.read([H12, DAY])
    assert after[H12]["total"].clicks == before[H12]["total"].clicks + 2
    assert after[H12]["total"].visitors == before[H12]["total"].visitors + 1
    assert after[H12]["audience#pricing-visitors"].members == 9
    assert after[DAY]["total"].clicks == before[DAY]["total"].clicks + 2
    assert after[DAY]["audience#pricing-visitors"].members == 10
    body = lake_objects(names, "clicks_parquet/dt=2026-11-23/hour=12/")[CLICKS_12]
    assert parquet(body, tmp_path, "SELECT count(*) FROM t")[0][0] == 26


def test_the_open_hour_has_stats_but_is_compacted_only_once_closed(lake, rollup, store, names):
    now = dataset.H13 + dt.timedelta(minutes=45)  # hour 13 still open
    report = rollup.run(now=now)

    h13 = next(h for h in report.hours if h.hour == "2026-11-23T13")
    assert (h13.status, h13.closed, h13.compacted) == ("rolled", False, False)
    assert store.read([H13])[H13]["total"].clicks == 2
    assert lake_objects(names, "clicks_parquet/dt=2026-11-23/hour=13/") == {}

    closed = rollup.run(now=dataset.H13 + dt.timedelta(hours=1, minutes=5))
    h13 = next(h for h in closed.hours if h.hour == "2026-11-23T13")
    assert (h13.status, h13.closed, h13.compacted) == ("rolled", True, True)
    assert list(lake_objects(names, "clicks_parquet/dt=2026-11-23/hour=13/")) == [
        "clicks_parquet/dt=2026-11-23/hour=13/part-0.parquet"
    ]


def test_an_hour_whose_raw_json_expired_keeps_its_parquet_and_its_stats(lake, rollup, names):
    rollup.run(now=NOW)
    items = stats_items(names)
    parquet_before = lake_objects(names, "clicks_parquet/dt=2026-11-23/hour=12/")
    s3 = client("s3")
    raw = lake_objects(names, "clicks/dt=2026-11-23/hour=12/")
    s3.delete_objects(
        Bucket=names.lake_bucket_name(),
        Delete={"Objects": [{"Key": sorted(raw)[0]}]},  # the lifecycle rule takes one first
    )

    report = rollup.run(now=NOW + dt.timedelta(minutes=10))

    h12 = next(h for h in report.hours if h.hour == "2026-11-23T12")
    assert h12.status == "rolled" and "expired" in h12.note
    assert lake_objects(names, "clicks_parquet/dt=2026-11-23/hour=12/") == parquet_before
    assert stats_items(names) == items


def test_stale_parquet_objects_under_an_hour_are_replaced_not_added_to(lake, rollup, names):
    s3 = client("s3")
    stray = "clicks_parquet/dt=2026-11-23/hour=12/part-1.parquet"
    s3.put_object(Bucket=names.lake_bucket_name(), Key=stray, Body=b"PAR1 from an old run")

    rollup.run(now=NOW)

    assert list(lake_objects(names, "clicks_parquet/dt=2026-11-23/hour=12/")) == [CLICKS_12]


def test_rows_a_rerun_no_longer_produces_are_deleted(lake, rollup, store, names):
    rollup.run(now=NOW)
    assert "audience#blog-readers" in store.read([H12])[H12]
    # The audience goes from the config: re-rolling the hour drops its rows.
    specs = dataset.SPECS
    reduced = type(specs)(
        domains=specs.domains,
        audiences=[a for a in specs.audiences if a["id"] != "blog-readers"],
        links=specs.links,
    )
    from chalicelib.links.plan import make_plan
    from chalicelib.links.store import ConfigStore

    config = ConfigStore(client("dynamodb"), names.links_table)
    config.write(make_plan(reduced, config.read_all(), prune=True).writes())
    fresh = type(rollup)(rollup.lake, store, _catalog_loader(names), workdir=rollup.workdir)

    fresh.run(now=NOW, hours=["2026-11-23T12"], force=True)

    rows = store.read([H12, DAY])
    assert "audience#blog-readers" not in rows[H12]
    assert "audience#blog-readers" not in rows[DAY]


def _catalog_loader(names):
    from chalicelib.links.store import ConfigStore
    from chalicelib.rollup.audiences import Catalog

    return lambda: Catalog.from_live(ConfigStore(client("dynamodb"), names.links_table).read_all())


def test_day_rows_are_merged_from_the_hours_sketches(lake, rollup, store):
    rollup.run(now=NOW)

    rows = store.read([H12, H13, DAY])
    day = rows[DAY]["total"]
    assert (day.clicks, day.human_clicks) == (26, 22)
    assert day.visitors == EXPECTED["day_total"]["visitors"]
    assert day.exact  # 13 visitors: the merged sketch is still in its exact list mode
    merged = merge([rows[H12]["total"], rows[H13]["total"]])
    assert merged.visitors_sketch == day.visitors_sketch
    assert round(sketch.estimate(day.visitors_sketch)) == 13


def test_the_scheduled_function_rolls_up_the_recent_hours(lake, names, store):
    summary = scheduled(names, now=NOW)

    assert summary["rolled"] == ["2026-11-23T13", "2026-11-23T12"]
    assert summary["failed"] == {} and summary["days"] == ["2026-11-23"]
    assert store.read([H12])[H12]["total"].clicks == 24
    assert store.latest_manifest().hour == "2026-11-23T13"
    assert scheduled(names, now=NOW)["rolled"] == []


def test_an_hour_that_has_not_begun_is_refused(rollup):
    with pytest.raises(ValueError, match="has not begun"):
        rollup.run(now=NOW, hours=["2026-11-23T15"])
