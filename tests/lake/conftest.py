from __future__ import annotations

import datetime as dt

import boto3
import pytest
from moto import mock_aws

BUCKET = "rebound-test-lake-123456789012"
TABLE = "rebound-test-click-index"
# A fixed "now" a little after the clicks the tests make (2026-11-23 12:00-13:59 UTC).
NOW = dt.datetime(2026, 11, 23, 14, 30, tzinfo=dt.UTC)


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def dynamodb(aws):
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "click_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "click_id", "KeyType": "HASH"}],
    )
    return client
