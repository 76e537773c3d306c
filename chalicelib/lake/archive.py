"""The archiver: Kinesis "clicks" stream → S3 lake (+ click index for human clicks).

Split in two so the expensive part can be tested and benchmarked without AWS:

- ``plan_batch(event)`` is pure: it decodes the Lambda Kinesis event, validates every record and
  returns the objects to put (gzip JSON lines, one per run of records) and the click-index items.
- ``archive_batch(event, s3=..., dynamodb=...)`` does the I/O and returns the Lambda
  ``ReportBatchItemFailures`` response.

Idempotence. Records are grouped into *runs*: consecutive records (in sequence order) of the same
shard, kind and event hour. A run's key is ``<prefix>/dt=…/hour=…/<shard>-<first seq>.json.gz``.
When anything about a run fails, every sequence number of the run is reported; Lambda then retries
from the lowest one, so a retried batch starts exactly at a run boundary and rebuilds the same
keys for the same records (overwrite, never a second copy). One object per (kind, hour) keyed by
its first record would not do: when hours interleave (late clicks), a retry starting in the middle
of such a group would write its later records again under a new key.

Device, OS and browser. The redirect leaves them empty unless a link's rules needed them (parsing
the user agent is the costliest part of its cold start); ``plan_batch`` fills them in from the
envelope's user agent and CloudFront device hints, with the same parser.

Privacy. Only the click (or conversion) record is written; the envelope's ``ip`` and
``user_agent`` never reach the lake. Records that cannot be archived go to ``errors/`` with the
reason and the raw data, with IP addresses and the user agent masked.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import gzip
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.calls import backoff
from chalicelib.clicks.event import fill_agent
from chalicelib.lake.schema import (
    CLICK_SCHEMA_VERSION,
    ERRORS_PREFIX,
    KIND_CLICK,
    KIND_CONVERSION,
    NEVER_IN_LAKE,
    PREFIXES,
    REQUIRED_CLICK_FIELDS,
    REQUIRED_CONVERSION_FIELDS,
    hour_prefix,
)

log = logging.getLogger(__name__)

INDEX_TTL_SECONDS = 90 * 86400
INDEX_BATCH_SIZE = 25  # BatchWriteItem's limit
INDEX_ATTEMPTS = 5  # calls per chunk while DynamoDB leaves UnprocessedItems
GZIP_LEVEL = 6  # within ~5% of level 9's size on JSON lines, about twice as fast
MAX_FUTURE_SECONDS = 86400  # a ts further ahead than this is a broken clock, not a click
_MAX_WORKERS = 8

# ASCII-safe (lone surrogates survive); NaN/Infinity refused: Athena's JSON reader rejects them.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
# Fast path for the documented form 2026-11-23T12:34:56.789Z; anything else goes through
# datetime.fromisoformat (offsets are converted to UTC).
_TS_UTC = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):[0-5]\d:[0-5]\d(?:\.\d{1,9})?Z")
_IPV4 = re.compile(rb"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
# Hex-and-colon runs with a '::' or at least three colons: IPv6, but not a '12:34:56' time.
_IPV6 = re.compile(
    rb"(?<![0-9A-Fa-f:])"
    rb"(?:(?:[0-9A-Fa-f]{0,4}:){3,7}[0-9A-Fa-f]{0,4}|[0-9A-Fa-f]{0,4}::[0-9A-Fa-f]{0,4})"
    rb"(?![0-9A-Fa-f:])"
)


class Malformed(ValueError):
    """A record that cannot go into the table; its message is the reason recorded in errors/."""


@dataclass(slots=True)
class LakeObject:
    """One S3 object to put, and the stream records it holds."""

    key: str
    body: bytes
    content_type: str
    sequence_numbers: list[str]
    records: int  # lines in the object (0 for an error object)


@dataclass(slots=True)
class IndexEntry:
    """One click-index item and the object (by position in ``BatchPlan.objects``) it came with."""

    click_id: str
    item: dict[str, Any]  # DynamoDB attribute-value map
    object_index: int


@dataclass(slots=True)
class BatchPlan:
    objects: list[LakeObject] = field(default_factory=list)
    index: list[IndexEntry] = field(default_factory=list)

    @property
    def errors(self) -> list[LakeObject]:
        return [o for o in self.objects if o.key.startswith(ERRORS_PREFIX + "/")]


# ---------------------------------------------------------------------------------------------
# Pure part


def plan_batch(event: Mapping[str, Any], *, now: float | None = None) -> BatchPlan:
    """Decode, validate and group a Lambda Kinesis event into lake objects and index items."""
    now = time.time() if now is None else now
    plan = BatchPlan()
    hours: dict[str, tuple[str, str, int]] = {}  # "YYYY-MM-DDTHH" -> (dt, hour, epoch of hour)
    run: _Run | None = None

    for rec in event.get("Records") or ():
        kinesis = rec["kinesis"]
        seq = kinesis["sequenceNumber"]
        shard = _shard(rec)
        try:
            kind, payload, line, dt, hour, epoch, user_agent = _decode(
                kinesis.get("data"), hours, now
            )
        except Malformed as exc:
            if run is not None:
                run.close(plan)
                run = None
            plan.objects.append(_error_object(rec, shard, seq, str(exc), now))
            continue
        if run is None or run.group != (shard, kind, dt, hour):
            if run is not None:
                run.close(plan)
            run = _Run((shard, kind, dt, hour), seq, len(plan.objects))
        run.lines.append(line)
        run.seqs.append(seq)
        if kind == KIND_CLICK and payload["is_bot"] is False:
            epoch = _click_epoch(payload["ts"], epoch, hours)
            run.index.append(_index_entry(payload, user_agent, epoch, run.object_index))
    if run is not None:
        run.close(plan)
    return plan


class _Run:
    __slots__ = ("first_seq", "group", "index", "lines", "object_index", "seqs")

    def __init__(self, group: tuple[str, str, str, str], first_seq: str, object_index: int):
        self.group = group
        self.first_seq = first_seq
        self.object_index = object_index
        self.lines: list[str] = []  # encoded records
        self.seqs: list[str] = []
        self.index: list[IndexEntry] = []

    def close(self, plan: BatchPlan) -> None:
        shard, kind, dt, hour = self.group
        text = "\n".join(self.lines) + "\n"
        plan.objects.append(
            LakeObject(
                key=f"{hour_prefix(PREFIXES[kind], dt, hour)}{shard}-{self.first_seq}.json.gz",
                body=gzip.compress(text.encode(), compresslevel=GZIP_LEVEL, mtime=0),
                content_type="application/gzip",
                sequence_numbers=self.seqs,
                records=len(self.lines),
            )
        )
        plan.index.extend(self.index)


def _shard(rec: Mapping[str, Any]) -> str:
    # eventID is "shardId-000000000000:<sequence number>"
    shard = str(rec.get("eventID") or "").partition(":")[0]
    return shard if shard.startswith("shardId-") else "shardId-unknown"


def _decode(
    data: Any, hours: dict[str, tuple[str, str, int]], now: float
) -> tuple[str, dict[str, Any], str, str, str, float | None, str | None]:
    """(kind, record, its JSON line, dt, hour, exact epoch or None, user agent) or Malformed."""
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, TypeError, ValueError):
        raise Malformed("data is not valid base64") from None
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise Malformed("data is not valid JSON") from None
    if type(envelope) is not dict:
        raise Malformed("envelope is not a JSON object")
    kind = envelope.get("kind")
    if kind == KIND_CLICK:
        record = envelope.get(KIND_CLICK)
        if type(record) is not dict:
            raise Malformed("click is not a JSON object")
        _check_click(record)
        fill_agent(record, envelope)
    elif kind == KIND_CONVERSION:
        record = envelope.get(KIND_CONVERSION)
        if type(record) is not dict:
            raise Malformed("conversion is not a JSON object")
        if not record.keys() >= REQUIRED_CONVERSION_FIELDS:
            raise Malformed(_missing(kind, record, REQUIRED_CONVERSION_FIELDS))
    else:
        raise Malformed(f"unknown kind {_short(kind)}")
    dt, hour, epoch = _partition(record["ts"], hours, now)
    if not record.keys().isdisjoint(NEVER_IN_LAKE):
        for key in NEVER_IN_LAKE:
            record.pop(key, None)
    try:
        line = _encode(record)
    except (ValueError, RecursionError):
        raise Malformed(f"{kind} cannot be written as JSON (NaN, Infinity or too deep)") from None
    user_agent = envelope.get("user_agent")
    return kind, record, line, dt, hour, epoch, user_agent if type(user_agent) is str else None


def _check_click(record: dict[str, Any]) -> None:
    if not record.keys() >= REQUIRED_CLICK_FIELDS:
        raise Malformed(_missing(KIND_CLICK, record, REQUIRED_CLICK_FIELDS))
    schema = record["schema"]
    if type(schema) is not int or schema != CLICK_SCHEMA_VERSION:
        raise Malformed(f"unsupported click schema {_short(schema)}")
    click_id = record["click_id"]
    if type(click_id) is not str or not click_id:
        raise Malformed("click_id is not a non-empty string")
    if type(record["is_bot"]) is not bool:
        raise Malformed("is_bot is not a boolean")


def _missing(kind: str, record: dict[str, Any], required: frozenset[str]) -> str:
    return f"{kind} is missing {', '.join(sorted(required - record.keys()))}"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _partition(
    ts: Any, hours: dict[str, tuple[str, str, int]], now: float
) -> tuple[str, str, float | None]:
    """(dt, hour, exact epoch or None when the fast path only knows the hour)."""
    if type(ts) is not str:
        raise Malformed("ts is not a string")
    if _TS_UTC.fullmatch(ts):
        prefix = ts[:13]
        known = hours.get(prefix)
        if known is None:
            try:
                start = _dt.datetime.fromisoformat(prefix + ":00:00+00:00")
            except ValueError:
                raise Malformed(f"ts is not a valid time: {_short(ts)}") from None
            known = hours[prefix] = (ts[:10], ts[11:13], int(start.timestamp()))
        if known[2] > now + MAX_FUTURE_SECONDS:
            raise Malformed(f"ts is in the future: {_short(ts)}")
        return known[0], known[1], None
    try:
        when = _dt.datetime.fromisoformat(ts)
    except ValueError:
        raise Malformed(f"ts is not ISO-8601: {_short(ts)}") from None
    if when.tzinfo is None:
        raise Malformed(f"ts has no time zone: {_short(ts)}")
    epoch = when.timestamp()
    if epoch > now + MAX_FUTURE_SECONDS:
        raise Malformed(f"ts is in the future: {_short(ts)}")
    utc = when.astimezone(_dt.UTC)
    return f"{utc:%Y-%m-%d}", f"{utc:%H}", epoch


def _click_epoch(ts: str, epoch: float | None, hours: Mapping[str, tuple[str, str, int]]) -> float:
    if epoch is not None:
        return epoch
    # fast-path ts "YYYY-MM-DDTHH:MM:SS...Z": its hour is in the cache
    return hours[ts[:13]][2] + int(ts[14:16]) * 60 + int(ts[17:19])


# What the click index keeps of a human click (plus ts, expires_at and the full user agent).
INDEX_FIELDS = (
    "domain",
    "slug",
    "campaign",
    "tags",
    "click_ids",
    "ip_prefix",
    "consent",
    "visitor_id",
    "platforms",
    "country",  # the default region for phone numbers in a conversion attributed to the click
)


def _index_entry(
    click: dict[str, Any], user_agent: str | None, epoch: float, object_index: int
) -> IndexEntry:
    click_id = click["click_id"]
    item: dict[str, Any] = {
        "click_id": {"S": click_id},
        "ts": {"S": click["ts"]},
        "expires_at": {"N": str(int(epoch) + INDEX_TTL_SECONDS)},
    }
    for name in INDEX_FIELDS:
        value = click.get(name)
        if value is None:
            continue
        # Inline the common shapes (this runs for every human click); _attribute for the rest.
        kind = type(value)
        if kind is str:
            item[name] = {"S": value}
        elif kind is list and all(type(v) is str for v in value):
            item[name] = {"L": [{"S": v} for v in value]}
        elif kind is dict and all(type(v) is str for v in value.values()):
            item[name] = {"M": {k: {"S": v} for k, v in value.items()}}
        else:
            item[name] = _attribute(value)
    if user_agent is not None:
        item["user_agent"] = {"S": user_agent}
    return IndexEntry(click_id, item, object_index)


def _attribute(value: Any) -> dict[str, Any]:
    """A plain JSON value as a DynamoDB attribute value (low-level client format)."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, list):
        return {"L": [_attribute(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {str(k): _attribute(v) for k, v in value.items()}}
    return {"NULL": True}


def _error_object(
    rec: Mapping[str, Any], shard: str, seq: str, reason: str, now: float
) -> LakeObject:
    kinesis = rec["kinesis"]
    arrived = kinesis.get("approximateArrivalTimestamp")
    arrived = float(arrived) if isinstance(arrived, int | float) else now
    data, redacted = _redact(kinesis.get("data"))
    doc = {
        "reason": reason,
        "shard": shard,
        "sequence_number": seq,
        "partition_key": kinesis.get("partitionKey"),
        "approximate_arrival": _iso(arrived),
        "archived_at": _iso(now),
        "redacted": redacted,
        "data": data,
    }
    day = _dt.datetime.fromtimestamp(arrived, _dt.UTC).strftime("%Y-%m-%d")
    return LakeObject(
        key=f"{ERRORS_PREFIX}/dt={day}/{shard}-{seq}.json",
        body=json.dumps(doc, indent=1).encode(),
        content_type="application/json",
        sequence_numbers=[seq],
        records=0,
    )


def _redact(data: Any) -> tuple[Any, bool]:
    """The record's data with IP addresses and the user agent masked, and whether any was.

    Valid base64 stays base64 (of the masked bytes); anything else is masked as it is.
    """
    if not isinstance(data, str):
        return data, False
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        masked = _mask_ips(data.encode(errors="replace"))
        return masked.decode(errors="replace"), masked != data.encode(errors="replace")
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError):
        envelope = None
    if isinstance(envelope, dict):
        # Parsed: remove exactly the IPs and user agents (in the envelope or in the record) and
        # keep the rest intact (ip_prefix, versions in URLs) for whoever re-drives the record.
        masked = raw
        holders = [envelope, *(v for v in envelope.values() if isinstance(v, dict))]
        for holder in holders:
            for name in NEVER_IN_LAKE:
                value = holder.get(name)
                if isinstance(value, str) and value:
                    for form in {json.dumps(value)[1:-1], value}:
                        masked = masked.replace(form.encode(errors="replace"), b"<redacted>")
    else:  # unparseable: mask anything that looks like an address
        masked = _mask_ips(raw)
    if masked == raw:
        return data, False
    return base64.b64encode(masked).decode(), True


def _mask_ips(raw: bytes) -> bytes:
    return _IPV6.sub(b"<ip>", _IPV4.sub(b"<ip>", raw))


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


# ---------------------------------------------------------------------------------------------
# I/O part


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
        for click_id in _write_index_chunk(dynamodb, click_index_table, chunk, sleep):
            failed.update(owners[click_id])

    tasks: list[Callable[[], None]] = [lambda p=p: put(p) for p in range(len(plan.objects))]
    tasks += [lambda c=c: index(c) for c in chunks]
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
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failures]}


def _write_index_chunk(
    dynamodb: Any, table: str, items: list[dict[str, Any]], sleep: Callable[[float], None]
) -> list[str]:
    """Put up to 25 items, retrying UnprocessedItems a bounded number of times.

    Returns the click ids that are still not written.
    """
    requests = [{"PutRequest": {"Item": item}} for item in items]
    for attempt in range(INDEX_ATTEMPTS):
        try:
            response = dynamodb.batch_write_item(RequestItems={table: requests})
        except (BotoCoreError, ClientError) as exc:
            log.warning("click index write failed: %s", exc)
            break
        requests = (response.get("UnprocessedItems") or {}).get(table) or []
        if not requests:
            return []
        if attempt + 1 < INDEX_ATTEMPTS:
            sleep(backoff(attempt))
    else:
        log.warning("click index: %d items still unprocessed", len(requests))
    return [r["PutRequest"]["Item"]["click_id"]["S"] for r in requests]


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
