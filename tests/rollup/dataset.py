"""A lake of known content, written the way production writes it: clicks and conversions through
the archiver (``archive_batch``), platform outcomes through the dispatcher's ``OutcomeLog``.

Two closed hours (12:00 and 13:00 UTC on 2026-11-23; "now" is 14:30) and the config below.
``EXPECTED`` is what the rollup must find, worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from chalicelib.dispatch.sinks import OutcomeLog
from chalicelib.lake.archive import archive_batch
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from tests.lake.factories import (
    click,
    click_envelope,
    conversion,
    conversion_envelope,
    kinesis_event,
)

DOMAIN = "go.example.com"
NOW = dt.datetime(2026, 11, 23, 14, 30, tzinfo=dt.UTC)
H12 = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
H13 = dt.datetime(2026, 11, 23, 13, tzinfo=dt.UTC)

SPECS = Specs(
    domains=[{"name": DOMAIN}],
    audiences=[
        {
            "id": "pricing-visitors",
            "match": {"tags": ["pricing"]},
            "window_days": 30,
            "send_to": ["meta", "tiktok"],
        },
        {"id": "spring-buyers", "match": {"campaigns": ["spring"]}, "window_days": 7},
        {"id": "blog-readers", "match": {"links": [f"{DOMAIN}/blog"]}, "window_days": 14},
    ],
    links=[
        {
            "domain": DOMAIN,
            "slug": "spring-sale",
            "url": "https://shop.example/sale",
            "campaign": "spring",
            "tags": ["sale", "pricing"],
        },
        {
            "domain": DOMAIN,
            "slug": "pricing",
            "url": "https://shop.example/pricing",
            "campaign": "spring",
            "tags": ["pricing"],
        },
        {"domain": DOMAIN, "slug": "blog", "url": "https://shop.example/blog", "tags": ["blog"]},
    ],
)

# What the rollup must count (hour 12, hour 13, and the day).
EXPECTED: dict[str, Any] = {
    "h12": {
        "total": {"clicks": 24, "human_clicks": 20, "bot_clicks": 4, "denied_clicks": 3},
        "total_visitors": 12,  # v1..v12
        "link#go.example.com/spring-sale": {"clicks": 15, "human_clicks": 12, "bot_clicks": 3},
        "link#go.example.com/spring-sale_visitors": 6,
        "link#go.example.com/pricing": {"clicks": 5, "human_clicks": 5, "bot_clicks": 0},
        "link#go.example.com/blog": {"clicks": 4, "human_clicks": 3, "bot_clicks": 1},
        "campaign#spring": {"clicks": 20, "human_clicks": 17, "bot_clicks": 3},
        # human, consent not denied: v1..v5 (spring-sale), v7, v8, v9 (pricing)
        "members": {
            "audience#pricing-visitors": 8,
            "audience#spring-buyers": 8,
            "audience#blog-readers": 2,
        },
    },
    "h13_members": {"audience#pricing-visitors": 2, "audience#spring-buyers": 2},
    "day_members": {
        "audience#pricing-visitors": 9,
        "audience#spring-buyers": 9,
        "audience#blog-readers": 2,
    },
    "day_total": {"clicks": 26, "human_clicks": 22, "visitors": 13},
    # conversions arrive in hour 13; the duplicate purchase counts once
    "h13_conversions_total": {"lead": 2, "purchase": 2},
    "h13_revenue_total": {"purchase": {"EUR": "49.9", "USD": "20"}},
    "h13_conversions_spring_sale": {"lead": 1, "purchase": 1},
    "h13_conversions_pricing_visitors": {"lead": 1, "purchase": 2},
    # outcomes recorded during hour 12; the repeated row counts once
    "h12_platform_events_total": {"dead": 1, "dry_run": 3, "sent": 5, "skipped": 1},
    "h12_platform_events_meta": {"dead": 1, "sent": 5},
    "h12_platform_events_spring_sale": {"dead": 1, "sent": 5},
    "h12_platform_events_pricing_visitors": {"dead": 1, "dry_run": 3, "sent": 5, "skipped": 1},
}


def apply_config(dynamodb: Any, table: str, specs: Specs = SPECS) -> None:
    store = ConfigStore(dynamodb, table)
    store.write(make_plan(specs, store.read_all()).writes())


class Clicks:
    """Makes click records one second apart within an hour, with unique time-ordered ids."""

    def __init__(self, hour: dt.datetime, seed: int = 1):
        self.when = hour
        self.rng = random.Random(seed)
        self.made: list[dict[str, Any]] = []

    def __call__(
        self, slug: str, visitor: str, *, bot: bool = False, denied: bool = False, **extra: Any
    ) -> dict[str, Any]:
        self.when += dt.timedelta(seconds=7)
        link = next(x for x in SPECS.links if x["slug"] == slug)
        consented = not bot and not denied
        record = click(
            self.when,
            rng=self.rng,
            domain=DOMAIN,
            slug=slug,
            campaign=link.get("campaign"),
            is_bot=bot,
            visitor_id=visitor,
            tags=list(link.get("tags") or []),
            consent="denied" if denied else "granted",
            platforms=["meta", "tiktok"] if consented and slug != "blog" else [],
            **extra,
        )
        self.made.append(record)
        return record


def hour_12_clicks() -> list[dict[str, Any]]:
    c = Clicks(H12)
    for v in ("v1", "v2", "v3", "v4", "v5"):
        c("spring-sale", v)
        c("spring-sale", v)
    for _ in range(3):
        c("spring-sale", "b1", bot=True)
    c("spring-sale", "v6", denied=True)
    c("spring-sale", "v6", denied=True)
    for v in ("v1", "v7", "v8", "v9"):
        c("pricing", v)
    c("pricing", "v10", denied=True)
    c("blog", "v11")
    c("blog", "v12")
    c("blog", "v12")
    c("blog", "b2", bot=True)
    return c.made


def hour_13_clicks() -> list[dict[str, Any]]:
    c = Clicks(H13, seed=2)
    c("spring-sale", "v1")
    c("spring-sale", "v13")
    return c.made


def conversions(h12: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conversions arriving in hour 13, for clicks of hour 12."""
    by_visitor = {c["visitor_id"]: c for c in h12}
    when = H13 + dt.timedelta(minutes=20)

    def of(visitor: str, event: str, value: float | None, currency: str | None) -> dict:
        k = by_visitor[visitor]
        return conversion(
            when,
            click_id=k["click_id"],
            event=event,
            value=value,
            currency=currency,
            domain=DOMAIN,
            slug=k["slug"],
            campaign=k["campaign"],
            click_ts=k["ts"],
            event_time=k["ts"],
            platforms=["meta", "tiktok"],
        )

    return [
        of("v2", "lead", None, None),
        of("v3", "purchase", 49.9, "EUR"),
        of("v7", "purchase", 20.0, "USD"),
        conversion(when, click_id=None, event="lead", value=None, currency=None, domain=DOMAIN),
    ]


