"""The local stack is created from infra/template.yaml: every store production has, nothing moto
cannot create."""

from __future__ import annotations

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from infra.provision import LOCAL_RESOURCE_TYPES, local_template
from tests.infra.templates import of_type, resources


def test_local_template_keeps_every_store_and_drops_the_rest():
    local = local_template()
    kept = set(local["Resources"])
    stores = {
        name for name, body in resources().items() if body.get("Type") in LOCAL_RESOURCE_TYPES
    }
    assert kept == stores
    assert len(stores) >= 10
    assert "Transform" not in local and "Rules" not in local
    assert not any(key.startswith("Fn::") for key in local["Resources"])
    assert set(local["Parameters"]) >= {"Stage"}


def test_local_stack_gets_every_table_stream_bucket_and_queue(aws):
    names = Names.from_env()
    tables = {
        sub["Properties"]["TableName"]["Fn::Sub"].replace("${Stage}", names.stage)
        for sub in of_type("AWS::DynamoDB::Table").values()
    }
    assert tables <= set(client("dynamodb").list_tables()["TableNames"])
    assert {
        names.links_table,
        names.state_table,
        names.click_index_table,
        names.stats_table,
    } <= tables

    summary = client("kinesis").describe_stream_summary(StreamName=names.clicks_stream)
    assert summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"

    queues = {
        q["Properties"]["QueueName"]["Fn::Sub"].replace("${Stage}", names.stage)
        for q in of_type("AWS::SQS::Queue").values()
    }
    urls = client("sqs").list_queues()["QueueUrls"]
    assert queues == {url.rsplit("/", 1)[-1] for url in urls}
    assert {names.clicks_fallback_queue, names.platform_dlq} <= queues

    bucket = aws["LakeBucketName"]
    assert bucket == names.lake_bucket_name()
    client("s3").head_bucket(Bucket=bucket)
    assert set(aws) >= {"LinksTableName", "ClicksStreamName", "LakeBucketName"}
