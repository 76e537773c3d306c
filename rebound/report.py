"""`rebound stats --html FILE`: the report as one self-contained page a marketer can open.

Charts are inline SVG generated here (no script, no font, no stylesheet fetched at view time):
clicks over time (human and bot clicks stacked, unique visitors as a line), the funnel, audience
sizes, platform outcomes, and tables with a sparkline per link and campaign. Every name that
comes from the data (slugs, campaigns, audience ids) is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from rebound.figures import (
    amount,
    approx,
    bar_width,
    compact,
    margin,
    minimum,
    money,
    number,
    pct,
    per_day,
    period_label,
    readiness,
    ready_by,
    utc_time,
    visitors,
)

HUMAN = "#4f46e5"
BOT = "#cbd5e1"
VISITORS = "#f59e0b"
SENT = "#16a34a"
FAILED = "#dc2626"
SKIPPED = "#94a3b8"
INK = "#0f172a"
MUTED = "#64748b"
GRID = "#e2e8f0"
FUNNEL_COLORS = ("#4338ca", "#4f46e5", "#6366f1", "#818cf8", "#a5b4fc")
TOP_LINKS = 15


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page."""
    w = report["window"]
    focus = report["focus"][0]
    title = "All links" if focus["dimension"] == "total" else f"{focus['dimension']} {focus['id']}"
    rolled = report["rolled_up"]
    freshness = f"rolled up to {rolled['hour']}:00 UTC" if rolled else "no rollup has run yet"
    sections = [
        _kpis(focus, report["unique_visitors_error"]),
        _card(
            "Clicks over time",
            _time_chart(w["periods"], w["unit"], focus["trend"]),
            "chart-clicks",
            f"Human and bot clicks per {w['unit']} (UTC); the line is unique visitors.",
        ),
        _card(
            "Funnel",
            _funnel_chart(focus["funnel"]),
            "chart-funnel",
            "Each step's rate is of the step before it.",
        ),
    ]
    if report["audiences"]:
        sections.append(
            _card(
                "Audiences",
                _audience_chart(report["audiences"]),
                "chart-audiences",
                "Unique human visitors who did not deny consent and clicked a link that feeds "
                "the audience within its window.",
            )
        )
    readiness_rows = [(a, r) for a in report["audiences"] for r in a.get("readiness") or ()]
    if readiness_rows:
        sections.append(
            _card(
                "Audience readiness",
                _readiness_table(readiness_rows),
                "table-readiness",
                "Each audience's consented size against the minimum of every platform it is sent "
                f"to. Ready by: at its growth over the last {report['rate_days']} days.",
            )
        )
    if report["platforms"]:
        sections.append(
            _card(
                "Destination events",
                _platform_chart(report["platforms"]),
                "chart-platforms",
                "Server-side events per destination (ad platforms, email tools, webhooks): sent "
                "(or dry run), failed, skipped.",
            )
        )
    if report["links"]:
        sections.append(_card("Links", _links_table(report["links"]), "table-links"))
    if report["campaigns"]:
        sections.append(
            _card("Campaigns", _campaigns_table(report["campaigns"]), "table-campaigns")
        )
    body = "\n".join(sections)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rebound · {escape(title)} · last {escape(w["since"])}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
  <h1>{escape(title)}</h1>
  <p class="sub">Last {escape(w["since"])} · {escape(w["from"])} → {escape(w["to"])} UTC ·
  {escape(freshness)} · generated {escape(utc_time(report["generated_at"]))}</p>
