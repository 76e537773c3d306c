"""The local worker drives the app's real consumers on moto, as Lambda would in production."""

from __future__ import annotations

import datetime as dt
import gzip
import json

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks.envelope import encode
from infra.provision import load_app
from rebound.worker import LocalWorker, ShardReader
from tests.lake.factories import click


def envelope(record: dict) -> dict:
    return {"kind": "click", "click": record, "ip": "203.0.113.77", "user_agent": "Mozilla/5.0"}


def lake_lines(bucket: str, prefix: str = "clicks/") -> list[dict]:
    s3 = client("s3")
    lines = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        lines += [json.loads(line) for line in gzip.decompress(body).splitlines()]
    return lines


def test_stream_records_reach_the_lake_and_the_index_through_the_archiver(aws):
    names = Names.from_env()
    kinesis = client("kinesis")
    now = dt.datetime.now(dt.UTC)
    records = [click(now), click(now, is_bot=True, visitor_id="v-2")]
    for r in records:
        kinesis.put_record(
            StreamName=names.clicks_stream, Data=encode(envelope(r)), PartitionKey=r["click_id"]
        )
    app_module = load_app()
    worker = LocalWorker(app_module, kinesis, "us-east-1", sqs=client("sqs"))
    consumers = [
        s for s in app_module.app.event_sources if type(s).__name__ == "KinesisEventConfig"
    ]
    assert {c.name for c in consumers} >= {"archiver", "dispatcher"}
    assert worker.tick() == 2 * len(consumers)  # each consumer reads each record
    assert worker.tick() == 0  # and nothing twice

    lines = lake_lines(names.lake_bucket_name())
    assert sorted(x["click_id"] for x in lines) == sorted(r["click_id"] for r in records)
    assert all("ip" not in x for x in lines)
    index = client("dynamodb").scan(TableName=names.click_index_table)["Items"]
    assert [i["click_id"]["S"] for i in index] == [records[0]["click_id"]]  # humans only


def test_fallback_queue_is_republished_then_archived_once(aws):
    names = Names.from_env()
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=names.clicks_fallback_queue)["QueueUrl"]
    record = click(dt.datetime.now(dt.UTC))
    sqs.send_message(QueueUrl=url, MessageBody=encode(envelope(record)).decode())
    worker = LocalWorker(load_app(), client("kinesis"), "us-east-1", sqs=sqs)
    for _ in range(3):
        worker.tick()
    assert [x["click_id"] for x in lake_lines(names.lake_bucket_name())] == [record["click_id"]]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_a_reported_failure_is_re_read_from_the_lowest_failed_sequence_number(aws):
    names = Names.from_env()
    kinesis = client("kinesis")
    for i in range(3):
        kinesis.put_record(StreamName=names.clicks_stream, Data=b'{"n":%d}' % i, PartitionKey="k")
    shard = kinesis.describe_stream(StreamName=names.clicks_stream)["StreamDescription"]["Shards"][
        0
    ]
    reader = ShardReader(kinesis, names.clicks_stream, shard["ShardId"])
    seen: list[list[int]] = []

    def handler(event, context):
        import base64

        batch = [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in event["Records"]]
        seen.append(batch)
        if len(seen) == 1:  # fail the second record once
            return {
                "batchItemFailures": [
                    {"itemIdentifier": event["Records"][1]["kinesis"]["sequenceNumber"]}
                ]
            }
        return {"batchItemFailures": []}

    reader.poll(handler, "arn", "us-east-1", 10)
    reader.poll(handler, "arn", "us-east-1", 10)
    assert seen == [[0, 1, 2], [1, 2]]
    assert reader.poll(handler, "arn", "us-east-1", 10) == 0
