"""The rollup after a fault in its last steps: the next scheduled run must finish the job.

Found by the fault matrix: an hour's manifest was written before its day's rows, so when the
day roll failed (a throttled Query or BatchWriteItem) or the process died after the manifest,
the next run found the hour unchanged and never wrote the day's rows again.
"""

from __future__ import annotations

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.rollup.run import Rollup
from tests.faults.injector import Arm, Injector, ProcessDied
from tests.rollup import dataset


def stats_rows(names: Names) -> list[dict]:
    ddb, items, kwargs = client("dynamodb"), [], {"TableName": names.stats_table}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(
                (i for i in items if i["pk"]["S"] != "rollup"),
                key=lambda i: (i["pk"]["S"], i["sk"]["S"]),
            )
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def forget_the_rollup(names: Names) -> None:
    ddb = client("dynamodb")
    for page in ddb.get_paginator("scan").paginate(TableName=names.stats_table):
        for item in page["Items"]:
            ddb.delete_item(TableName=names.stats_table, Key={"pk": item["pk"], "sk": item["sk"]})


@pytest.mark.parametrize("fault", ["throttle", "crash"])
@pytest.mark.parametrize("operation", ["Query", "BatchWriteItem"])
def test_a_failed_day_roll_is_redone_by_the_next_run(aws, tmp_path, fault, operation):
    names = Names.from_env()
    dataset.apply_config(client("dynamodb"), names.links_table)
    dataset.write_lake(
        client("s3"), client("dynamodb"), names.lake_bucket_name(), names.click_index_table
    )
    injector = Injector()

    def run() -> None:
        with injector.active("rollup"):
            Rollup.for_names(names, workdir=tmp_path).run(now=dataset.NOW, lookback=2)

    run()  # fault-free: the reference, and how often each site is called
    reference = stats_rows(names)
    last = max(
        (site for site in injector.calls if site.operation == operation),
        key=lambda site: injector.order.index(site),
    )
    forget_the_rollup(names)
    # The day's rows are the run's last read and last write.
    injector.arm([Arm(last, fault, injector.calls[last])])
    with pytest.raises((ProcessDied, Exception)):
        run()
    assert injector.all_fired()
    injector.arm([])
    run()  # the next scheduled run
    assert stats_rows(names) == reference
