"""Conversion postback: signed postbacks through the Lambda handler vs a bare Chalice function.

Both are invoked in-process with API Gateway REST (v1) proxy events, on moto, with the same boto3
clients, and make the same AWS calls for a postback that names a known click: GetItem on the
click index, the conditional PutItem that claims the event id, one PutRecord. The baseline
(``baseline_app`` below) checks the HMAC and decodes the JSON, and nothing else: no field
validation, normalisation or hashing of the user's email and phone, no attribution window, no
click record lookup into platforms. Every postback carries a new event id (a repeated one would
be answered as a duplicate); the bodies are signed before the timing starts. No budget: issue 9
asks to extend the benchmarks as later issues land, and the figure is here to be watched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from typing import Any

from chalice import Chalice, Response

from bench.apigw import LambdaContext, rest_event
from bench.aws_calls import CallCounter
from bench.figures import Figure, Result, median, percentile
from bench.stack import CHROME, HOST, SLUG, load_app, moto_stack
from bench.timing import alternate
from chalicelib.clicks.envelope import kinesis_event

NAME = "conversions"
TITLE = "Conversion postback: Lambda handler vs bare Chalice function (in-process, moto)"
PARAMS: dict[str, dict[str, int]] = {
    "full": {"postbacks": 1500, "block": 50, "warmup": 100},
    "quick": {"postbacks": 200, "block": 25, "warmup": 25},
    "tiny": {"postbacks": 8, "block": 4, "warmup": 2},
}
PARAMETER = "/rebound/bench/conversion-secret"
SECRET = "whsec_bench_0123456789abcdef"  # noqa: S105 (lives in moto's SSM for the run)
PATH = "/_/conversions"


def run(*, postbacks: int, block: int, warmup: int) -> Result:
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.lake.archive import archive_batch

    started = time.perf_counter()
    result = Result(NAME, TITLE, params={"postbacks": postbacks, "block": block, "warmup": warmup})
    domain = {"conversion_secret": f"ssm:{PARAMETER}", "default_country": "US"}
    with moto_stack(domain=domain):
        client("ssm").put_parameter(Name=PARAMETER, Value=SECRET, Type="SecureString")
        names = Names.from_env()
        module = load_app()
        context = LambdaContext()
        click_id = _click(module, context, names, archive_batch)

        module.conversion_intake.cache_clear()
        intake = module.conversion_intake()
        bare = baseline_app(
            dynamodb=intake.ddb,
            kinesis=intake.publisher.kinesis,
            click_index_table=names.click_index_table,
            state_table=names.state_table,
            stream=names.clicks_stream,
        )
        total = postbacks + warmup
        subject_events = iter(_signed(total, click_id, "s"))
        baseline_events = iter(_signed(total, click_id, "b"))

        counter = CallCounter()
        counter.watch(intake.ddb, intake.publisher.kinesis, intake.publisher.sqs)
        calls: dict[str, list[int]] = {"subject": [], "baseline": []}

        def post(app: Any, events: Iterator[dict[str, Any]], side: str) -> None:
            before = sum(counter.counts.values())
            reply = app(next(events), context)
            calls[side].append(sum(counter.counts.values()) - before)
            if reply["statusCode"] != 202:
                raise RuntimeError(f"{side}: expected a 202, got {reply}")

        s, b = alternate(
            lambda: post(module.app, subject_events, "subject"),
            lambda: post(bare, baseline_events, "baseline"),
            n=postbacks,
            block=block,
            warmup=warmup,
        )
        attributed = json.loads(module.app(_signed(1, click_id, "x")[0], context)["body"])
        module.conversion_intake.cache_clear()
        module.redirect_handler.cache_clear()

    base = "bare Chalice: HMAC + GetItem + PutItem + PutRecord"
    result.figures += [
        Figure("median per postback", median(s), "µs", median(b), base),
        Figure("p99 per postback", percentile(s, 99), "µs", percentile(b, 99), base),
        Figure(
            "Rebound's own time (difference of medians)",
            median(s) - median(b),
            "µs",
            note="signature, validation, hashing, attribution, the conversion record",
        ),
        Figure(
            "AWS calls per postback",
            median(calls["subject"]),
            "calls",
            median(calls["baseline"]),
            "bare Chalice",
            note="click index GetItem, event id PutItem, PutRecord",
        ),
    ]
    result.notes.append(
        f"POST {PATH} on {HOST}: a purchase with value, currency, email and phone for a click "
        f"of /{SLUG} (attributed: {attributed.get('attributed')}); a new event id each time; "
        "the domain's secret from SSM (moto), cached by both. Moto's per-call time is in both."
    )
    result.seconds = time.perf_counter() - started
    return result


def _click(module: Any, context: Any, names: Any, archive_batch: Any) -> str:
    """A redirect's click, archived so that the click index knows it: its click id."""
    from chalicelib.aws.clients import client

    redirect = rest_event(f"/{SLUG}", host=HOST, user_agent=CHROME, query="fbclid=IwAR-bench")
    reply = module.app(redirect, context)
    if reply["statusCode"] != 302:
        raise RuntimeError(f"expected a 302, got {reply}")
    kinesis = client("kinesis")
    shard = kinesis.list_shards(StreamName=names.clicks_stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=names.clicks_stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    stream_arn = kinesis.describe_stream_summary(StreamName=names.clicks_stream)[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    event = kinesis_event(records, shard, stream_arn, "us-east-1")
    archive_batch(
        event,
        s3=client("s3"),
        dynamodb=client("dynamodb"),
        bucket=names.lake_bucket_name(),
        click_index_table=names.click_index_table,
    )
    return json.loads(records[-1]["Data"])["click"]["click_id"]


def _signed(n: int, click_id: str, side: str) -> list[dict[str, Any]]:
    """``n`` postback events, each with its own event id, signed now."""
    events = []
    for i in range(n):
        body = json.dumps(
            {
                "click_id": click_id,
                "event": "purchase",
                "event_id": f"order-{side}-{i}-{os.urandom(4).hex()}",
                "value": 49.9,
                "currency": "EUR",
                "user": {"email": f" Buyer{i}@Example.com ", "phone": "+1 (415) 555-0100"},
            }
        )
        t = int(time.time())
        mac = hmac.new(SECRET.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
        events.append(
            rest_event(
                PATH,
                host=HOST,
                user_agent="merchant-backend/1.0",
                method="POST",
                resource=PATH,
                body=body,
                extra_headers={
                    "Content-Type": "application/json",
                    "Rebound-Signature": f"t={t},v1={mac}",
                },
            )
        )
    return events


def baseline_app(
    *, dynamodb: Any, kinesis: Any, click_index_table: str, state_table: str, stream: str
) -> Chalice:
    """A Chalice app with one route, ``POST /_/conversions``: the signature, the JSON, the same
    three AWS calls, 202."""
    app = Chalice(app_name="rebound-bench-conversions-baseline")

    @app.route(PATH, methods=["POST"], content_types=["application/json"])
    def conversions() -> Response:
        request = app.current_request
        raw = request.raw_body
        parts = dict(p.split("=", 1) for p in request.headers["rebound-signature"].split(","))
        expected = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + raw, hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), parts["v1"]):
            return Response(body='{"error":"signature"}', status_code=401)
        body = json.loads(raw)
        click = dynamodb.get_item(
            TableName=click_index_table, Key={"click_id": {"S": body["click_id"]}}
        ).get("Item")
        now = int(time.time())
        dynamodb.put_item(
            TableName=state_table,
            Item={"pk": {"S": f"bench#{body['event_id']}"}, "expires_at": {"N": str(now)}},
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )
        record = json.dumps({"kind": "conversion", "conversion": body, "click": bool(click)})
        kinesis.put_record(StreamName=stream, Data=record.encode(), PartitionKey=body["event_id"])
        return Response(body='{"accepted":true}', status_code=202)

    return app
