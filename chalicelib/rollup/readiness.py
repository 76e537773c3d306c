"""Audience readiness: is an audience big enough for each platform it is sent to, and when will it be.

A platform serves ads to a retargeting audience only once it holds enough people: ``MINIMUMS`` is
the one table of those minimums (platform -> minimum, what the platform counts, over which window,
the source, and whether that source is the platform's own documentation). docs/stats.md shows the
same table; a test keeps it covering every name in ``chalicelib.platforms.registry``.

Rebound compares an audience's consented size (unique human visitors who did not deny consent,
over the audience's own ``window_days``) with each destination's minimum. The platform counts the
people it *matches*, never more than Rebound sent, so "ready" here is necessary, not sufficient.

Everything here is pure: ``assess`` (ready, how many more, the estimated date), ``advance`` (the
"fell below" flag from the previous state) and ``emf_line`` (the CloudWatch metric). The rollup's
scheduled run reads and writes the state (``run.check_readiness``); ``rebound stats`` shows it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.observe.metrics import AUDIENCES_BELOW_MINIMUM, NAMESPACE, Metrics

METRIC_NAMESPACE = NAMESPACE
METRIC_NAME = AUDIENCES_BELOW_MINIMUM


@dataclass(frozen=True)
class Minimum:
    """A platform's minimum audience size to serve ads."""

    minimum: int
    counted: str  # what the platform counts
    window: str  # over which period, as the platform says it
    source: str  # where this was read
    confirmed: bool  # True only when the source is the platform's own documentation


MINIMUMS: dict[str, Minimum] = {
    "google": Minimum(
        100,
        "active visitors or users (your data segments and Customer Match, every network)",
        "30 days",
        "https://support.google.com/google-ads/answer/7476585",
        True,
    ),
    "linkedin": Minimum(
        300,
        "matched member accounts (Matched Audiences)",
        "the audience's own lookback",
        "https://www.linkedin.com/help/lms/answer/a424450",
        True,
    ),
    "tiktok": Minimum(
        1000,
        "total matched users in a Custom Audience",
        "the audience's own retention",
        "https://ads.tiktok.com/help/article/custom-audiences",
        True,
    ),
    "pinterest": Minimum(
        100,
        "people matched to Pinterest accounts",
        "the audience's own lookback",
        "https://help.pinterest.com/en/business/article/audience-targeting",
        True,
    ),
    "x": Minimum(
        100,
        "matched users active on X",
        "90 days (activity)",
        "https://developer.x.com/en/docs/ads/audiences/api-reference/tailored-audiences.html",
        True,
    ),
    # Not found in the platforms' own documentation: third-party pages that state the figure.
    "meta": Minimum(
        100,
        "people in a website Custom Audience",
        "30 days",
        "https://www.clarigital.com/codex/paid-advertising/facebook-instagram/custom-audiences",
        False,
    ),
    "snapchat": Minimum(
        1000,
        "matched Snapchatters (Snap Audience Match)",
        "the audience's own retention",
        "https://docs.amperity.com/ampiq/destination_snapchat.html",
        False,
    ),
    "reddit": Minimum(
        1000,
        "matched people in a custom audience",
        "the audience's own retention",
        "https://www.ayrshare.com/docs/apis/ads/reddit/get-audiences.md",
        False,
    ),
}


def minimum_for(platform: str) -> Minimum | None:
    return MINIMUMS.get(platform)


def daily_rate(size_now: int, size_before: int, days: float) -> float:
    """How many members the audience gained a day over the last ``days`` (negative: it shrank)."""
    if days <= 0:
        return 0.0
    return round((size_now - size_before) / days, 2)


def ready_on(size: int, minimum: int, rate: float, today: date) -> date | None:
    """The day the audience reaches ``minimum`` at ``rate`` a day; None when it will not (a rate
    of zero or less), and today when it already has."""
    if size >= minimum:
        return today
    if rate <= 0:
        return None
    return today + timedelta(days=math.ceil((minimum - size) / rate))


def assess(
    destination: str, size: int, rate: float, today: date, previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One audience's readiness for one destination (plain JSON data)."""
    spec = minimum_for(destination)
    if spec is None:
        return {
            "destination": destination,
            "minimum": None,
            "size": size,
            "ready": None,
            "needed": None,
            "ready_on": None,
            "fell_below": False,
            "confirmed": False,
            "counted": None,
            "window": None,
            "source": None,
        }
    ready = size >= spec.minimum
    when = None if ready else ready_on(size, spec.minimum, rate, today)
    return {
        "destination": destination,
        "minimum": spec.minimum,
        "size": size,
        "ready": ready,
        "needed": max(0, spec.minimum - size),
        "ready_on": when.isoformat() if when else None,
        "fell_below": fell_below(previous, ready),
        "confirmed": spec.confirmed,
        "counted": spec.counted,
        "window": spec.window,
        "source": spec.source,
    }


def fell_below(previous: Mapping[str, Any] | None, ready: bool) -> bool:
    """Whether a pair that was ready has fallen below its minimum: it was ready at the previous
    check, or had already fallen and is not ready again yet. Cleared once it is ready again."""
    if ready or not previous:
        return False
    return bool(previous.get("ready") or previous.get("fell_below"))


@dataclass(frozen=True)
class Check:
    """One scheduled check: the state to keep (``(audience, destination) -> state``) and the
    audiences with a destination they fell below."""

    state: dict[tuple[str, str], dict[str, Any]]
    below: list[str]


def advance(
    audiences: Iterable[Mapping[str, Any]],
    sizes: Mapping[str, int],
    previous: Mapping[tuple[str, str], Mapping[str, Any]],
) -> Check:
    """The new state from the configured audiences (their ``send_to``), their sizes now and the
    previous state. Destinations without a known minimum are not tracked."""
    state: dict[tuple[str, str], dict[str, Any]] = {}
    below = []
    for spec in audiences:
        audience = spec["id"]
        size = int(sizes.get(audience, 0))
        for destination in spec.get("send_to") or ():
            known = minimum_for(destination)
            if known is None:
                continue
            ready = size >= known.minimum
            key = (audience, destination)
            flag = fell_below(previous.get(key), ready)
            state[key] = {
                "ready": ready,
                "fell_below": flag,
                "size": size,
                "minimum": known.minimum,
            }
            if flag and audience not in below:
                below.append(audience)
    return Check(state, sorted(below))


def emf_line(stage: str, below: int, now: datetime) -> str:
    """The CloudWatch Embedded Metric Format document for one check: ``AudiencesBelowMinimum``
    in the ``Rebound`` namespace, by ``Stage``. Printed alone on a line to the Lambda's stdout,
    CloudWatch Logs turns it into the metric (no PutMetricData call, no permission)."""
    return Metrics(stage).add(METRIC_NAME, below).lines(now)[0]
