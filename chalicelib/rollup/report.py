"""The statistics report: the stats table's rows for a window, merged into plain JSON data.

``collect()`` reads the day rows for a window in days (the hour rows for one in hours), merges each
dimension's rows (counters add up, unique visitors come from the union of the rows' sketches) and
returns the report: the focus (all links, or the one link, campaign or audience asked about) with
its funnel and trend, then tables of links, campaigns, audiences and platforms. ``rebound stats``
prints it (text, JSON, a page with charts); anything else that serves statistics can call it with
its own store and catalog.

Audience sizes are always over each audience's own ``window_days`` (day rows, up to today),
whatever the window says; the rest of the report is over the window. Each audience also says,
per destination (its ``send_to``), whether its size reaches that platform's minimum
(``readiness.MINIMUMS``), how many more it needs, and when it should get there at its current
daily rate: its size now minus its size one window ago (``rate_days``: the window's days, at
least one), a day. An audience the last scheduled check found ready and that is below now is
flagged ``fell_below`` (the check's state is in the stats table).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.platforms.registry import is_own_system, kind_of
from chalicelib.rollup import sketch
from chalicelib.rollup.audiences import Catalog, link_id
from chalicelib.rollup.hours import days_back, hours_back
from chalicelib.rollup.metrics import (
    AUDIENCE,
    CAMPAIGN,
    LINK,
    PLATFORM,
    TOTAL,
    Stats,
    day_period,
    hour_period,
    merge,
    money_text,
    rate,
    sort_key,
    split_sort_key,
)
from chalicelib.rollup.readiness import assess, daily_rate

MAX_DAYS = 400
MAX_HOURS = 24 * 14
STD_DEVS = 3
FUNNEL = (
    ("clicks", "clicks"),
    ("human_clicks", "human clicks"),
    ("unique_visitors", "unique visitors"),
    ("leads", "leads"),
    ("purchases", "purchases"),
)


class StatsError(Exception):
    """Something the user should read (an unknown link, a bad --since); the CLI exits 1."""


@dataclass(frozen=True)
class Window:
    since: str  # as given: "7d", "48h", "2w"
    unit: str  # "day" or "hour"
    periods: tuple[str, ...]  # day or hour keys, oldest first

    @property
    def pks(self) -> list[str]:
        to_pk = day_period if self.unit == "day" else hour_period
        return [to_pk(p) for p in self.periods]


def parse_since(text: str, now: datetime) -> Window:
    """``7d``, ``30d``, ``2w``, ``48h`` → the window ending now (today / this hour included)."""
    match = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text or "")
    if not match or int(match.group(1)) < 1:
        raise StatsError(f"--since {text!r}: use a number of hours, days or weeks (48h, 7d, 2w)")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "h":
        if count > MAX_HOURS:
            raise StatsError(f"--since {text}: at most {MAX_HOURS}h; use days beyond that")
        return Window(text.strip(), "hour", tuple(hours_back(now, count)))
    days = count * 7 if unit == "w" else count
    if days > MAX_DAYS:
        raise StatsError(f"--since {text}: at most {MAX_DAYS} days")
    return Window(text.strip(), "day", tuple(days_back(now, days)))


def parse_link(text: str) -> str:
    domain, sep, slug = text.strip().strip("/").partition("/")
    if not sep or not domain or not slug or "/" in slug:
        raise StatsError(f"--link {text!r}: give DOMAIN/SLUG, e.g. go.example.com/spring-sale")
    return link_id(domain, slug) or ""


def collect(
    store: Any,
    catalog: Catalog,
    window: Window,
    *,
    link: str | None = None,
    campaign: str | None = None,
    audience: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The report (plain JSON data) for ``window``, optionally about one link/campaign/audience."""
    now = now or datetime.now(UTC)
    link = parse_link(link) if link else None
    by_period = store.read(window.pks)
    series: dict[str, list[Stats | None]] = {}
    for i, pk in enumerate(window.pks):
        for sk, row in by_period.get(pk, {}).items():
            series.setdefault(sk, [None] * len(window.pks))[i] = row

    def entry(sk: str) -> dict[str, Any]:
        rows = series.get(sk) or []
        present = [r for r in rows if r is not None]
        merged = merge(present) if present else Stats()
        dim, key = split_sort_key(sk)
        out = _entry(dim, key, merged)
        out["trend"] = {
            name: [getattr(r, attr) if r is not None else 0 for r in rows] or [0] * len(window.pks)
            for name, attr in (
                ("clicks", "clicks"),
                ("human_clicks", "human_clicks"),
                ("bot_clicks", "bot_clicks"),
                ("unique_visitors", "visitors"),
            )
        }
        return out

    by_dim: dict[str, set[str]] = {}
    for sk in series:
        dim, key = split_sort_key(sk)
        by_dim.setdefault(dim, set()).add(key)

    def keys(dim: str) -> list[str]:
        return sorted(by_dim.get(dim, ()))

    audience_ids = sorted({a["id"] for a in catalog.audiences} | set(keys(AUDIENCE)))
    for name, value, known in (
        ("link", link, set(keys(LINK)) | set(catalog.links)),
        ("campaign", campaign, set(keys(CAMPAIGN)) | _campaigns(catalog)),
        ("audience", audience, set(audience_ids)),
    ):
        if value is not None and value not in known:
            raise StatsError(
                f"no {name} {value!r}: not in the config and no statistics in the last "
                f"{window.since}"
            )

    focus = []
    if link:
        focus.append(entry(sort_key(LINK, link)))
    if campaign:
        focus.append(entry(sort_key(CAMPAIGN, campaign)))
    if audience:
        focus.append(entry(sort_key(AUDIENCE, audience)))
    if not focus:
        focus.append(entry(TOTAL))

    feeds = set(catalog.feeding(audience)) if audience else None
    links = []
    for key in sorted(set(keys(LINK)) | set(catalog.links)):
        if (link and key != link) or (feeds is not None and key not in feeds):
            continue  # before entry(): merging a link's sketches is the costly part
        e = entry(sort_key(LINK, key))
        if e["campaign"] is None and key in catalog.links:
            e["campaign"] = catalog.links[key].get("campaign")
        if campaign and e["campaign"] != campaign:
            continue
        links.append(e)

    campaigns = [
        entry(sort_key(CAMPAIGN, c))
        for c in sorted(set(keys(CAMPAIGN)) | _campaigns(catalog))
        if (not campaign or c == campaign) and not link and not audience
    ]
    wanted_audiences = [a for a in audience_ids if not audience or a == audience]
    if link and not audience:
        wanted_audiences = [a for a in wanted_audiences if link in catalog.feeding(a)]
    sizes = audience_sizes(store, catalog, wanted_audiences, now)
    rate_days = _rate_days(window)
    before = audience_sizes(store, catalog, wanted_audiences, now - timedelta(days=rate_days))
    previous = store.readiness() if wanted_audiences else {}
    today = now.astimezone(UTC).date()
    audiences = []
    for a in wanted_audiences:
        e = entry(sort_key(AUDIENCE, a))
        spec = catalog.audience(a) or {}
        e.update(sizes[a])
        e["send_to"] = list(spec.get("send_to") or [])
        e["configured"] = bool(spec)
        e["links"] = catalog.feeding(a)
        e["growth_per_day"] = daily_rate(e["size"], before[a]["size"], rate_days)
        e["readiness"] = [
            assess(d, e["size"], e["growth_per_day"], today, previous.get((a, d)))
            for d in e["send_to"]
            if not is_own_system(d)  # an email tool has no audience to fill
        ]
        audiences.append(e)
    platforms = (
        []
        if (link or campaign or audience)
        else [{**entry(sort_key(PLATFORM, p)), "kind": kind_of(p)} for p in keys(PLATFORM)]
    )
    for table in (links, campaigns, platforms):
        table.sort(key=lambda e: (-e["clicks"], -e["platform_events"]["sent"], e["id"]))
    audiences.sort(key=lambda e: (-e["size"], e["id"]))

    latest = store.latest_manifest()
    return {
        "generated_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window": {
            "since": window.since,
            "unit": window.unit,
            "from": window.periods[0],
            "to": window.periods[-1],
            "periods": list(window.periods),
        },
        "rolled_up": (
            {"hour": latest.hour, "at": latest.rolled_at} if latest is not None else None
        ),
        "filters": {"link": link, "campaign": campaign, "audience": audience},
        "unique_visitors_error": round(sketch.relative_error(STD_DEVS), 4),
        "rate_days": rate_days,
        "focus": focus,
        "links": links,
        "campaigns": campaigns,
        "audiences": audiences,
        "platforms": platforms,
    }


