from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from chalicelib.lake.archive import archive_batch
from rebound import query
from rebound.query import QueryError, list_saved, run_query, sync_lake
from tests.lake import conftest as lake_fixtures
from tests.lake.conftest import BUCKET, NOW, TABLE
from tests.lake.factories import (
    click,
    click_envelope,
    conversion,
    conversion_envelope,
    kinesis_event,
)

# The lake's own fixtures: an empty moto account with its bucket and click-index table.
aws, s3, dynamodb = lake_fixtures.aws, lake_fixtures.s3, lake_fixtures.dynamodb

DAY1 = dt.datetime(2026, 11, 22, 23, 10, tzinfo=dt.UTC)
H12 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
H13 = dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC)
SAVED = [
    "clicks_per_link",
    "funnel",
    "human_vs_bot",
    "top_countries",
    "top_devices",
    "top_referrers",
    "unique_visitors",
    "utm_breakdown",
]


def at(base: dt.datetime, minutes: int) -> dt.datetime:
    return base + dt.timedelta(minutes=minutes)


def build_lake(s3, dynamodb) -> dict[str, list[dict]]:
    """A small lake written by the archiver, in three batches (two shards, three hours)."""
    rng = random.Random(21)
    spring = {"slug": "spring-sale", "campaign": "spring", "rng": rng}
    pricing = {"slug": "pricing", "campaign": "pricing", "country": "FR", "rng": rng}
    a = [  # spring-sale: 6 human clicks by 4 visitors, 3 bots
        click(at(H12, 1), visitor_id="v1", **spring),
        click(at(H12, 2), visitor_id="v1", **spring),
        click(at(H12, 3), visitor_id="v2", device="ios", **spring),
        click(at(H12, 4), visitor_id="v3", referrer_host=None, **spring),
        click(at(H12, 5), visitor_id="bot", is_bot=True, **spring),
        click(at(H12, 6), visitor_id="bot", is_bot=True, **spring),
        click(at(H13, 1), visitor_id="v1", **spring),
        click(at(H13, 2), visitor_id="v4", utm_source="facebook", **spring),
        click(at(H13, 3), visitor_id="bot", is_bot=True, **spring),
    ]
    b = [  # pricing, the day before: 2 humans, 1 bot
        click(at(DAY1, 1), visitor_id="v5", **pricing),
        click(at(DAY1, 2), visitor_id="v6", **pricing),
        click(at(DAY1, 3), visitor_id="bot", is_bot=True, **pricing),
    ]
    c = [  # no campaign, another domain
        click(
            at(H12, 30),
            domain="other.example",
            slug="launch",
            campaign=None,
            visitor_id="v7",
            country="US",
            rng=rng,
        ),
    ]
    conversions = [
        conversion(at(H13, 10), click_id=a[0]["click_id"], event="lead"),
        conversion(at(H13, 11), click_id=a[2]["click_id"], event="lead"),
        conversion(at(H13, 12), click_id=a[0]["click_id"], event="purchase"),
        conversion(at(H13, 13), click_id=b[0]["click_id"], event="lead"),
        conversion(at(H13, 14), click_id=None, event="purchase", event_id="ev-walk-in"),
    ]
    conversions.append(dict(conversions[2]))  # the same purchase archived twice: counts once

    def put(event):
        result = archive_batch(
            event,
            s3=s3,
            dynamodb=dynamodb,
            bucket=BUCKET,
            click_index_table=TABLE,
            now=NOW.timestamp(),
        )
        assert result == {"batchItemFailures": []}

    put(kinesis_event([click_envelope(x) for x in b], shard="shardId-000000000001"))
    put(kinesis_event([click_envelope(x) for x in a + c]))
    put(kinesis_event([conversion_envelope(x) for x in conversions], first_seq=10**30))
    s3.put_object(Bucket=BUCKET, Key="errors/dt=2026-11-23/x.json", Body=b"{}")
    return {"a": a, "b": b, "c": c, "conversions": conversions}


@pytest.fixture
def lake(s3, dynamodb):
    return build_lake(s3, dynamodb)


def rows(s3, tmp_path, *, sql=None, saved=None, **kw) -> list[dict]:
    text = run_query(sql, saved, s3_client=s3, bucket=BUCKET, cache_dir=tmp_path, fmt="json", **kw)
    return json.loads(text)


