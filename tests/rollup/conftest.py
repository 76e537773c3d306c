from __future__ import annotations

from typing import Any

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.links.store import ConfigStore
from chalicelib.rollup.audiences import Catalog
from chalicelib.rollup.lake import S3Lake
from chalicelib.rollup.run import Rollup
from chalicelib.rollup.store import StatsStore
from tests.rollup import dataset


@pytest.fixture
def names(aws) -> Names:
    return Names.from_env()


@pytest.fixture
def lake(aws, names) -> dict[str, Any]:
    """The known lake (tests/rollup/dataset.py) on moto, and its config applied."""
    ddb = client("dynamodb")
    dataset.apply_config(ddb, names.links_table)
    return dataset.write_lake(client("s3"), ddb, names.lake_bucket_name(), names.click_index_table)


@pytest.fixture
def store(names) -> StatsStore:
    return StatsStore(client("dynamodb"), names.stats_table)


@pytest.fixture
def rollup(names, store, tmp_path) -> Rollup:
    ddb = client("dynamodb")
    return Rollup(
        S3Lake(client("s3"), names.lake_bucket_name()),
        store,
        lambda: Catalog.from_live(ConfigStore(ddb, names.links_table).read_all()),
        workdir=tmp_path,
    )


def stats_items(names: Names) -> list[dict[str, Any]]:
    """Every stats row in the table (not the rollup's manifests), in key order."""
    ddb = client("dynamodb")
    items, kwargs = [], {"TableName": names.stats_table}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    rows = [i for i in items if i["pk"]["S"] not in ("rollup", "readiness")]
    return sorted(rows, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def lake_objects(names: Names, prefix: str) -> dict[str, bytes]:
    s3 = client("s3")
    bucket = names.lake_bucket_name()
    found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in found}
