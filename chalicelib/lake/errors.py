"""What ``errors/`` holds for a stream record that cannot be archived (``docs/clicks.md``, Errors).

One JSON object per record: the reason, where it came from, and its data with IP addresses and the
user agent masked, so that whoever re-drives it sees everything else as it came.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.lake.schema import ERRORS_PREFIX, NEVER_IN_LAKE

_IPV4 = re.compile(rb"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
# Hex-and-colon runs with a '::' or at least three colons: IPv6, but not a '12:34:56' time.
_IPV6 = re.compile(
    rb"(?<![0-9A-Fa-f:])"
    rb"(?:(?:[0-9A-Fa-f]{0,4}:){3,7}[0-9A-Fa-f]{0,4}|[0-9A-Fa-f]{0,4}::[0-9A-Fa-f]{0,4})"
    rb"(?![0-9A-Fa-f:])"
)


def error_document(
    rec: Mapping[str, Any], shard: str, seq: str, reason: str, now: float
) -> tuple[str, bytes]:
    """(key, body) of the errors/ object for record ``seq`` of ``shard``, which cannot be
    archived for ``reason``: the reason, where the record came from and its data, masked."""
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
    return f"{ERRORS_PREFIX}/dt={day}/{shard}-{seq}.json", json.dumps(doc, indent=1).encode()


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