</header>
<main>
{body}
</main>
<footer>Rebound · unique visitors over more than one hour are HyperLogLog estimates
({margin(report["unique_visitors_error"])} at 99.7%).</footer>
</body>
</html>
"""


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f1f5f9; color: #0f172a;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header, main, footer { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 2px; }
.sub, .note, footer { color: #64748b; font-size: 13px; }
.note { margin: 0 0 12px; }
footer { padding-bottom: 32px; }
main { display: grid; gap: 18px; padding-top: 18px; padding-bottom: 18px; }
.card { background: #fff; border-radius: 12px; padding: 18px 20px;
  box-shadow: 0 1px 2px rgba(15,23,42,.06), 0 1px 8px rgba(15,23,42,.04); }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 12px; }
.kpi.wide { grid-column: span 2; }
.kpi { background: #fff; border-radius: 12px; padding: 14px 16px;
  box-shadow: 0 1px 2px rgba(15,23,42,.06); }
.kpi .label { color: #64748b; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.kpi .value { font-size: 24px; font-weight: 650; margin-top: 2px; white-space: nowrap; }
.kpi .hint { color: #64748b; font-size: 12px; }
svg.chart { display: block; width: 100%; height: auto; }
svg text { font-family: inherit; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th { text-align: left; color: #64748b; font-weight: 600; font-size: 12px; text-transform: uppercase;
  letter-spacing: .03em; border-bottom: 1px solid #e2e8f0; padding: 6px 8px; }
td { border-bottom: 1px solid #f1f5f9; padding: 7px 8px; vertical-align: middle; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { min-width: 14em; overflow-wrap: anywhere; }
.bar { display: inline-block; height: 8px; border-radius: 4px; background: #4f46e5;
  vertical-align: middle; margin-right: 8px; }
svg.spark { width: 120px; height: 28px; vertical-align: middle; }
.progress { display: inline-block; width: 90px; height: 8px; border-radius: 4px;
  background: #e2e8f0; vertical-align: middle; margin-right: 8px; overflow: hidden; }
.progress i { display: block; height: 100%; background: #4f46e5; }
tr.ready .progress i { background: #16a34a; }
.status { font-weight: 600; white-space: nowrap; }
tr.ready .status { color: #16a34a; }
tr.fell { background: #fef2f2; }
tr.fell .status { color: #dc2626; }
.flag { display: inline-block; background: #dc2626; color: #fff; border-radius: 4px;
  padding: 0 6px; margin-right: 6px; font-size: 12px; }
.legend { display: flex; gap: 16px; color: #64748b; font-size: 13px; margin: 0 0 8px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; vertical-align: -1px; }
"""


# ---------------------------------------------------------------------------------------------
# Pieces


def _card(title: str, content: str, ident: str, note: str = "") -> str:
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return (
        f'<section class="card" id="{ident}"><h2>{escape(title)}</h2>{note_html}{content}</section>'
    )


def _kpis(e: Mapping[str, Any], error: float) -> str:
    pe = e["platform_events"]
    revenue = e["revenue"]
    if revenue:
        currency, value = max(revenue.items(), key=lambda kv: kv[1])
        revenue_value = escape(amount(currency, value))
        others = {c: v for c, v in revenue.items() if c != currency}
        revenue_hint = money(others, " · ") if others else "all conversions with a value"
    else:
        revenue_value, revenue_hint = "–", "no conversion with a value"
    visitors_hint = "exact" if e["unique_visitors_exact"] else f"estimate, {margin(error)}"
    cards = [
        ("Clicks", number(e["clicks"]), f"{number(e['bot_clicks'])} from bots"),
        (
            "Human clicks",
            number(e["human_clicks"]),
            pct(e["funnel"][1]["rate"]) + " of clicks",
        ),
        ("Unique visitors", number(e["unique_visitors"]), visitors_hint),
        ("Leads", number(e["leads"]), pct(e["funnel"][3]["rate"]) + " of visitors"),
        ("Purchases", number(e["purchases"]), pct(e["conversion_rate"]) + " of visitors"),
        ("Revenue", revenue_value, revenue_hint),
        ("Platform events", number(pe["sent"]), f"sent · {number(pe['failed'])} failed"),
    ]
    return (
        '<section class="kpis" id="kpis">'
        + "".join(
            f'<div class="kpi{" wide" if label == "Revenue" else ""}">'
            f'<div class="label">{escape(label)}</div>'
            f'<div class="value">{value}</div><div class="hint">{escape(hint)}</div></div>'
            for label, value, hint in cards
        )
        + "</section>"
    )


