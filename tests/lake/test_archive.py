from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import random
import threading

from botocore.exceptions import ClientError

from chalicelib.clicks.index import TTL_SECONDS
from chalicelib.lake.archive import INDEX_ATTEMPTS, archive_batch
from chalicelib.lake.schema import CLICK_COLUMNS
from tests.lake.conftest import BUCKET, NOW, TABLE
from tests.lake.factories import (
    BASE_SEQ,
    H12,
    H13,
    IP,
    UA,
    click,
    click_envelope,
    conversion,
    conversion_envelope,
    kinesis_event,
    mixed_batch,
)


def run(event, s3, dynamodb, **kw):
    return archive_batch(
        event,
        s3=s3,
        dynamodb=dynamodb,
        bucket=BUCKET,
        click_index_table=TABLE,
        now=NOW.timestamp(),
        sleep=lambda _: None,
        **kw,
    )


def objects(s3) -> dict[str, bytes]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            found[item["Key"]] = body
    return found


def lines(body: bytes) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def key(prefix: str, hour: str, seq_offset: int) -> str:
    return (
        f"{prefix}/dt=2026-11-23/hour={hour}/shardId-000000000000-{BASE_SEQ + seq_offset}.json.gz"
    )


def test_mixed_batch_lands_in_event_hour_partitions_with_every_field(s3, dynamodb):
    clicks, conv, event = mixed_batch()

    assert run(event, s3, dynamodb) == {"batchItemFailures": []}

    stored = objects(s3)
    assert sorted(stored) == sorted(
        [key("clicks", "12", 0), key("clicks", "13", 4), key("conversions", "13", 6)]
    )
    assert lines(stored[key("clicks", "12", 0)]) == clicks[:4]
    assert lines(stored[key("clicks", "13", 4)]) == clicks[4:]
    assert lines(stored[key("conversions", "13", 6)]) == [conv]
    for record in lines(stored[key("clicks", "12", 0)]):
        assert list(record) == [c.name for c in CLICK_COLUMNS]


def test_no_lake_object_holds_the_full_ip_or_user_agent(s3, dynamodb):
    rng = random.Random(5)
    leaky = click(H12, rng=rng, ip=IP, user_agent=UA)  # a producer bug: must still be stripped
    bad_ts = click_envelope(click(H12, rng=rng, ts="yesterday"))
    truncated = json.dumps(click_envelope(click(H12, rng=rng)))[:-40].encode()
    ipv6 = click_envelope(click(H13, rng=rng), ip="2001:db8:85a3::8a2e:370:7334")
    postback = conversion(H13, click_id=None, event="lead", client_ip_address=IP)
    bad_postback = conversion_envelope(dict(postback, ts=None))
    event = kinesis_event(
        [
            click_envelope(leaky),
            bad_ts,
            truncated,
            ipv6,
            conversion_envelope(postback),
            bad_postback,
        ]
    )

    assert run(event, s3, dynamodb) == {"batchItemFailures": []}

    stored = objects(s3)
    assert sum(k.startswith("errors/") for k in stored) == 3
    for k, body in stored.items():
        if k.endswith(".gz"):
            text = gzip.decompress(body).decode()
            for record in lines(body):
                assert not {"ip", "user_agent"} & set(record)
        else:
            doc = json.loads(body)
            text = body.decode() + base64.b64decode(doc["data"]).decode(errors="replace")
        for secret in (IP, UA, "2001:db8:85a3::8a2e:370:7334"):
            assert secret not in text, (k, secret)


def test_replayed_batch_overwrites_the_same_keys(s3, dynamodb):
    _, _, event = mixed_batch()
    run(event, s3, dynamodb)
    first = objects(s3)

    run(event, s3, dynamodb)

    assert objects(s3) == first  # same keys, same bytes: nothing duplicated


class FailingS3:
    """The real (moto) client, except that puts of matching keys fail."""

    def __init__(self, client, fails_when):
        self.client = client
        self.fails_when = fails_when

    def put_object(self, **kw):
        if self.fails_when(kw["Key"]):
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "PutObject")
        return self.client.put_object(**kw)


