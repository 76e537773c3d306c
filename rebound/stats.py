"""`rebound stats` and `rebound rollup`: the rolled-up statistics, read and shown.

``collect()`` reads the stats table (day rows for a window in days, hour rows for one in hours),
merges each dimension's rows (counters add up, unique visitors come from the union of the rows'
sketches) and returns the report as plain JSON data; ``render_text()`` prints it as tables with a
trend sparkline, ``rebound.report.render_html()`` as a page with charts. ``run_rollup()`` is the
rollup by hand, on whatever AWS the CLI talks to.

Audience sizes are always over each audience's own ``window_days`` (day rows, up to today),
whatever ``--since`` says; the rest of the report is over ``--since``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chalicelib.rollup import sketch
from chalicelib.rollup.audiences import Catalog, link_id
from chalicelib.rollup.hours import days_back, hour_key, hours_back, hours_of_day
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

SPARK = "▁▂▃▄▅▆▇█"
MAX_DAYS = 400
MAX_HOURS = 24 * 14
TABLE_ROWS = 20  # rows per table in the text output (--json has them all)
TABLE_TREND = 12  # sparkline blocks in a table column (longer windows are summed into buckets)
FOCUS_TREND = 48
STD_DEVS = 3
FUNNEL = (
    ("clicks", "clicks"),
    ("human_clicks", "human clicks"),
    ("unique_visitors", "unique visitors"),
    ("leads", "leads"),
    ("purchases", "purchases"),
)


def utc_now() -> datetime:
    """The commands' "now" (one place, so that tests can fix it)."""
    return datetime.now(UTC)


class StatsError(Exception):
    """Something the user should read (an unknown link, a bad --since): exit 1."""


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


