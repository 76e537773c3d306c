"""Archiver throughput: Kinesis batches → gzip JSON lines in S3 (+ the click index), on moto.

``archive_batch`` (decode, validate, group, gzip, PutObject, BatchWriteItem for human clicks) and
its pure half ``plan_batch`` are compared with the least any archiver must do: ``json.dumps`` +
gzip of the same click records. Batches of 500 records (the archiver's batch size in app.py),
four in five human; subject and baseline alternate batch by batch.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

from bench.clicks import FIRST_SEQ, envelopes, kinesis_event
from bench.figures import Figure, Result, median
from bench.stack import moto_stack

NAME = "archiver"
TITLE = "Archiver: clicks per second, Kinesis batch → gzip objects in S3 (moto)"
PARAMS: dict[str, dict[str, int]] = {
    "full": {"batches": 24, "batch_size": 500},
    "quick": {"batches": 4, "batch_size": 500},
    "tiny": {"batches": 1, "batch_size": 20},
}
BASELINE = "json.dumps + gzip of the same records"


def baseline(records: list[dict[str, Any]]) -> bytes:
    """What any archiver must do: one JSON line per record, gzipped."""
    text = "\n".join(json.dumps(r) for r in records) + "\n"
    return gzip.compress(text.encode(), compresslevel=6)


def run(*, batches: int, batch_size: int) -> Result:
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.lake.archive import archive_batch, plan_batch

    started = time.perf_counter()
    result = Result(NAME, TITLE, params={"batches": batches, "batch_size": batch_size})
    rates: dict[str, list[float]] = {"archive": [], "plan": [], "baseline": []}
    with moto_stack():
        names = Names.from_env()
        s3, ddb = client("s3"), client("dynamodb")
        bucket = names.lake_bucket_name()

        def archive(event: dict[str, Any]) -> None:
            reply = archive_batch(
                event, s3=s3, dynamodb=ddb, bucket=bucket, click_index_table=names.click_index_table
            )
            if reply["batchItemFailures"]:
                raise RuntimeError(f"archive_batch reported failures: {reply}")

        for i in range(batches + 1):  # the first batch warms up (clients, thread pool)
            items = envelopes(batch_size, seed=i)
            event = kinesis_event(items, first_seq=FIRST_SEQ + i * batch_size)
            records = [e["click"] for e in items]
            steps = [
                ("archive", lambda event=event: archive(event)),
                ("plan", lambda event=event: plan_batch(event)),
                ("baseline", lambda records=records: baseline(records)),
            ]
            for key, step in steps if i % 2 else reversed(steps):
                t0 = time.perf_counter()
                step()
                if i:
                    rates[key].append(batch_size / (time.perf_counter() - t0))
        written = len(s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    base = median(rates["baseline"])
    result.figures += [
        Figure(
            "archive_batch: S3 objects + click index (moto)",
            median(rates["archive"]),
            "clicks/s",
            base,
            BASELINE,
        ),
        Figure(
            "plan_batch: decode, validate, group, gzip (no I/O)",
            median(rates["plan"]),
            "clicks/s",
            base,
            BASELINE,
        ),
    ]
    result.notes.append(
        f"Median over {batches} batches of {batch_size}; {written} objects written. "
        "Ratio < 1: slower than the baseline. archive_batch includes moto's S3 PutObject and "
        "DynamoDB BatchWriteItem (25 items a call, up to 8 in parallel)."
    )
    result.seconds = time.perf_counter() - started
    return result
