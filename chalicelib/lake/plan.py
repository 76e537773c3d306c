"""The archiver's pure half: a Lambda Kinesis event in, the lake objects and click-index items
to write out (``plan_batch``). No I/O: ``lake/archive.py`` writes what it plans.

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
``user_agent`` never reach the lake. Records that cannot be archived go to ``errors/``
(``lake/errors.py``).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.clicks.envelope import (
    CLICK_SCHEMA_VERSION,
    KIND_CLICK,
    KIND_CONVERSION,
    Malformed,
    read_envelope,
    sequence_number,
    shard_id,
)
from chalicelib.clicks.event import fill_agent
from chalicelib.clicks.index import to_item
from chalicelib.lake.errors import error_document
from chalicelib.lake.schema import (
    ERRORS_PREFIX,
    NEVER_IN_LAKE,
    PREFIXES,
    REQUIRED_CLICK_FIELDS,
    REQUIRED_CONVERSION_FIELDS,
    hour_prefix,
)

GZIP_LEVEL = 6  # within ~5% of level 9's size on JSON lines, about twice as fast
MAX_FUTURE_SECONDS = 86400  # a ts further ahead than this is a broken clock, not a click

# ASCII-safe (lone surrogates survive); NaN/Infinity refused: Athena's JSON reader rejects them.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
# Fast path for the documented form 2026-11-23T12:34:56.789Z; anything else goes through
# datetime.fromisoformat (offsets are converted to UTC).
_TS_UTC = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):[0-5]\d:[0-5]\d(?:\.\d{1,9})?Z")


@dataclass(slots=True)
class PlannedObject:
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
    objects: list[PlannedObject] = field(default_factory=list)
    index: list[IndexEntry] = field(default_factory=list)

    @property
    def errors(self) -> list[PlannedObject]:
        return [o for o in self.objects if o.key.startswith(ERRORS_PREFIX + "/")]


def plan_batch(event: Mapping[str, Any], *, now: float | None = None) -> BatchPlan:
    """Decode, validate and group a Lambda Kinesis event into lake objects and index items."""
    now = time.time() if now is None else now
    plan = BatchPlan()
    hours: dict[str, tuple[str, str, int]] = {}  # "YYYY-MM-DDTHH" -> (dt, hour, epoch of hour)
    run: _Run | None = None

    for rec in event.get("Records") or ():
        seq = sequence_number(rec)
        shard = shard_id(rec)
        try:
            kind, payload, line, dt, hour, epoch, user_agent = _decode(
                read_envelope(rec), hours, now
            )
        except Malformed as exc:
            if run is not None:
                run.close(plan)
                run = None
            key, body = error_document(rec, shard, seq, str(exc), now)
            plan.objects.append(PlannedObject(key, body, "application/json", [seq], 0))
            continue
        if run is None or run.group != (shard, kind, dt, hour):
            if run is not None:
                run.close(plan)
            run = _Run((shard, kind, dt, hour), seq, len(plan.objects))
        run.lines.append(line)
        run.seqs.append(seq)
        if kind == KIND_CLICK and payload["is_bot"] is False:
            epoch = _click_epoch(payload["ts"], epoch, hours)
            item = to_item(payload, user_agent, epoch)
            run.index.append(IndexEntry(payload["click_id"], item, run.object_index))
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
            PlannedObject(
                key=f"{hour_prefix(PREFIXES[kind], dt, hour)}{shard}-{self.first_seq}.json.gz",
                body=gzip.compress(text.encode(), compresslevel=GZIP_LEVEL, mtime=0),
                content_type="application/gzip",
                sequence_numbers=self.seqs,
                records=len(self.lines),
            )
        )
        plan.index.extend(self.index)


def _decode(
    envelope: dict[str, Any], hours: dict[str, tuple[str, str, int]], now: float
) -> tuple[str, dict[str, Any], str, str, str, float | None, str | None]:
    """(kind, record, its JSON line, dt, hour, exact epoch or None, user agent) or Malformed."""
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
