"""The statistics report's figures as people read them: counts, estimates, rates, money, times and
bar lengths. One place for the text tables (``rebound.stats``) and the page (``rebound.report``),
so that both write a figure the same way.

``–`` stands for "none" (no rate without a previous step, no revenue); an estimate from sketches
reads ``≈1,234``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

NONE = "–"


def number(value: int | None) -> str:
    """``12345`` -> ``12,345``; ``–`` when there is none."""
    return NONE if value is None else f"{value:,}"


def approx(value: int, exact: bool) -> str:
    """A count, marked ``≈`` when it is an estimate."""
    return number(value) if exact else f"≈{value:,}"


def visitors(e: Mapping[str, Any]) -> str:
    """A report entry's unique visitors, ≈ when merged from sketches."""
    return approx(e["unique_visitors"], e["unique_visitors_exact"])


def pct(value: float | None) -> str:
    """A rate as a percentage (– when there is none)."""
    return NONE if value is None else f"{value * 100:.1f}%"


def margin(error: float) -> str:
    """A relative error as ``±1.6%``."""
    return f"±{error * 100:.1f}%"


def amount(currency: str, value: float) -> str:
    """``EUR 1,234.50``."""
    return f"{currency} {value:,.2f}"


def money(revenue: Mapping[str, float | int], sep: str = ", ") -> str:
    """Revenue per currency, ``EUR 49.90, USD 20.00``; – when there is none."""
    return sep.join(amount(c, v) for c, v in revenue.items()) or NONE


def compact(value: float) -> str:
    """An axis value: ``2500`` -> ``2.5k``, ``3000000`` -> ``3M``."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def bar_width(value: float, top: float, full: float, least: float = 0.0) -> float:
    """The length of ``value``'s bar when ``top`` (the largest; 0 counts as 1) is ``full`` long,
    at least ``least``."""
    return max(least, full * value / (top or 1))


def period_label(period: str, unit: str) -> str:
    """A day or hour key as a chart label: ``Nov 23``, ``11-23 14h``."""
    if unit == "hour":
        return f"{period[5:10]} {period[11:13]}h"
    return datetime.strptime(period, "%Y-%m-%d").strftime("%b %d")


def utc_time(text: str) -> str:
    """``2026-11-23T14:30:00Z`` -> ``2026-11-23 14:30:00 UTC``."""
    return text.replace("T", " ").replace("Z", " UTC")


def minimum(r: Mapping[str, Any]) -> str:
    """A destination's minimum, ``100*`` when no platform documentation confirms it."""
    if r["minimum"] is None:
        return NONE
    return number(r["minimum"]) + ("" if r["confirmed"] else "*")


def readiness(r: Mapping[str, Any]) -> str:
    """``ready``, ``88 more needed``, or ``fell below · 88 more needed`` for an audience that was
    ready; ``no known minimum`` for a platform without one."""
    if r["ready"] is None:
        return "no known minimum"
    if r["ready"]:
        return "ready"
    needed = f"{r['needed']:,} more needed"
    return f"fell below · {needed}" if r["fell_below"] else needed


def ready_by(r: Mapping[str, Any]) -> str:
    """The estimated date an audience becomes ready at its current rate: ``2026-12-14``;
    ``now`` when it is, ``—`` when it does not grow."""
    if r["ready"]:
        return "now"
    return r["ready_on"] or "—"


def per_day(rate: float) -> str:
    """An audience's growth: ``+12.5/day``, ``−3/day``, ``0/day``."""
    text = f"{abs(rate):,.1f}".removesuffix(".0")
    return ("+" if rate > 0 else "−" if rate < 0 else "") + text + "/day"
