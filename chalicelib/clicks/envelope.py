"""The stream contract, defined once: what travels on the clicks stream and how Lambda hands it over.

- The envelope: one JSON object per record, ``{"kind": "click" | "conversion", <kind>: record,
  "ip", "user_agent", ...}`` (``docs/clicks.md``), its records' ``schema`` versions and the consent
  states a click carries; ``encode`` and ``decode`` turn it into bytes and back.
- The Lambda Kinesis event: ``kinesis_event`` builds it (the local worker, tests, benchmarks),
  ``sequence_number``, ``shard_id`` and ``read_envelope`` read one of its records (the archiver,
  the dispatcher).
- The partial batch response: ``batch_failures`` builds it, ``failed_identifiers`` reads it.

Plain Python only: the redirect imports the consent states from here (no boto3, no pydantic).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.clicks.text import well_formed

KIND_CLICK = "click"
KIND_CONVERSION = "conversion"
KINDS = (KIND_CLICK, KIND_CONVERSION)

# The ``schema`` field of the records an envelope carries (docs/clicks.md: when it changes).
CLICK_SCHEMA_VERSION = 1
CONVERSION_SCHEMA_VERSION = 1

# A click's ``consent`` (docs/consent.md): the redirect decides it, every consumer obeys it.
GRANTED, DENIED, NOT_REQUIRED = "granted", "denied", "not_required"
CONSENT_STATES = (GRANTED, DENIED, NOT_REQUIRED)


class Malformed(ValueError):
    """A record that is not a usable envelope; its message is the reason (the archiver files it
    under errors/ with it)."""


def encode(envelope: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON; a lone surrogate that slipped through becomes U+FFFD instead of raising."""
    text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return well_formed(text).encode("utf-8")


def decode(data: bytes | str) -> dict[str, Any]:
    """An envelope from its JSON; raises ``Malformed`` when it is not JSON or not an object."""
    try:
        envelope = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise Malformed("data is not valid JSON") from None
    if type(envelope) is not dict:
        raise Malformed("envelope is not a JSON object")
    return envelope


def partition_key(envelope: Mapping[str, Any]) -> str:
    """The key a record is put with: its click id, conversion id or event id. Raises KeyError
    or TypeError for something that is not an envelope."""
    body = envelope[envelope["kind"]]
    return str(body.get("click_id") or body.get("conversion_id") or body["event_id"])


# --- The Lambda Kinesis event ----------------------------------------------------------------


def kinesis_event(
    records: Iterable[Mapping[str, Any]], shard_id: str, stream_arn: str, region: str
) -> dict[str, Any]:
    """The event Lambda delivers for ``records`` of one shard, as GetRecords returns them."""
    out = []
    for r in records:
        arrival = r.get("ApproximateArrivalTimestamp")
        out.append(
            kinesis_record(
                r["Data"],
                sequence_number=r["SequenceNumber"],
                partition_key=r["PartitionKey"],
                shard_id=shard_id,
                arrival=arrival.timestamp() if arrival else time.time(),
                stream_arn=stream_arn,
                region=region,
            )
        )
    return {"Records": out}


def kinesis_record(
    data: bytes,
    *,
    sequence_number: str,
    partition_key: str,
    shard_id: str,
    arrival: float,
    stream_arn: str,
    region: str,
) -> dict[str, Any]:
    """One record of a Lambda Kinesis event (its data base64, as Lambda delivers it)."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def sequence_number(record: Mapping[str, Any]) -> str:
    """A Lambda Kinesis record's sequence number (what a batch item failure names)."""
    return record["kinesis"]["sequenceNumber"]


def shard_id(record: Mapping[str, Any]) -> str:
    """The shard a record came from (``shardId-000000000000``), from its ``eventID``."""
    shard = str(record.get("eventID") or "").partition(":")[0]
    return shard if shard.startswith("shardId-") else "shardId-unknown"


def read_envelope(record: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope a Lambda Kinesis record carries; raises ``Malformed`` when its data is not
    strict base64 of a JSON object."""
    try:
        raw = binascii.a2b_base64(record["kinesis"].get("data"), strict_mode=True)
    except (binascii.Error, TypeError, ValueError):
        raise Malformed("data is not valid base64") from None
    return decode(raw)


# --- Lambda's partial batch response -------------------------------------------------------


def batch_failures(identifiers: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """``{"batchItemFailures": [...]}`` in the order given. For a Kinesis batch, give sequence
    numbers lowest first: Lambda retries from the lowest."""
    return {"batchItemFailures": [{"itemIdentifier": i} for i in identifiers]}


def failed_identifiers(result: Any) -> list[str]:
    """The item identifiers a handler's partial batch response names (none for anything else)."""
    failures = (result or {}).get("batchItemFailures") or [] if isinstance(result, dict) else []
    return [f["itemIdentifier"] for f in failures if f.get("itemIdentifier")]