def _time_chart(periods: Sequence[str], unit: str, trend: Mapping[str, Sequence[int]]) -> str:
    width, height = 960, 300
    left, right, top, bottom = 56, 16, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    human, bots, visitors = trend["human_clicks"], trend["bot_clicks"], trend["unique_visitors"]
    totals = [h + b for h, b in zip(human, bots, strict=True)]
    ticks = _ticks(max([*totals, *visitors, 1]))
    top_value = ticks[-1]
    n = max(len(periods), 1)
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.7)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    parts = []
    for t in ticks:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{left - 8}" y="{y(t) + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="{MUTED}">{compact(t)}</text>'
        )
    every = max(1, math.ceil(n / 12))
    for i, period in enumerate(periods):
        x = left + slot * i + (slot - bar_w) / 2
        h_top, b_top = y(human[i]), y(totals[i])
        label = period_label(period, unit)
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {number(totals[i])} clicks '
            f"({number(human[i])} human, {number(bots[i])} bots), "
            f"{number(visitors[i])} unique visitors</title>"
            f'<rect x="{x:.1f}" y="{h_top:.1f}" width="{bar_w:.1f}" '
            f'height="{max(0.0, y(0) - h_top):.1f}" fill="{HUMAN}" rx="2"/>'
            f'<rect x="{x:.1f}" y="{b_top:.1f}" width="{bar_w:.1f}" '
            f'height="{max(0.0, h_top - b_top):.1f}" fill="{BOT}" rx="2"/></g>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 12}" text-anchor="middle" '
                f'font-size="12" fill="{MUTED}">{escape(label)}</text>'
            )
    points = " ".join(
        f"{left + slot * i + slot / 2:.1f},{y(v):.1f}" for i, v in enumerate(visitors)
    )
    if len(visitors) > 1:
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{VISITORS}" stroke-width="2.5" '
            'stroke-linejoin="round"/>'
        )
    for i, v in enumerate(visitors):
        parts.append(
            f'<circle cx="{left + slot * i + slot / 2:.1f}" cy="{y(v):.1f}" r="3" '
            f'fill="{VISITORS}"/>'
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    legend = (
        '<div class="legend">'
        f'<span><i style="background:{HUMAN}"></i>human clicks</span>'
        f'<span><i style="background:{BOT}"></i>bot clicks</span>'
        f'<span><i style="background:{VISITORS}"></i>unique visitors</span></div>'
    )
    return legend + _svg(width, height, "".join(parts), "Clicks over time")


@dataclass(frozen=True)
class _Rows:
    """A horizontal bar chart's layout: one row an item, a label column, the plot, a value
    column."""

    count: int
    row_h: int
    gap: int
    label_w: int
    value_w: int
    width: int = 960

    @property
    def height(self) -> int:
        return self.count * (self.row_h + self.gap) + 4

    @property
    def plot_w(self) -> int:
        return self.width - self.label_w - self.value_w

    def y(self, i: int) -> int:
        return i * (self.row_h + self.gap) + 2

    def svg(self, parts: Sequence[str], label: str) -> str:
        return _svg(self.width, self.height, "".join(parts), label)


def _funnel_chart(funnel: Sequence[Mapping[str, Any]]) -> str:
    layout = _Rows(len(funnel), row_h=46, gap=10, label_w=150, value_w=190)
    width, row_h, label_w, value_w, plot_w = (
        layout.width, layout.row_h, layout.label_w, layout.value_w, layout.plot_w
    )  # fmt: skip
    top_value = max((s["count"] for s in funnel), default=0) or 1
    parts = []
    for i, step in enumerate(funnel):
        y = layout.y(i)
        w = bar_width(step["count"], top_value, plot_w, least=3.0)
        x = label_w + (plot_w - w) / 2
        color = FUNNEL_COLORS[i % len(FUNNEL_COLORS)]
        rate = "" if step["rate"] is None else f"{pct(step['rate'])} of previous"
        parts.append(
            f'<g class="step"><title>{escape(step["label"])}: {number(step["count"])}'
            f"{' (' + rate + ')' if rate else ''}</title>"
            f'<text x="0" y="{y + row_h / 2 + 5:.1f}" font-size="14" fill="{INK}">'
            f"{escape(step['label'])}</text>"
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h}" rx="6" fill="{color}"/>'
            f'<text x="{width - value_w + 12}" y="{y + row_h / 2 - 2:.1f}" font-size="16" '
            f'font-weight="650" fill="{INK}">{number(step["count"])}</text>'
            f'<text x="{width - value_w + 12}" y="{y + row_h / 2 + 15:.1f}" font-size="12" '
            f'fill="{MUTED}">{escape(rate)}</text></g>'
        )
    return layout.svg(parts, "Funnel")