def test_clicks_per_link_counts_per_day(s3, lake, tmp_path):
    got = rows(s3, tmp_path, saved="clicks_per_link")
    assert got == [
        {
            "dt": "2026-11-23",
            "domain": "go.example.com",
            "slug": "spring-sale",
            "clicks": 9,
            "human_clicks": 6,
            "bot_clicks": 3,
            "unique_visitors": 4,
        },
        {
            "dt": "2026-11-23",
            "domain": "other.example",
            "slug": "launch",
            "clicks": 1,
            "human_clicks": 1,
            "bot_clicks": 0,
            "unique_visitors": 1,
        },
        {
            "dt": "2026-11-22",
            "domain": "go.example.com",
            "slug": "pricing",
            "clicks": 3,
            "human_clicks": 2,
            "bot_clicks": 1,
            "unique_visitors": 2,
        },
    ]


def test_human_vs_bot(s3, lake, tmp_path):
    got = {r["slug"]: r for r in rows(s3, tmp_path, saved="human_vs_bot")}
    assert got["spring-sale"] | {} == {
        "domain": "go.example.com",
        "slug": "spring-sale",
        "clicks": 9,
        "human_clicks": 6,
        "bot_clicks": 3,
        "bot_pct": 33.3,
    }
    assert (got["pricing"]["human_clicks"], got["pricing"]["bot_clicks"]) == (2, 1)
    assert got["launch"]["bot_pct"] == 0


def test_unique_visitors_per_campaign_and_link(s3, lake, tmp_path):
    got = [
        (r["campaign"], r["slug"], r["unique_visitors"], r["human_clicks"])
        for r in rows(s3, tmp_path, saved="unique_visitors")
    ]
    assert got == [
        ("spring", "spring-sale", 4, 6),
        ("pricing", "pricing", 2, 2),
        ("(none)", "launch", 1, 1),
    ]


def test_funnel_joins_conversions_to_the_campaign_of_their_click(s3, lake, tmp_path):
    got = rows(s3, tmp_path, saved="funnel")
    assert [
        (
            r["campaign"],
            r["clicks"],
            r["human_clicks"],
            r["unique_visitors"],
            r["leads"],
            r["purchases"],
        )
        for r in got
    ] == [
        ("spring", 9, 6, 4, 2, 1),
        ("pricing", 3, 2, 2, 1, 0),
        ("(none)", 1, 1, 1, 0, 1),
    ]
    assert got[0]["purchase_pct"] == 25.0


def test_breakdowns(s3, lake, tmp_path):
    countries = rows(s3, tmp_path, saved="top_countries")
    assert [(r["country"], r["human_clicks"]) for r in countries] == [
        ("DE", 6),
        ("FR", 2),
        ("US", 1),
    ]
    assert sum(r["pct"] for r in countries) == pytest.approx(100, abs=0.2)
    devices = rows(s3, tmp_path, saved="top_devices", sync=False)
    assert [(r["device"], r["human_clicks"]) for r in devices] == [("desktop", 8), ("ios", 1)]
    referrers = rows(s3, tmp_path, saved="top_referrers", sync=False)
    assert [(r["referrer_host"], r["human_clicks"]) for r in referrers] == [
        ("news.example", 8),
        ("(direct)", 1),
    ]
    utm = rows(s3, tmp_path, saved="utm_breakdown", sync=False)
    assert [(r["utm_source"], r["human_clicks"]) for r in utm] == [
        ("newsletter", 8),
        ("facebook", 1),
    ]


@pytest.mark.parametrize("name", SAVED)
def test_saved_queries_run_unchanged_and_transpiled_alike(s3, lake, tmp_path, name):
    unchanged = rows(s3, tmp_path, saved=name, dialect="duckdb")
    transpiled = rows(s3, tmp_path, saved=name, dialect="athena", sync=False)
    assert unchanged == transpiled
    assert unchanged


def test_every_saved_query_runs_on_an_empty_lake(s3, tmp_path):
    for name in SAVED:
        assert rows(s3, tmp_path, saved=name) == []
    table = run_query(saved="funnel", s3_client=s3, bucket=BUCKET, cache_dir=tmp_path, width=200)
    assert "purchase_pct" in table
    assert "0 rows" in table


def test_list_saved_names_and_describes_each_query():
    saved = list_saved()
    assert [q.name for q in saved] == SAVED
    assert all(q.description and not q.description.startswith("-") for q in saved)


def test_unknown_saved_query_lists_the_available_ones(s3, tmp_path):
    with pytest.raises(QueryError) as err:
        run_query(saved="nope", s3_client=s3, bucket=BUCKET, cache_dir=tmp_path)
    assert str(err.value) == f"no saved query named 'nope'; available: {', '.join(SAVED)}"