def test_s3_failure_reports_the_group_and_a_retry_rebuilds_the_same_keys(s3, dynamodb):
    rng = random.Random(9)
    # hours interleave: 12, 12, 13, 13, 12 (a late click) → three runs
    batch = [
        click(H12, rng=rng),
        click(H12, rng=rng),
        click(H13, rng=rng),
        click(H13, rng=rng),
        click(H12 + dt.timedelta(minutes=1), rng=rng),
    ]
    event = kinesis_event([click_envelope(c) for c in batch])

    result = run(event, FailingS3(s3, lambda k: "hour=13" in k), dynamodb)

    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": str(BASE_SEQ + 2)},
            {"itemIdentifier": str(BASE_SEQ + 3)},
        ]
    }
    assert sorted(objects(s3)) == [key("clicks", "12", 0), key("clicks", "12", 4)]

    # Lambda retries from the lowest reported sequence number.
    retry = {"Records": event["Records"][2:]}
    assert run(retry, s3, dynamodb) == {"batchItemFailures": []}

    stored = objects(s3)
    assert sorted(stored) == [
        key("clicks", "12", 0),
        key("clicks", "12", 4),
        key("clicks", "13", 2),
    ]
    archived = [r["click_id"] for body in stored.values() for r in lines(body)]
    assert sorted(archived) == sorted(c["click_id"] for c in batch)


def test_poison_records_go_to_errors_with_their_reason_and_the_rest_lands(s3, dynamodb):
    rng = random.Random(11)
    good = [click(H12, rng=rng), click(H12, rng=rng)]
    missing = click(H12, rng=rng)
    del missing["is_bot"]
    poison = [
        "not base64!",
        b"{not json",
        {"kind": "click", "click": missing},
        {"kind": "pageview", "pageview": {}},
        click_envelope(click(H12, rng=rng, ts="2026-11-23 12:00")),
        click_envelope(click(H12, rng=rng, ts="2027-06-01T00:00:00.000Z")),
        click_envelope(click(H12, rng=rng, schema=2)),
        click_envelope(click(H12, rng=rng, status=float("nan"))),
        b"[" * 100_000,
    ]
    event = kinesis_event([click_envelope(good[0]), *poison, click_envelope(good[1])])

    assert run(event, s3, dynamodb) == {"batchItemFailures": []}

    stored = objects(s3)
    errors = {k: json.loads(v) for k, v in stored.items() if k.startswith("errors/")}
    reasons = [doc["reason"] for _, doc in sorted(errors.items())]
    assert reasons == [
        "data is not valid base64",
        "data is not valid JSON",
        "click is missing is_bot",
        'unknown kind "pageview"',
        'ts has no time zone: "2026-11-23 12:00"',
        'ts is in the future: "2027-06-01T00:00:00.000Z"',
        "unsupported click schema 2",
        "click cannot be written as JSON (NaN, Infinity or too deep)",
        "data is not valid JSON",
    ]
    day = dt.datetime.fromtimestamp(1_795_000_000, dt.UTC).strftime("%Y-%m-%d")
    assert all(k.startswith(f"errors/dt={day}/shardId-000000000000-") for k in errors)
    # nothing is lost: the raw data is kept (here it held no IP, so it is kept byte for byte)
    by_seq = {doc["sequence_number"]: doc for doc in errors.values()}
    for record in event["Records"][1:-1]:
        assert (
            by_seq[record["kinesis"]["sequenceNumber"]]["data"] == record["kinesis"]["data"]
            or (by_seq[record["kinesis"]["sequenceNumber"]]["redacted"])
        )
    assert by_seq[str(BASE_SEQ + 1)]["data"] == "not base64!"
    archived = [r for k, v in stored.items() if k.endswith(".gz") for r in lines(v)]
    assert archived == good


def test_ts_with_an_offset_is_partitioned_in_utc(s3, dynamodb):
    late_evening = click(H12, ts="2026-11-23T01:30:00+02:00")
    run(kinesis_event([click_envelope(late_evening)]), s3, dynamodb)
    assert list(objects(s3)) == [
        f"clicks/dt=2026-11-22/hour=23/shardId-000000000000-{BASE_SEQ}.json.gz"
    ]


def index_items(dynamodb) -> list[dict]:
    return dynamodb.scan(TableName=TABLE)["Items"]


def test_click_index_holds_human_clicks_only_with_a_90_day_ttl_and_no_ip(s3, dynamodb):
    clicks, _, event = mixed_batch()

    run(event, s3, dynamodb)

    items = {i["click_id"]["S"]: i for i in index_items(dynamodb)}
    humans = [c for c in clicks if not c["is_bot"]]
    assert sorted(items) == sorted(c["click_id"] for c in humans)
    for c in humans:
        item = items[c["click_id"]]
        clicked = dt.datetime.fromisoformat(c["ts"]).timestamp()
        assert int(item["expires_at"]["N"]) == int(clicked) + TTL_SECONDS
        assert abs(int(item["expires_at"]["N"]) - (NOW.timestamp() + 90 * 86400)) < 3 * 3600
        assert item["ts"] == {"S": c["ts"]}
        assert item["user_agent"] == {"S": UA}
        assert item["ip_prefix"] == {"S": "203.0.113.0/24"}
        assert item["click_ids"] == {"M": {"fbclid": {"S": "IwAR-fb-1"}}}
        assert item["platforms"] == {"L": [{"S": "meta"}, {"S": "tiktok"}]}
        assert item["visitor_id"] == {"S": c["visitor_id"]}
        assert item["consent"] == {"S": "granted"}
        if c.get("country"):  # the default region for a conversion's phone number
            assert item["country"] == {"S": c["country"]}
        assert {"domain", "slug", "campaign"} <= set(item)
        assert "ip" not in item
        assert IP not in json.dumps(item)