def audience_sizes(
    store: Any, catalog: Catalog, audience_ids: Sequence[str], now: datetime
) -> dict[str, dict[str, Any]]:
    """Each audience's size: unique human visitors who did not deny consent and clicked a link
    that feeds it within its ``window_days`` (today included), from the day rows' sketches."""
    out: dict[str, dict[str, Any]] = {}
    by_window: dict[int, list[str]] = {}
    for a in audience_ids:
        by_window.setdefault(catalog.window_days(a), []).append(a)
    for days, ids in sorted(by_window.items()):
        periods = [day_period(d) for d in days_back(now, days)]
        found = store.read(periods, sks=[sort_key(AUDIENCE, a) for a in ids])
        for a in ids:
            rows = [
                found[p][sort_key(AUDIENCE, a)]
                for p in periods
                if sort_key(AUDIENCE, a) in found[p]
            ]
            if len(rows) == 1 and rows[0].members is not None:
                size, blob, exact = rows[0].members, rows[0].members_sketch, rows[0].exact
            else:
                blob = sketch.union(r.members_sketch for r in rows)
                size, exact = round(sketch.estimate(blob)), sketch.is_exact(blob)
            low, high = sketch.bounds(blob, STD_DEVS) if not exact else (size, size)
            out[a] = {
                "window_days": days,
                "size": size,
                "size_exact": exact,
                "size_low": math.floor(low),
                "size_high": math.ceil(high),
            }
    return out


