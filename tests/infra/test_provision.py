"""infra/provision.py: the local stack and the tests' `aws` fixture are created from
infra/template.yaml, with every store production has and nothing moto cannot create; each test
gets the freshly provisioned account."""

from __future__ import annotations

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from infra.provision import LOCAL_RESOURCE_TYPES, local_template
from tests.conftest import account_from
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


def test_each_test_starts_from_the_freshly_provisioned_account(aws, provisioned_stack):
    names = Names.from_env()
    client("dynamodb").put_item(
        TableName=names.links_table, Item={"pk": {"S": "link#x"}, "sk": {"S": "spec"}}
    )
    client("s3").put_object(Bucket=aws["LakeBucketName"], Key="raw/x.json", Body=b"{}")
    queue = client("sqs").get_queue_url(QueueName=names.platform_dlq)["QueueUrl"]
    client("sqs").send_message(QueueUrl=queue, MessageBody="{}")
    client("ssm").put_parameter(Name="/t/x", Value="x", Type="SecureString")

    with account_from(provisioned_stack[1]):  # what the next test gets
        assert client("dynamodb").scan(TableName=names.links_table)["Count"] == 0
        assert "Contents" not in client("s3").list_objects_v2(Bucket=aws["LakeBucketName"])
        attributes = client("sqs").get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0"
        assert client("ssm").describe_parameters()["Parameters"] == []
        assert names.links_table in client("dynamodb").list_tables()["TableNames"]
