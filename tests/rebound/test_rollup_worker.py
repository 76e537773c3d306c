"""The local worker's every-minute schedule runs the real rollup end to end on moto: clicks put on
the stream are archived, rolled up into the stats table, and `rebound stats` reads them."""

from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks.envelope import encode
from chalicelib.rollup.hours import hour_key
from chalicelib.rollup.metrics import hour_period
from chalicelib.rollup.store import StatsStore
from infra.provision import load_app
from rebound import cli
from rebound.worker import LocalWorker
from tests.rollup import dataset


def envelope(record: dict) -> dict:
    return {"kind": "click", "click": record, "ip": "203.0.113.77", "user_agent": "Mozilla/5.0"}


def test_the_workers_schedule_rolls_up_archived_clicks_into_stats(aws):
    names = Names.from_env()
    dataset.apply_config(client("dynamodb"), names.links_table)
    now = dt.datetime.now(dt.UTC)
    make = dataset.Clicks(now.replace(minute=0, second=0, microsecond=0))
    make("spring-sale", "v1")
    make("spring-sale", "v1")
    make("spring-sale", "v2", denied=True)
    make("pricing", "v3")
    make("blog", "b1", bot=True)
    kinesis = client("kinesis")
    for record in make.made:
        kinesis.put_record(
            StreamName=names.clicks_stream,
            Data=encode(envelope(record)),
            PartitionKey=record["click_id"],
        )
    worker = LocalWorker(load_app(), kinesis, "us-east-1", sqs=client("sqs"))
    assert any(s.name == "rollup" for s in worker._sources("ScheduledEventConfig"))
    while worker.tick():  # the archiver (and the dispatcher) take the records
        pass

    worker.run_schedules()  # what the worker does every minute

    store = StatsStore(client("dynamodb"), names.stats_table)
    hour = hour_key(dt.datetime.fromisoformat(make.made[0]["ts"].replace("Z", "+00:00")))
    rows = store.read([hour_period(hour)])[hour_period(hour)]
    total = rows["total"]
    assert (total.clicks, total.human_clicks, total.bot_clicks, total.visitors) == (5, 4, 1, 3)
    assert rows["link#go.example.com/spring-sale"].clicks == 3
    assert rows["audience#pricing-visitors"].members == 2  # v1, v3: v2 denied consent
    assert store.latest_manifest().hour == hour
    if hour == hour_key(dt.datetime.now(dt.UTC)):  # still open: stats now, Parquet once closed
        parquet = client("s3").list_objects_v2(
            Bucket=names.lake_bucket_name(), Prefix="clicks_parquet/"
        )
        assert "Contents" not in parquet

    result = CliRunner().invoke(cli.main, ["stats", "--json", "--since", "2h"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["focus"][0]["clicks"] == 5
    assert report["rolled_up"]["hour"] == hour

    # A minute later nothing changed in the lake: the hour is left as it is.
    before = store.read([hour_period(hour)])
    worker.run_schedules()
    assert store.read([hour_period(hour)]) == before
