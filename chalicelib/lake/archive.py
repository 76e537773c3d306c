"""The archiver: Kinesis "clicks" stream → S3 lake (+ click index for human clicks).

``lake/plan.py`` decides what to write (pure, tested and benchmarked without AWS); this module
writes it: the objects to S3 and the index items to DynamoDB, concurrently, and answers Lambda
with the records to retry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.calls import batch_write
from chalicelib.clicks.envelope import batch_failures
from chalicelib.lake.plan import plan_batch

log = logging.getLogger(__name__)

INDEX_BATCH_SIZE = 25  # BatchWriteItem's limit
INDEX_ATTEMPTS = 5  # calls per chunk while DynamoDB leaves UnprocessedItems
_MAX_WORKERS = 8


def archive_batch(
    event: Mapping[str, Any],
    *,
    s3: Any,
    dynamodb: Any,
    bucket: str,
    click_index_table: str,
    now: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, list[dict[str, str]]]:
    """Archive one Lambda Kinesis batch; return ``{"batchItemFailures": [...]}``.

    ``s3`` and ``dynamodb`` are low-level boto3 clients. Nothing raises for an AWS failure: the
    records whose objects (or index items) could not be written are reported, so that Lambda
    (with ``FunctionResponseTypes: [ReportBatchItemFailures]``) retries from the lowest of them.
    """
    plan = plan_batch(event, now=now)
    failed: set[int] = set()  # positions in plan.objects

    def put(position: int) -> None:
        obj = plan.objects[position]
        try:
            s3.put_object(Bucket=bucket, Key=obj.key, Body=obj.body, ContentType=obj.content_type)
        except (BotoCoreError, ClientError) as exc:
            log.warning("lake put failed: s3://%s/%s: %s", bucket, obj.key, exc)
            failed.add(position)

    # The same click twice in a batch (a producer retry) is one item: BatchWriteItem refuses
    # duplicate keys within a call.
    by_click: dict[str, dict[str, Any]] = {}
    owners: dict[str, list[int]] = {}
    for entry in plan.index:
        by_click[entry.click_id] = entry.item
        owners.setdefault(entry.click_id, []).append(entry.object_index)
    items = list(by_click.values())
    chunks = [items[i : i + INDEX_BATCH_SIZE] for i in range(0, len(items), INDEX_BATCH_SIZE)]

    def index(chunk: list[dict[str, Any]]) -> None:
        for click_id in _write_index(dynamodb, click_index_table, chunk, sleep):
            failed.update(owners[click_id])

    tasks: list[Callable[[], None]] = [partial(put, p) for p in range(len(plan.objects))]
    tasks += [partial(index, c) for c in chunks]
    _run_all(tasks)

    failures = sorted(
        (seq for position in failed for seq in plan.objects[position].sequence_numbers),
        key=int,
    )
    written = [o for i, o in enumerate(plan.objects) if i not in failed]
    log.info(
        "archived %d records in %d objects (%d errors), %d index items, %d records failed",
        sum(o.records for o in written),
        sum(1 for o in written if o.records),
        sum(1 for o in written if not o.records),
        len(items),
        len(failures),
    )
    return batch_failures(failures)


def _write_index(
    dynamodb: Any, table: str, items: list[dict[str, Any]], sleep: Callable[[float], None]
) -> list[str]:
    """Put up to 25 items, retrying UnprocessedItems a bounded number of times.

    Returns the click ids that are still not written (all of the chunk's when a call fails)."""
    requests = [{"PutRequest": {"Item": item}} for item in items]
    try:
        left = batch_write(dynamodb, table, requests, attempts=INDEX_ATTEMPTS, sleep=sleep)
    except (BotoCoreError, ClientError) as exc:
        log.warning("click index write failed: %s", exc)
        left = requests
    else:
        if left:
            log.warning("click index: %d items still unprocessed", len(left))
    return [r["PutRequest"]["Item"]["click_id"]["S"] for r in left]


_executor: ThreadPoolExecutor | None = None


def _run_all(tasks: Iterable[Callable[[], None]]) -> None:
    """Run I/O tasks concurrently (boto3 clients are thread-safe); one task runs inline."""
    global _executor
    tasks = list(tasks)
    if len(tasks) <= 1:
        for task in tasks:
            task()
        return
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_MAX_WORKERS, thread_name_prefix="archive")
    for future in [_executor.submit(task) for task in tasks]:
        future.result()