def test_sql_errors_are_plain_messages(s3, lake, tmp_path):
    with pytest.raises(QueryError, match=r"^query failed: .*no_such_column"):
        rows(s3, tmp_path, sql="SELECT no_such_column FROM clicks_raw")
    with pytest.raises(QueryError, match=r"^query failed: "):
        rows(s3, tmp_path, sql="SELEC 1", sync=False)
    with pytest.raises(QueryError, match="either SQL or"):
        run_query("SELECT 1", "funnel", s3_client=s3, bucket=BUCKET, cache_dir=tmp_path)


def test_a_missing_bucket_is_a_plain_message(s3, tmp_path):
    with pytest.raises(QueryError, match="cannot list the lake bucket nope-bucket: NoSuchBucket"):
        run_query("SELECT 1", s3_client=s3, bucket="nope-bucket", cache_dir=tmp_path)


def test_athena_sql_is_transpiled(s3, lake, tmp_path):
    got = rows(
        s3,
        tmp_path,
        sql="SELECT approx_distinct(visitor_id) AS v, "
        "min(date_format(from_iso8601_timestamp(ts), '%Y-%m-%d %H')) AS first_hour, "
        "max(cardinality(platforms)) AS p "
        "FROM rebound.clicks_raw WHERE NOT is_bot",
    )
    assert got == [{"v": 7, "first_hour": "2026-11-22 23", "p": 2}]


def test_views_have_every_column_typed_with_partitions_last(s3, lake, tmp_path):
    got = rows(s3, tmp_path, sql="SELECT * FROM clicks_raw WHERE slug = 'launch'")
    (launch,) = got
    assert launch == lake["c"][0] | {"dt": "2026-11-23", "hour": "12"}
    (conv,) = rows(s3, tmp_path, sql="SELECT count(*) AS n FROM conversions_raw", sync=False)
    assert conv == {"n": 6}


def test_sync_is_incremental_and_mirrors_deletions(s3, dynamodb, lake, tmp_path):
    first = sync_lake(s3, BUCKET, tmp_path)
    assert (first.listed, first.downloaded, first.deleted) == (5, 5, 0)  # not errors/

    again = sync_lake(s3, BUCKET, tmp_path)
    assert (again.listed, again.downloaded, again.deleted) == (5, 0, 0)

    late = click(at(H13, 50), visitor_id="v9", rng=random.Random(1))
    archive_batch(
        kinesis_event([click_envelope(late)], first_seq=10**31),
        s3=s3,
        dynamodb=dynamodb,
        bucket=BUCKET,
        click_index_table=TABLE,
        now=NOW.timestamp(),
    )
    gone = next(k for k in (tmp_path / BUCKET / "clicks").rglob("*.gz"))
    s3.delete_object(Bucket=BUCKET, Key=str(gone.relative_to(tmp_path / BUCKET)))

    third = sync_lake(s3, BUCKET, tmp_path)
    assert (third.listed, third.downloaded, third.deleted) == (5, 1, 1)
    assert not gone.exists()


def test_parquet_tables_read_what_the_rollup_writes(s3, lake, tmp_path):
    import duckdb

    sync_lake(s3, BUCKET, tmp_path)
    con = query.connect(tmp_path / BUCKET)
    out = tmp_path / "rollup.parquet"
    hour_12 = "SELECT * EXCLUDE (dt, hour) FROM clicks_raw WHERE dt = '2026-11-23' AND hour = '12'"
    con.execute(f"COPY ({hour_12}) TO '{out}' (FORMAT parquet)")
    con.close()
    s3.upload_file(str(out), BUCKET, "clicks_parquet/dt=2026-11-23/hour=12/part-0.parquet")

    got = rows(s3, tmp_path, sql="SELECT hour, count(*) AS n FROM clicks GROUP BY hour")
    assert got == [{"hour": "12", "n": 7}]
    assert rows(s3, tmp_path, sql="SELECT count(*) AS n FROM conversions", sync=False) == [{"n": 0}]
    assert duckdb  # imported for the COPY above


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_table_and_csv_are_readable(s3, lake, tmp_path, fmt):
    text = run_query(
        saved="human_vs_bot", s3_client=s3, bucket=BUCKET, cache_dir=tmp_path, fmt=fmt, width=120
    )
    assert "spring-sale" in text
    if fmt == "csv":
        assert text.splitlines()[0] == "domain,slug,clicks,human_clicks,bot_clicks,bot_pct"
    else:
        assert "3 rows" in text and "\x1b[" not in text


def test_values_that_look_like_markup_are_shown_as_data(s3, lake, tmp_path):
    text = run_query(
        "SELECT '[bold]x[/bold]' AS v", s3_client=s3, bucket=BUCKET, cache_dir=tmp_path, sync=False
    )
    assert "[bold]x[/bold]" in text
