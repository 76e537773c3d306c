"""One stats row: what happened to one dimension (a link, a campaign, an audience, a platform, or
everything) in one period (an hour or a day), and how rows merge into longer windows. Pure.

Rows live in the stats table keyed by period and dimension (``store.py``):

- ``pk`` ``h#2026-11-23T12`` (an hour) or ``d#2026-11-23`` (a day)
- ``sk`` ``total``, ``link#go.example.com/spring-sale``, ``campaign#spring``,
  ``audience#pricing-visitors`` or ``platform#meta``

Counters add up; maps add up key by key; unique visitors do not add up, so every row carries a
HyperLogLog sketch and a window's unique visitors is the estimate of the union of its rows'
sketches. An hour row's ``visitors`` is exact (counted by DuckDB); a merged row's is the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib.dispatch.ledger import DEAD, DRY_RUN, REJECTED, SENT, SKIPPED
from chalicelib.rollup import sketch

TOTAL = "total"
LINK = "link"
CAMPAIGN = "campaign"
AUDIENCE = "audience"
PLATFORM = "platform"
DIMENSIONS = (TOTAL, LINK, CAMPAIGN, AUDIENCE, PLATFORM)

# Platform outcome statuses (chalicelib.dispatch.sinks.OutcomeLog) and how they read in a report.
SENT_STATUSES = (SENT, DRY_RUN)
FAILED_STATUSES = (DEAD, REJECTED)
# Revenue is summed as DECIMAL(38, 4) and kept that exact: no float drift across merges.
MONEY_PLACES = Decimal("0.0001")


def sort_key(dim: str, key: str = "") -> str:
    return TOTAL if dim == TOTAL else f"{dim}#{key}"


def split_sort_key(sk: str) -> tuple[str, str]:
    dim, _, key = sk.partition("#")
    return dim, key


def hour_period(hour: str) -> str:
    return f"h#{hour}"


def day_period(day: str) -> str:
    return f"d#{day}"


@dataclass
class Stats:
    clicks: int = 0
    human_clicks: int = 0
    bot_clicks: int = 0
    denied_clicks: int = 0  # human clicks whose visitor denied consent
    visitors: int = 0  # unique human visitors: exact for an hour row, else the sketch estimate
    visitors_sketch: bytes | None = None
    # Audiences only: unique human visitors who did not deny consent (the audience's members).
    members: int | None = None
    members_sketch: bytes | None = None
    conversions: dict[str, int] = field(default_factory=dict)  # event -> count
    revenue: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # event -> cur -> sum
    platform_events: dict[str, int] = field(default_factory=dict)  # outcome status -> count
    campaign: str | None = None  # links only: the link's campaign (as its clicks recorded it)
    # visitors and members are counts (one hour, or few enough visitors for the sketch to hold
    # them all), not estimates
    exact: bool = True

    @property
    def events_sent(self) -> int:
        return sum(self.platform_events.get(s, 0) for s in SENT_STATUSES)

    @property
    def events_failed(self) -> int:
        return sum(self.platform_events.get(s, 0) for s in FAILED_STATUSES)

    @property
    def events_skipped(self) -> int:
        return self.platform_events.get(SKIPPED, 0)

    def revenue_by_currency(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for by_currency in self.revenue.values():
            for currency, amount in by_currency.items():
                out[currency] = out.get(currency, Decimal(0)) + amount
        return dict(sorted(out.items()))

    def is_empty(self) -> bool:
        return not (self.clicks or self.conversions or self.platform_events)


def merge(rows: Iterable[Stats]) -> Stats:
    """Rows of the same dimension over several periods, as one row."""
    rows = list(rows)
    if len(rows) == 1:
        return rows[0]
    out = Stats(exact=not rows)
    campaigns: dict[str, int] = {}
    for row in rows:
        out.clicks += row.clicks
        out.human_clicks += row.human_clicks
        out.bot_clicks += row.bot_clicks
        out.denied_clicks += row.denied_clicks
        _add(out.conversions, row.conversions)
        _add(out.platform_events, row.platform_events)
        for event, by_currency in row.revenue.items():
            _add(out.revenue.setdefault(event, {}), by_currency)
        if row.campaign is not None:
            campaigns[row.campaign] = campaigns.get(row.campaign, 0) + max(row.clicks, 1)
    if campaigns:  # the campaign most of the window's clicks had
        out.campaign = min(campaigns, key=lambda c: (-campaigns[c], c))
    out.visitors_sketch = sketch.union(r.visitors_sketch for r in rows)
    out.visitors = round(sketch.estimate(out.visitors_sketch))
    out.exact = sketch.is_exact(out.visitors_sketch)
    if any(r.members is not None for r in rows):
        out.members_sketch = sketch.union(r.members_sketch for r in rows)
        out.members = round(sketch.estimate(out.members_sketch))
    return out


def _add(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0) + value


# ---------------------------------------------------------------------------------------------
# DynamoDB items (low-level attribute values)


def to_item(period: str, sk: str, row: Stats) -> dict[str, Any]:
    """The stats row as a DynamoDB item; the same row always gives the same item."""
    item: dict[str, Any] = {
        "pk": {"S": period},
        "sk": {"S": sk},
        "clicks": _n(row.clicks),
        "human_clicks": _n(row.human_clicks),
        "bot_clicks": _n(row.bot_clicks),
        "denied_clicks": _n(row.denied_clicks),
        "visitors": _n(row.visitors),
        "exact": {"BOOL": row.exact},
    }
    if row.visitors_sketch is not None:
        item["visitors_hll"] = {"B": row.visitors_sketch}
    if row.members is not None:
        item["members"] = _n(row.members)
        if row.members_sketch is not None:
            item["members_hll"] = {"B": row.members_sketch}
    if row.conversions:
        item["conversions"] = {"M": {k: _n(v) for k, v in sorted(row.conversions.items())}}
    if row.revenue:
        item["revenue"] = {
            "M": {
                event: {"M": {cur: _money(v) for cur, v in sorted(by.items())}}
                for event, by in sorted(row.revenue.items())
            }
        }
    if row.platform_events:
        item["platform_events"] = {"M": {k: _n(v) for k, v in sorted(row.platform_events.items())}}
    if row.campaign is not None:
        item["campaign"] = {"S": row.campaign}
    return item


def from_item(item: Mapping[str, Any]) -> tuple[str, str, Stats]:
    """(period, sk, row) from a DynamoDB item."""

    def n(name: str) -> int:
        return int(item[name]["N"]) if name in item else 0

    def blob(name: str) -> bytes | None:
        return bytes(item[name]["B"]) if name in item else None

    row = Stats(
        clicks=n("clicks"),
        human_clicks=n("human_clicks"),
        bot_clicks=n("bot_clicks"),
        denied_clicks=n("denied_clicks"),
        visitors=n("visitors"),
        visitors_sketch=blob("visitors_hll"),
        members=n("members") if "members" in item else None,
        members_sketch=blob("members_hll"),
        conversions={k: int(v["N"]) for k, v in item.get("conversions", {}).get("M", {}).items()},
        revenue={
            event: {cur: Decimal(v["N"]) for cur, v in by["M"].items()}
            for event, by in item.get("revenue", {}).get("M", {}).items()
        },
        platform_events={
            k: int(v["N"]) for k, v in item.get("platform_events", {}).get("M", {}).items()
        },
        campaign=item["campaign"]["S"] if "campaign" in item else None,
        exact=bool(item.get("exact", {}).get("BOOL", False)),
    )
    return item["pk"]["S"], item["sk"]["S"], row


def _n(value: int) -> dict[str, str]:
    return {"N": str(int(value))}


def _money(value: Decimal) -> dict[str, str]:
    return {"N": money_text(value)}


def money_text(value: Decimal) -> str:
    """``Decimal('49.9000')`` → ``'49.9'``; ``Decimal('50.0000')`` → ``'50'``."""
    text = format(Decimal(value).quantize(MONEY_PLACES).normalize(), "f")
    return "0" if text in ("-0", "") else text


def rate(part: int | float, whole: int | float) -> float | None:
    """``part / whole`` or None when there is no whole (a funnel step after an empty one)."""
    if not whole or math.isnan(whole):
        return None
    return part / whole