def test_the_same_click_twice_in_a_batch_is_one_index_item(s3, dynamodb):
    once = click(H12)
    event = kinesis_event([click_envelope(once), click_envelope(once)])
    assert run(event, s3, dynamodb) == {"batchItemFailures": []}
    assert len(index_items(dynamodb)) == 1


class FlakyDynamoDB:
    """Leaves every item unprocessed for the first `flaky_calls` calls (calls come from threads)."""

    def __init__(self, flaky_calls: int):
        self.flaky_calls = flaky_calls
        self.calls: list[int] = []
        self.written: list[str] = []
        self.lock = threading.Lock()

    def batch_write_item(self, RequestItems):
        (requests,) = RequestItems.values()
        with self.lock:
            self.calls.append(len(requests))
            if len(self.calls) <= self.flaky_calls:
                return {"UnprocessedItems": RequestItems}
            self.written += [r["PutRequest"]["Item"]["click_id"]["S"] for r in requests]
        return {"UnprocessedItems": {}}


def many_humans(n: int) -> dict:
    rng = random.Random(13)
    return kinesis_event(
        [click_envelope(click(H12 + dt.timedelta(seconds=i), rng=rng)) for i in range(n)]
    )


def test_index_writes_go_25_at_a_time_and_unprocessed_items_are_retried(s3):
    dynamodb = FlakyDynamoDB(flaky_calls=2)
    event = many_humans(60)

    assert run(event, s3, dynamodb) == {"batchItemFailures": []}

    assert len(dynamodb.calls) == 3 + 2 and max(dynamodb.calls) == 25
    assert sorted(dynamodb.written) == sorted(
        json.loads(base64.b64decode(r["kinesis"]["data"]))["click"]["click_id"]
        for r in event["Records"]
    )


def test_index_items_still_unprocessed_after_bounded_retries_are_reported(s3):
    dynamodb = FlakyDynamoDB(flaky_calls=1000)
    event = many_humans(3)

    result = run(event, s3, dynamodb)

    assert dynamodb.calls == [3] * INDEX_ATTEMPTS
    assert result == {
        "batchItemFailures": [{"itemIdentifier": str(BASE_SEQ + i)} for i in range(3)]
    }


def test_an_empty_event_writes_nothing(s3, dynamodb):
    assert run({"Records": []}, s3, dynamodb) == {"batchItemFailures": []}
    assert objects(s3) == {}


def test_device_os_and_browser_left_empty_by_the_redirect_are_filled_in_from_the_envelope(
    s3, dynamodb
):
    rng = random.Random(11)
    when = NOW - dt.timedelta(minutes=5)
    empty = {"device": None, "os": None, "browser": None}
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
    tablet = click_envelope(click(when, rng=rng, **empty), user_agent=iphone)
    tablet["device_hints"] = {"cloudfront-is-tablet-viewer": "true"}
    payloads = [
        click_envelope(click(when, rng=rng, **empty)),  # UA: Chrome on a Mac
        click_envelope(click(when, rng=rng, **empty), user_agent=iphone),
        tablet,
        click_envelope(click(when, rng=rng), user_agent=iphone),  # set by the redirect: kept
        {"kind": "click", "click": click(when, rng=rng, **empty)},  # no user agent at all
    ]
    assert run(kinesis_event(payloads), s3, dynamodb) == {"batchItemFailures": []}
    (body,) = objects(s3).values()
    assert [(r["device"], r["os"], r["browser"]) for r in lines(body)] == [
        ("desktop", "Mac OS X", "Chrome"),
        ("mobile", "iOS", "Mobile Safari"),
        ("tablet", "iOS", "Mobile Safari"),
        ("desktop", "macos", "chrome"),
        ("desktop", None, None),
    ]
    for record in lines(body):
        assert list(record) == [c.name for c in CLICK_COLUMNS]
        assert "device_hints" not in record
