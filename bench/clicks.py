"""Click envelopes and Lambda Kinesis events shaped like the redirect's, for the downstream
benchmarks (archiver, dispatcher)."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.clicks import new_click_id
from chalicelib.clicks.envelope import (
    CLICK_SCHEMA_VERSION,
    KIND_CLICK,
    NOT_REQUIRED,
    encode,
)
from chalicelib.clicks.envelope import (
    kinesis_event as lambda_event,
)

FIRST_SEQ = 49590338271490256608559692538361571095921575989136588800
BOT_SHARE = 0.2  # link previews, scanners, monitors
BOT_UA = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
# Visitors' user agents: in-app and mobile browsers whose build numbers vary, so most clicks of
# a batch bring a user agent the archiver has not parsed yet (its parser caches 4,096).
UA_TEMPLATES = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{a} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/21E{b} [FBAN/FBIOS;FBAV/{c}.0.0.38.111;FBBV/6123{b}]",
    "Mozilla/5.0 (Linux; Android 14; SM-S91{a}B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/131.0.{b}.{c} Mobile Safari/537.36 Instagram "
    "355.0.0.{a}.{c} Android",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.{b}.{c} Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_{a} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{a} Mobile/15E{b} Safari/604.1",
)


def user_agent(rng: random.Random) -> str:
    template = rng.choice(UA_TEMPLATES)
    return template.format(a=rng.randrange(8), b=rng.randrange(100, 999), c=rng.randrange(400, 460))


def envelopes(n: int, *, seed: int = 7, host: str = "go.localhost") -> list[dict[str, Any]]:
    """``n`` click envelopes from the last hour: a fifth of them bots, the rest humans whose
    link feeds an audience on meta and tiktok."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    out = []
    for i in range(n):
        when = now + timedelta(seconds=i * 3599 / max(1, n))
        is_bot = rng.random() < BOT_SHARE
        click_id = new_click_id(when)
        agent = BOT_UA if is_bot else user_agent(rng)
        click = {
            "schema": CLICK_SCHEMA_VERSION,
            "click_id": click_id,
            "ts": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            "domain": host,
            "slug": rng.choice(["spring-sale", "pricing", "black-friday"]),
            "campaign": "spring",
            "tags": ["sale", "pricing"],
            "rule": "default",
            "status": 302,
            "destination": "https://shop.example/sale?utm_source=newsletter&rb_cid=" + click_id,
            "visitor_id": f"{rng.getrandbits(128):032x}",
            "is_bot": is_bot,
            "bot_name": "facebookexternalhit" if is_bot else None,
            "country": rng.choice(["US", "GB", "DE", "FR", "CA"]),
            "device": None,  # as the redirect leaves them: the archiver parses the user agent
            "os": None,
            "browser": None,
            "language": "en",
            "referrer_host": "l.facebook.com",
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_campaign": "spring",
            "utm_term": None,
            "utm_content": None,
            "click_ids": {"fbclid": f"IwAR{rng.getrandbits(64):016x}"},
            "consent": NOT_REQUIRED,
            "ip_prefix": "203.0.113.0/24",
            "ua_hash": hashlib.sha256(agent.encode()).hexdigest(),
            "platforms": [] if is_bot else ["meta", "tiktok"],
        }
        out.append(
            {"kind": KIND_CLICK, KIND_CLICK: click, "ip": "203.0.113.7", "user_agent": agent}
        )
    return out


def kinesis_event(
    items: list[dict[str, Any]], *, first_seq: int = FIRST_SEQ, shard: str = "shardId-000000000000"
) -> dict[str, Any]:
    """The event Lambda delivers to a Kinesis consumer for these envelopes (built as the local
    worker builds it from GetRecords)."""
    arrival = datetime.fromtimestamp(1_795_000_000, UTC)
    records = [
        {
            "PartitionKey": envelope["click"]["click_id"],
            "SequenceNumber": str(first_seq + i),
            "Data": encode(envelope),
            "ApproximateArrivalTimestamp": arrival + timedelta(milliseconds=i),
        }
        for i, envelope in enumerate(items)
    ]
    stream = "arn:aws:kinesis:us-east-1:123456789012:stream/rebound-local-clicks"
    return lambda_event(records, shard, stream, "us-east-1")
