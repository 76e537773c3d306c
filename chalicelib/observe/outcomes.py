"""What each entry point's result counts as: the metrics of one invocation, read from what the
function already returns (the redirect's ``Answer``, the dispatcher's ``Report``, the postback's
``Reply``, the archiver's batch response), so that no module below app.py counts for them.

Pure, and light (the redirect's function imports it at init): results are read by attribute,
their modules are not imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalicelib.observe.metrics import (
    ARCHIVE_ERRORS,
    CLICKS_LOST,
    CLICKS_TO_FALLBACK,
    CONVERSIONS_ACCEPTED,
    CONVERSIONS_REJECTED,
    EVENTS_DEAD_LETTERED,
    EVENTS_REJECTED,
    EVENTS_RETRIED,
    EVENTS_SENT,
    REDIRECTS,
    Metrics,
)

# The postback's answer -> the reason it was not queued (docs/operations.md, "Metrics").
POSTBACK_REASONS = {
    401: "signature",
    413: "too_large",
    415: "content_type",
    400: "invalid",
    503: "unavailable",
}


def redirect(stage: str, answer: Any) -> Metrics:
    """One request on a short link: its outcome, and where its click went when not the stream."""
    metrics = Metrics(stage).add(REDIRECTS, Outcome=answer.outcome or "unknown")
    if answer.published in ("fallback", "lost"):
        _published(metrics, {answer.published: 1})
    return metrics


def published(stage: str, where: Mapping[str, int]) -> Metrics:
    """Clicks published after the response (``Held.flush``'s count): only what did not reach
    the stream is counted (an empty ``Metrics`` prints nothing)."""
    return _published(Metrics(stage), where)


def _published(metrics: Metrics, where: Mapping[str, int]) -> Metrics:
    if where.get("fallback"):
        metrics.add(CLICKS_TO_FALLBACK, where["fallback"])
    if where.get("lost"):
        metrics.add(CLICKS_LOST, where["lost"])
    return metrics


def dispatched(stage: str, report: Any) -> Metrics:
    """A dispatcher batch: per destination it touched, sent / retried / rejected /
    dead-lettered (zeros included, so a destination's alarm sees it recover)."""
    metrics = Metrics(stage)
    counts = {
        EVENTS_SENT: report.sent,
        EVENTS_RETRIED: report.released,
        EVENTS_REJECTED: getattr(report, "rejected", {}),
        EVENTS_DEAD_LETTERED: report.dead,
    }
    destinations = sorted({name for by in counts.values() for name in by})
    for destination in destinations:
        for metric, by in counts.items():
            metrics.add(metric, by.get(destination, 0), Destination=destination)
    return metrics


def postback(stage: str, status: int, body: str) -> Metrics:
    """A conversion postback, by its answer: accepted, or the reason it was not queued."""
    metrics = Metrics(stage)
    if status == 202:
        if '"duplicate":true' in body:
            return metrics.add(CONVERSIONS_REJECTED, Reason="duplicate")
        return metrics.add(CONVERSIONS_ACCEPTED)
    reason = POSTBACK_REASONS.get(status, f"http_{status}")
    if status == 503 and _field(body) == "event_id":
        reason = "in_flight"
    return metrics.add(CONVERSIONS_REJECTED, Reason=reason)


def archived(stage: str, response: Mapping[str, Any]) -> Metrics:
    """An archiver batch: the records it could not write (zero included)."""
    return Metrics(stage).add(ARCHIVE_ERRORS, len(response.get("batchItemFailures") or ()))


def _field(body: str) -> str | None:
    try:
        return json.loads(body)["errors"][0]["field"]
    except (ValueError, LookupError, TypeError):
        return None