# ---------------------------------------------------------------------------------------------
# The report as data


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
    now = now or utc_now()
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
    audiences = []
    for a in wanted_audiences:
        e = entry(sort_key(AUDIENCE, a))
        spec = catalog.audience(a) or {}
        e.update(sizes[a])
        e["send_to"] = list(spec.get("send_to") or [])
        e["configured"] = bool(spec)
        e["links"] = catalog.feeding(a)
        audiences.append(e)
    platforms = (
        []
        if (link or campaign or audience)
        else [entry(sort_key(PLATFORM, p)) for p in keys(PLATFORM)]
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


# ---------------------------------------------------------------------------------------------
# Text


def sparkline(values: Sequence[float]) -> str:
    """One block per value, scaled to the largest; zero is the lowest block, any non-zero value
    at least the second lowest, so that "a little" never reads as "nothing"."""
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(
        SPARK[0] if v <= 0 else SPARK[max(1, min(7, math.ceil(v * 7 / top)))] for v in values
    )


def squeeze(values: Sequence[float], width: int) -> list[float]:
    """At most ``width`` values: consecutive periods summed into equal buckets (the latest
    bucket ends at the latest period), so a 48-hour trend fits a table column."""
    values = list(values)
    if len(values) <= width:
        return values
    size = math.ceil(len(values) / width)
    first = len(values) % size or size  # the oldest bucket takes the remainder
    out = [sum(values[:first])]
    out += [sum(values[i : i + size]) for i in range(first, len(values), size)]
    return out


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def pct(value: float | None) -> str:
    """A rate as a percentage (– when there is none)."""
    return "–" if value is None else f"{value * 100:.1f}%"


def visitors(e: Mapping[str, Any]) -> str:
    """Unique visitors, ≈ when merged from sketches."""
    return _n(e["unique_visitors"]) if e["unique_visitors_exact"] else f"≈{e['unique_visitors']:,}"


def money(revenue: Mapping[str, float | int]) -> str:
    if not revenue:
        return "–"
    return ", ".join(f"{c} {v:,.2f}" for c, v in revenue.items())


def _money_cell(revenue: Mapping[str, float | int]) -> str:
    """``money`` for a table cell: wraps between currencies, never inside an amount."""
    return money(revenue).replace(" ", "\u00a0").replace(",\u00a0", ", ")


def render_text(report: Mapping[str, Any], console: Any) -> None:
    """The report as readable tables on a rich ``console`` (fits 80 columns)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    w = report["window"]
    unit = w["unit"]
    console.print(
        Text(f"Rebound stats · last {w['since']} · {w['from']} → {w['to']} UTC, by {unit}", "bold")
    )
    rolled = report["rolled_up"]
    if rolled is None:
        console.print(
            Text("No rollup has run yet: run `rebound rollup` (the schedule runs it hourly).")
        )
    else:
        console.print(Text(f"rolled up to {rolled['hour']}:00 UTC (at {rolled['at']})", "dim"))
    error = f"±{report['unique_visitors_error'] * 100:.1f}%"

    titles = {"link": "Link", "campaign": "Campaign", "audience": "Audience"}
    for e in report["focus"]:
        console.print()
        head = "All links" if e["dimension"] == "total" else f"{titles[e['dimension']]} {e['id']}"
        console.print(Text(head, "bold"))
        console.print(
            Text(f"clicks {_n(e['clicks'])}  ")
            + Text(sparkline(squeeze(e["trend"]["clicks"], FOCUS_TREND)), "cyan")
            + Text(
                f"  human {_n(e['human_clicks'])} · bots {_n(e['bot_clicks'])} · "
                f"unique visitors {visitors(e)}"
                + ("" if e["unique_visitors_exact"] else f" ({error})")
            )
        )
        funnel = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for name, justify in (("funnel", "left"), ("count", "right"), ("step rate", "right")):
            funnel.add_column(name, justify=justify, no_wrap=True)
        funnel.add_column("", no_wrap=True)
        top = max((s["count"] for s in e["funnel"]), default=0) or 1
        for step in e["funnel"]:
            bar = "█" * round(30 * step["count"] / top)
            funnel.add_row(
                step["label"], _n(step["count"]), pct(step["rate"]), Text(bar or "▏", "cyan")
            )
        console.print(funnel)
        pe = e["platform_events"]
        console.print(Text(f"revenue {money(e['revenue'])}"))
        console.print(
            Text(
                f"platform events: sent {_n(pe['sent'])} · failed {_n(pe['failed'])} · "
                f"skipped {_n(pe['skipped'])}"
            )
        )

    def table(title: str, rows: list[Mapping[str, Any]], columns: list[tuple[str, Callable]]):
        if not rows:
            return
        t = Table(
            title=title,
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
        )
        longest = max((len(str(columns[0][1](r))) for r in rows[:TABLE_ROWS]), default=8)
        for i, (name, fn) in enumerate(columns):
            if i == 0:
                t.add_column(name, overflow="fold", ratio=1, min_width=min(longest, 26))
            else:
                widest = max((len(str(fn(r))) for r in rows[:TABLE_ROWS]), default=4)
                t.add_column(
                    name,
                    justify="right",
                    no_wrap=name != "revenue",
                    min_width=min(widest, 22) if name == "revenue" else None,
                )
        t.add_column("trend", no_wrap=True)
        for r in rows[:TABLE_ROWS]:
            t.add_row(
                *(Text(str(fn(r))) for _, fn in columns),
                Text(sparkline(squeeze(r["trend"]["clicks"], TABLE_TREND)), "cyan"),
            )
        if len(rows) > TABLE_ROWS:
            t.caption = f"and {len(rows) - TABLE_ROWS} more (--json has them all)"
        console.print()
        console.print(t)

    funnel = [
        ("clicks", lambda r: _n(r["clicks"])),
        ("human", lambda r: _n(r["human_clicks"])),
        ("visitors", visitors),
        ("leads", lambda r: _n(r["leads"])),
        ("purch.", lambda r: _n(r["purchases"])),
    ]
    revenue = ("revenue", lambda r: _money_cell(r["revenue"]))
    table(
        "Links",
        report["links"],
        [("link", lambda r: r["id"]), *funnel, revenue],
    )
    table(
        "Campaigns",
        report["campaigns"],
        [
            ("campaign", lambda r: r["id"]),
            *funnel,
            ("conv.", lambda r: pct(r["conversion_rate"])),
            revenue,
        ],
    )
    table(
        "Audiences (size: each audience's own window)",
        report["audiences"],
        [
            ("audience", lambda r: r["id"]),
            ("window", lambda r: f"{r['window_days']}d"),
            ("size", lambda r: _n(r["size"]) if r["size_exact"] else f"≈{r['size']:,}"),
            ("send to", lambda r: ",".join(r["send_to"]) or "–"),
            ("clicks", lambda r: _n(r["clicks"])),
        ],
    )
    table(
        "Platforms",
        report["platforms"],
        [
            ("platform", lambda r: r["id"]),
            ("clicks", lambda r: _n(r["clicks"])),
            ("sent", lambda r: _n(r["platform_events"]["sent"])),
            ("failed", lambda r: _n(r["platform_events"]["failed"])),
            ("skipped", lambda r: _n(r["platform_events"]["skipped"])),
            ("conv.", lambda r: _n(sum(r["conversions"].values()))),
        ],
    )


# ---------------------------------------------------------------------------------------------
# The commands' AWS side


def stats_store() -> Any:
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.rollup.store import StatsStore

    return StatsStore(client("dynamodb"), Names.from_env().stats_table)


def live_catalog() -> Catalog:
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names

    return Catalog.from_table(client("dynamodb"), Names.from_env().links_table)


def run_rollup(
    *,
    hours: Iterable[str] | None = None,
    since: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    progress: Callable[[Any], None] | None = None,
) -> Any:
    """`rebound rollup`: the given hours (``--hour``), the hours of ``--since``, else what the
    schedule would do; returns the ``RunReport``."""
    from chalicelib.aws.names import Names
    from chalicelib.rollup.run import Rollup

    now = now or utc_now()
    if since is not None:
        window = parse_since(since, now)
        if window.unit == "day":
            current = hour_key(now)
            hours = [h for d in window.periods for h in hours_of_day(d) if h <= current]
        else:
            hours = list(window.periods)
    rollup = Rollup.for_names(Names.from_env())
    try:
        return rollup.run(
            now=now, hours=list(hours) if hours else None, force=force, progress=progress
        )
    except ValueError as exc:
        raise StatsError(str(exc)) from None