def _audience_chart(audiences: Sequence[Mapping[str, Any]]) -> str:
    layout = _Rows(len(audiences), row_h=30, gap=12, label_w=300, value_w=110)
    row_h, label_w, plot_w = layout.row_h, layout.label_w, layout.plot_w
    top_value = max((a["size"] for a in audiences), default=0) or 1
    parts = []
    for i, a in enumerate(audiences):
        y = layout.y(i)
        w = bar_width(a["size"], top_value, plot_w, least=2.0)
        size = approx(a["size"], a["size_exact"])
        detail = f"{a['window_days']} days" + (
            " · " + ", ".join(a["send_to"]) if a["send_to"] else ""
        )
        parts.append(
            f'<g class="audience"><title>{escape(a["id"])}: {size} visitors in the last '
            f"{a['window_days']} days</title>"
            f'<text x="0" y="{y + 13}" font-size="14" fill="{INK}">{escape(a["id"])}</text>'
            f'<text x="0" y="{y + 28}" font-size="12" fill="{MUTED}">{escape(detail)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="4" '
            f'fill="{HUMAN}"/>'
            f'<text x="{label_w + w + 8:.1f}" y="{y + row_h / 2 + 5}" font-size="14" '
            f'font-weight="650" fill="{INK}">{size}</text></g>'
        )
    return layout.svg(parts, "Audience sizes")


def _platform_chart(platforms: Sequence[Mapping[str, Any]]) -> str:
    layout = _Rows(len(platforms), row_h=26, gap=12, label_w=140, value_w=230)
    row_h, label_w, plot_w = layout.row_h, layout.label_w, layout.plot_w
    totals = [
        p["platform_events"]["sent"]
        + p["platform_events"]["failed"]
        + p["platform_events"]["skipped"]
        for p in platforms
    ]
    top_value = max(totals, default=0) or 1
    parts = []
    for i, p in enumerate(platforms):
        y = layout.y(i)
        pe = p["platform_events"]
        x = float(label_w)
        segments = []
        for value, color in ((pe["sent"], SENT), (pe["failed"], FAILED), (pe["skipped"], SKIPPED)):
            w = bar_width(value, top_value, plot_w)
            if w > 0:
                segments.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h}" fill="{color}"/>'
                )
            x += w
        if not segments:
            segments.append(
                f'<rect x="{label_w}" y="{y}" width="2" height="{row_h}" fill="{SKIPPED}"/>'
            )
        parts.append(
            f'<g class="platform"><title>{escape(p["id"])}: {number(pe["sent"])} sent, '
            f"{number(pe['failed'])} failed, {number(pe['skipped'])} skipped</title>"
            f'<text x="0" y="{y + row_h / 2 + 5}" font-size="14" fill="{INK}">'
            f"{escape(p['id'])}{_kind_mark(p)}</text>{''.join(segments)}"
            f'<text x="{x + 8:.1f}" y="{y + row_h / 2 + 5}" font-size="13" fill="{INK}">'
            f"{number(pe['sent'])} sent · {number(pe['failed'])} failed</text></g>"
        )
    legend = (
        '<div class="legend">'
        f'<span><i style="background:{SENT}"></i>sent</span>'
        f'<span><i style="background:{FAILED}"></i>failed</span>'
        f'<span><i style="background:{SKIPPED}"></i>skipped</span></div>'
    )
    return legend + layout.svg(parts, "Platform events")


def _kind_mark(entry: Mapping[str, Any]) -> str:
    """A small mark after an email tool's or a webhook's name (ad platforms are the default)."""
    kind = entry.get("kind") or "ad platform"
    if kind == "ad platform":
        return ""
    return f'<tspan font-size="11" fill="{MUTED}"> · {escape(kind)}</tspan>'


