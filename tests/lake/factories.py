"""Clicks, conversions and Lambda Kinesis events as the redirect and AWS would make them."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any

from chalicelib.clicks.envelope import encode, kinesis_record

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BASE_SEQ = 49590338271490256608559692538361571095921575989136588800
H12 = dt.datetime(2026, 11, 23, 12, 5, 1, 250000, tzinfo=dt.UTC)
H13 = dt.datetime(2026, 11, 23, 13, 40, 0, tzinfo=dt.UTC)


def ulid(ts_ms: int, rng: random.Random) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, Crockford base32 (26 characters)."""
    value = (ts_ms << 80) | rng.getrandbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def iso(when: dt.datetime) -> str:
    return (
        when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    )


def click(
    when: dt.datetime,
    *,
    rng: random.Random | None = None,
    domain: str = "go.example.com",
    slug: str = "spring-sale",
    campaign: str | None = "spring",
    is_bot: bool = False,
    visitor_id: str = "v-1",
    country: str = "DE",
    device: str = "desktop",
    referrer_host: str | None = "news.example",
    utm_source: str | None = "newsletter",
    **extra: Any,
) -> dict[str, Any]:
    """A complete click record v1."""
    rng = rng or random.Random(7)
    record = {
        "schema": 1,
        "click_id": ulid(int(when.timestamp() * 1000), rng),
        "ts": iso(when),
        "domain": domain,
        "slug": slug,
        "campaign": campaign,
        "tags": ["sale", "pricing"],
        "rule": "default",
        "status": 302,
        "destination": f"https://shop.example/{slug}?utm_source=newsletter",
        "visitor_id": visitor_id,
        "is_bot": is_bot,
        "bot_name": "Slackbot" if is_bot else None,
        "country": country,
        "device": device,
        "os": "macos",
        "browser": "chrome",
        "language": "de",
        "referrer_host": referrer_host,
        "utm_source": utm_source,
        "utm_medium": "email",
        "utm_campaign": "spring",
        "utm_term": None,
        "utm_content": None,
        "click_ids": {"fbclid": "IwAR-fb-1"},
        "consent": "granted",
        "ip_prefix": "203.0.113.0/24",
        "ua_hash": hashlib.sha256(b"ua").hexdigest(),
        "platforms": [] if is_bot else ["meta", "tiktok"],
    }
    record.update(extra)
    return record


def conversion(when: dt.datetime, *, click_id: str | None, event: str, **extra: Any) -> dict:
    record = {
        "schema": 1,
        "conversion_id": f"conv-{event}-{click_id}",
        "click_id": click_id,
        "ts": iso(when),
        "domain": "go.example.com",
        "event": event,
        "event_id": f"ev-{event}-{click_id}",
        "value": 49.9 if event == "purchase" else 0.0,
        "currency": "EUR",
        "attributed": click_id is not None,
    }
    record.update(extra)
    return record


IP = "198.51.100.77"
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def click_envelope(record: dict, ip: str = IP, user_agent: str = UA) -> dict:
    return {"kind": "click", "click": record, "ip": ip, "user_agent": user_agent}


def conversion_envelope(record: dict) -> dict:
    return {"kind": "conversion", "conversion": record}


def mixed_batch() -> tuple[list[dict], dict, dict]:
    """Six clicks (one a bot) over two hours and a conversion: (clicks, conversion, event)."""
    rng = random.Random(3)
    clicks = [
        click(H12, rng=rng, visitor_id="v-1"),
        click(H12 + dt.timedelta(seconds=1), rng=rng, visitor_id="v-2", slug="pricing"),
        click(H12 + dt.timedelta(seconds=2), rng=rng, is_bot=True, visitor_id="bot"),
        click(H12 + dt.timedelta(seconds=3), rng=rng, visitor_id="v-1"),
        click(H13, rng=rng, visitor_id="v-3", country="FR"),
        click(H13 + dt.timedelta(seconds=5), rng=rng, visitor_id="v-3", country="FR"),
    ]
    conv = conversion(H13 + dt.timedelta(minutes=5), click_id=clicks[0]["click_id"], event="lead")
    envelopes = [click_envelope(c) for c in clicks] + [conversion_envelope(conv)]
    return clicks, conv, kinesis_event(envelopes)


def kinesis_event(
    payloads: list[dict | bytes | str],
    *,
    shard: str = "shardId-000000000000",
    first_seq: int = BASE_SEQ,
    arrival: float = 1_795_000_000.0,
) -> dict:
    """A Lambda Kinesis event. dict → JSON → base64; bytes → base64; str → used as-is as data."""
    records = []
    for i, payload in enumerate(payloads):
        data = encode(payload) if isinstance(payload, dict) else payload
        is_click = isinstance(payload, dict) and "click" in payload
        record = kinesis_record(
            data if isinstance(data, bytes) else b"",
            sequence_number=str(first_seq + i),
            partition_key=payload["click"]["click_id"] if is_click else "x",
            shard_id=shard,
            arrival=arrival + i / 1000,
            stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/rebound-dev-clicks",
            region="us-east-1",
        )
        if isinstance(data, str):
            record["kinesis"]["data"] = data  # as it is, not base64: what a broken producer sends
        records.append(record)
    return {"Records": records}