def archive(
    s3: Any, dynamodb: Any, bucket: str, index_table: str, envelopes: list[dict], first_seq: int
) -> None:
    result = archive_batch(
        kinesis_event(envelopes, first_seq=first_seq),
        s3=s3,
        dynamodb=dynamodb,
        bucket=bucket,
        click_index_table=index_table,
        now=NOW.timestamp(),
    )
    assert result == {"batchItemFailures": []}


def outcome(platform: str, click: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "ts": click["ts"],
        "platform": platform,
        "event_id": click["click_id"],
        "kind": "page_view",
        "status": status,
        "reason": "",
        "source_url": f"https://{click['domain']}/{click['slug']}",
        "event_time": click["ts"],
    }


def write_lake(s3: Any, dynamodb: Any, bucket: str, index_table: str) -> dict[str, Any]:
    """The whole known lake; returns the records it wrote."""
    h12, h13 = hour_12_clicks(), hour_13_clicks()
    convs = conversions(h12)
    archive(s3, dynamodb, bucket, index_table, [click_envelope(c) for c in h12[:15]], 10**20)
    # The rest of hour 12, with the first click again (a producer retry): another object.
    rest = [click_envelope(c) for c in [*h12[15:], h12[0]]]
    archive(s3, dynamodb, bucket, index_table, rest, 2 * 10**20)
    archive(s3, dynamodb, bucket, index_table, [click_envelope(c) for c in h13], 3 * 10**20)
    archive(s3, dynamodb, bucket, index_table, [conversion_envelope(v) for v in convs], 4 * 10**20)
    # The purchase again (same domain and event_id), in its own object.
    archive(s3, dynamodb, bucket, index_table, [conversion_envelope(convs[1])], 5 * 10**20)

    log = OutcomeLog(s3, bucket)
    at = H12 + dt.timedelta(minutes=40)
    spring = [c for c in h12 if c["slug"] == "spring-sale" and c["platforms"]]
    pricing = [c for c in h12 if c["slug"] == "pricing" and c["platforms"]]
    log.write(
        "meta",
        [outcome("meta", c, "sent") for c in spring[:5]] + [outcome("meta", spring[5], "dead")],
        at,
    )
    log.write(
        "tiktok",
        [outcome("tiktok", c, "dry_run") for c in pricing[:3]]
        + [outcome("tiktok", pricing[3], "skipped")],
        at + dt.timedelta(seconds=1),
    )
    # A retried dispatcher batch writes one outcome again.
    log.write("meta", [outcome("meta", spring[0], "sent")], at + dt.timedelta(seconds=2))
    return {"h12": h12, "h13": h13, "conversions": convs}