def _links_table(links: Sequence[Mapping[str, Any]]) -> str:
    shown = links[:TOP_LINKS]
    top_value = max((e["clicks"] for e in shown), default=0) or 1
    rows = []
    for e in shown:
        bar = round(bar_width(e["clicks"], top_value, 80, least=2)) if e["clicks"] else 0
        rows.append(
            f'<tr><td class="name">{escape(e["id"])}</td>'
            f"<td>{escape(e['campaign'] or '–')}</td>"
            f'<td class="num"><span class="bar" style="width:{bar}px"></span>{number(e["clicks"])}</td>'
            f'<td class="num">{number(e["human_clicks"])}</td>'
            f'<td class="num">{visitors(e)}</td>'
            f'<td class="num">{number(e["leads"])}</td><td class="num">{number(e["purchases"])}</td>'
            f'<td class="num">{escape(money(e["revenue"], " · "))}</td>'
            f"<td>{_spark(e['trend']['clicks'])}</td></tr>"
        )
    more = (
        f'<p class="note">and {len(links) - TOP_LINKS} more links (rebound stats --json)</p>'
        if len(links) > TOP_LINKS
        else ""
    )
    return (
        "<table><thead><tr><th>link</th><th>campaign</th><th class=num>clicks</th>"
        "<th class=num>human</th><th class=num>visitors</th><th class=num>leads</th>"
        "<th class=num>purchases</th><th class=num>revenue</th><th>trend</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


def _readiness_table(rows: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> str:
    out = []
    for a, r in rows:
        known = r["minimum"] is not None
        share = min(1.0, r["size"] / r["minimum"]) if known and r["minimum"] else 0.0
        kind = "ready" if r["ready"] else "fell" if r["fell_below"] else "waiting"
        flag = '<span class="flag">fell below</span>' if r["fell_below"] else ""
        status = escape(readiness(r)).replace("fell below · ", "")
        # The source is in docs/stats.md: the page links nowhere.
        title = (
            f"{r['counted']}, {r['window']}"
            + ("" if r["confirmed"] else "; not confirmed by the platform's own documentation")
            if known
            else "Rebound knows no minimum for this platform"
        )
        out.append(
            f'<tr class="{kind}"><td class="name">{escape(a["id"])}</td>'
            f"<td>{escape(r['destination'])}</td>"
            f'<td class="num"><span class="progress"><i style="width:{share * 100:.0f}%"></i>'
            f"</span>{approx(r['size'], a['size_exact'])}</td>"
            f'<td class="num" title="{escape(title)}">{escape(minimum(r))}</td>'
            f'<td class="num">{escape(per_day(a["growth_per_day"]))}</td>'
            f'<td class="status">{flag}{status}</td>'
            f'<td class="num">{escape(ready_by(r))}</td></tr>'
        )
    unconfirmed = any(r["minimum"] is not None and not r["confirmed"] for _, r in rows)
    note = (
        '<p class="note">* minimum not confirmed by the platform\'s own documentation '
        "(docs/stats.md lists every minimum with its source).</p>"
        if unconfirmed
        else ""
    )
    return (
        "<table><thead><tr><th>audience</th><th>destination</th><th class=num>size</th>"
        "<th class=num>minimum</th><th class=num>growth</th><th>status</th>"
        "<th class=num>ready by</th></tr></thead>"
        f"<tbody>{''.join(out)}</tbody></table>{note}"
    )


def _campaigns_table(campaigns: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for e in campaigns:
        rows.append(
            f'<tr><td class="name">{escape(e["id"])}</td>'
            f'<td class="num">{number(e["clicks"])}</td>'
            f'<td class="num">{number(e["human_clicks"])}</td>'
            f'<td class="num">{visitors(e)}</td><td class="num">{number(e["leads"])}</td>'
            f'<td class="num">{number(e["purchases"])}</td>'
            f'<td class="num">{pct(e["conversion_rate"])}</td>'
            f'<td class="num">{escape(money(e["revenue"], " · "))}</td>'
            f"<td>{_spark(e['trend']['clicks'])}</td></tr>"
        )
    return (
        "<table><thead><tr><th>campaign</th><th class=num>clicks</th><th class=num>human</th>"
        "<th class=num>visitors</th><th class=num>leads</th><th class=num>purchases</th>"
        "<th class=num>conv. rate</th><th class=num>revenue</th><th>trend</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _spark(values: Sequence[int]) -> str:
    width, height = 120, 28
    top_value = max(values, default=0) or 1
    n = len(values)
    if n == 0:
        return ""
    step = width / max(n - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 3 - (height - 6) * v / top_value:.1f}"
        for i, v in enumerate(values)
    )
    if n == 1:
        points = f"0,{height / 2} {width},{height / 2}"
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="trend"><polyline points="{points}" fill="none" '
        f'stroke="{HUMAN}" stroke-width="2" stroke-linejoin="round"/></svg>'
    )


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"{body}</svg>"
    )


def _ticks(top: float) -> list[float]:
    """0 and four or five round steps reaching at least ``top``."""
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    step = max(step, 1)
    count = math.ceil(top / step)
    return [step * i for i in range(count + 1)]
