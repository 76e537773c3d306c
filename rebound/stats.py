"""`rebound stats` and `rebound rollup`: the statistics report, shown, and the rollup by hand.

The report itself is ``chalicelib.rollup.report.collect()`` (plain JSON data: ``--json`` prints it
as is); ``render_text()`` prints it as tables with a trend sparkline, ``rebound.report.render_html()``
as a page with charts, both writing figures through ``rebound.figures``. ``run_rollup()`` is the
rollup by hand, on whatever AWS the CLI talks to.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.rollup.audiences import Catalog
from chalicelib.rollup.hours import hour_key, hours_of_day
from chalicelib.rollup.report import StatsError, parse_since
from rebound.figures import (
    approx,
    bar_width,
    margin,
    minimum,
    money,
    number,
    pct,
    readiness,
    ready_by,
    visitors,
)

SPARK = "▁▂▃▄▅▆▇█"
TABLE_ROWS = 20  # rows per table in the text output (--json has them all)
TABLE_TREND = 12  # sparkline blocks in a table column (longer windows are summed into buckets)
FOCUS_TREND = 48


def utc_now() -> datetime:
    """The commands' "now" (one place, so that tests can fix it)."""
    return datetime.now(UTC)


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
    error = margin(report["unique_visitors_error"])

    titles = {"link": "Link", "campaign": "Campaign", "audience": "Audience"}
    for e in report["focus"]:
        console.print()
        head = "All links" if e["dimension"] == "total" else f"{titles[e['dimension']]} {e['id']}"
        console.print(Text(head, "bold"))
        console.print(
            Text(f"clicks {number(e['clicks'])}  ")
            + Text(sparkline(squeeze(e["trend"]["clicks"], FOCUS_TREND)), "cyan")
            + Text(
                f"  human {number(e['human_clicks'])} · bots {number(e['bot_clicks'])} · "
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
            bar = "█" * round(bar_width(step["count"], top, 30))
            funnel.add_row(
                step["label"], number(step["count"]), pct(step["rate"]), Text(bar or "▏", "cyan")
            )
        console.print(funnel)
        pe = e["platform_events"]
        console.print(Text(f"revenue {money(e['revenue'])}"))
        console.print(
            Text(
                f"platform events: sent {number(pe['sent'])} · failed {number(pe['failed'])} · "
                f"skipped {number(pe['skipped'])}"
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
        ("clicks", lambda r: number(r["clicks"])),
        ("human", lambda r: number(r["human_clicks"])),
        ("visitors", visitors),
        ("leads", lambda r: number(r["leads"])),
        ("purch.", lambda r: number(r["purchases"])),
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
            ("size", lambda r: approx(r["size"], r["size_exact"])),
            ("send to", lambda r: ",".join(r["send_to"]) or "–"),
            ("clicks", lambda r: number(r["clicks"])),
        ],
    )
    render_readiness(report, console)
    table(
        "Destinations",
        report["platforms"],
        [
            ("destination", lambda r: r["id"]),
            ("kind", lambda r: r.get("kind", "ad platform")),
            ("clicks", lambda r: number(r["clicks"])),
            ("sent", lambda r: number(r["platform_events"]["sent"])),
            ("failed", lambda r: number(r["platform_events"]["failed"])),
            ("skipped", lambda r: number(r["platform_events"]["skipped"])),
            ("conv.", lambda r: number(sum(r["conversions"].values()))),
        ],
    )


def readiness_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per audience and destination, with the audience's id and whether its size is exact."""
    return [
        {**r, "audience": a["id"], "size_exact": a["size_exact"]}
        for a in report["audiences"]
        for r in a.get("readiness") or ()
    ]


def render_readiness(report: Mapping[str, Any], console: Any) -> None:
    """Each audience against the minimum of every platform it is sent to."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    rows = readiness_rows(report)
    if not rows:
        return
    t = Table(
        title=f"Audience readiness (ready by: at the growth of the last {report['rate_days']}d)",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
    )
    t.add_column("audience", overflow="fold", ratio=1, min_width=10)
    t.add_column("to", no_wrap=True)
    t.add_column("size", justify="right", no_wrap=True)
    t.add_column("min.", justify="right", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("ready by", no_wrap=True, min_width=10)  # a whole date, even at 80 columns
    for r in rows:
        style = "green" if r["ready"] else "bold red" if r["fell_below"] else ""
        t.add_row(
            Text(r["audience"]),
            Text(r["destination"]),
            Text(approx(r["size"], r["size_exact"])),
            Text(minimum(r)),
            Text(("⚠ " if r["fell_below"] else "") + readiness(r), style),
            Text(ready_by(r)),
        )
    if any(r["minimum"] is not None and not r["confirmed"] for r in rows):
        t.caption = "* minimum not confirmed by the platform's own documentation (docs/stats.md)"
    console.print()
    console.print(t)


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