def _rate_days(window: Window) -> int:
    """Days over which an audience's daily growth is measured: the window's, at least one (the
    sizes come from day rows)."""
    if window.unit == "day":
        return len(window.periods)
    return max(1, math.ceil(len(window.periods) / 24))


def _campaigns(catalog: Catalog) -> set[str]:
    return {spec["campaign"] for spec in catalog.links.values() if spec.get("campaign")}


def _entry(dim: str, key: str, s: Stats) -> dict[str, Any]:
    leads = s.conversions.get("lead", 0)
    purchases = s.conversions.get("purchase", 0)
    counts = {
        "clicks": s.clicks,
        "human_clicks": s.human_clicks,
        "unique_visitors": s.visitors,
        "leads": leads,
        "purchases": purchases,
    }
    funnel = []
    previous = None
    for name, label in FUNNEL:
        funnel.append(
            {
                "step": name,
                "label": label,
                "count": counts[name],
                "rate": _round(rate(counts[name], counts[previous])) if previous else None,
                "of_clicks": _round(rate(counts[name], s.clicks)),
            }
        )
        previous = name
    return {
        "dimension": dim,
        "id": key,
        "label": _label(dim, key),
        "campaign": s.campaign,
        "clicks": s.clicks,
        "human_clicks": s.human_clicks,
        "bot_clicks": s.bot_clicks,
        "consent_denied": s.denied_clicks,
        "unique_visitors": s.visitors,
        "unique_visitors_exact": s.exact,
        "members": s.members,
        "conversions": dict(sorted(s.conversions.items())),
        "leads": leads,
        "purchases": purchases,
        "conversion_rate": _round(rate(purchases, s.visitors)),
        "revenue": {c: _number(v) for c, v in s.revenue_by_currency().items()},
        "revenue_by_event": {
            event: {c: _number(v) for c, v in sorted(by.items())}
            for event, by in sorted(s.revenue.items())
        },
        "platform_events": {
            "sent": s.events_sent,
            "failed": s.events_failed,
            "skipped": s.events_skipped,
            "by_status": dict(sorted(s.platform_events.items())),
        },
        "funnel": funnel,
    }


def _label(dim: str, key: str) -> str:
    return "All links" if dim == TOTAL else key


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _number(value: Decimal) -> float | int:
    text = money_text(value)
    return int(text) if "." not in text else float(text)
