"""CloudWatch metrics as Embedded Metric Format (EMF): JSON documents printed alone on a line of a
Lambda's stdout, which CloudWatch Logs turns into metrics (no PutMetricData call, no permission,
nothing waited for). Specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

``METRICS`` is the one table of Rebound's metrics: name, unit, the dimensions each has besides
``Stage``, and what it counts (docs/operations.md shows the same table; a test keeps them in
step, and the template's alarms and dashboard name only metrics from it).

An invocation counts into one ``Metrics`` and prints it once at its end: one document, or one per
value of a dimension when it has several (the dispatcher: one per destination), since an EMF
document holds one value per dimension. Metrics with different dimension *names* share a
document (one directive each). Hand-written on purpose: Powertools' ``Metrics`` costs ~60 ms of
``-X importtime`` (3.37.0, measured 2026-12-07), about twice Chalice's own import, and the
redirect's init budget is 1.2x a bare Chalice app's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

NAMESPACE = "Rebound"
STAGE = "Stage"


class Metric:
    """One metric: its unit (a CloudWatch unit), its dimensions besides Stage, and what one data
    point counts (docs/operations.md). A plain class: a dataclass compiles its methods at import,
    in the redirect's init."""

    __slots__ = ("by", "name", "unit", "what")

    def __init__(self, name: str, unit: str, by: tuple[str, ...], what: str):
        self.name, self.unit, self.by, self.what = name, unit, by, what


REDIRECTS = "Redirects"
CLICKS_TO_FALLBACK = "ClicksToFallback"
CLICKS_LOST = "ClicksLost"
ARCHIVE_ERRORS = "ArchiveErrors"
EVENTS_SENT = "EventsSent"
EVENTS_RETRIED = "EventsRetried"
EVENTS_REJECTED = "EventsRejected"
EVENTS_DEAD_LETTERED = "EventsDeadLettered"
CONVERSIONS_ACCEPTED = "ConversionsAccepted"
CONVERSIONS_REJECTED = "ConversionsRejected"
ROLLUP_LAG = "RollupLagSeconds"
AUDIENCES_BELOW_MINIMUM = "AudiencesBelowMinimum"

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            REDIRECTS,
            "Count",
            ("Outcome",),
            "requests on a short link, by outcome: the decision's rule (default, rule, split, "
            "expired, limit, not_found, not_started, root, unknown_domain)",
        ),
        Metric(
            CLICKS_TO_FALLBACK,
            "Count",
            (),
            "clicks and conversions Kinesis refused, sent to the SQS fallback queue instead",
        ),
        Metric(CLICKS_LOST, "Count", (), "clicks and conversions neither Kinesis nor SQS took"),
        Metric(
            ARCHIVE_ERRORS,
            "Count",
            (),
            "stream records the archiver could not write (S3 or the click index), "
            "left for Lambda's retry",
        ),
        Metric(
            EVENTS_SENT,
            "Count",
            ("Destination",),
            "events a destination accepted (or recorded, in dry run)",
        ),
        Metric(
            EVENTS_RETRIED,
            "Count",
            ("Destination",),
            "events left for Lambda's replay: released unsent (out of time, the dead-letter "
            "queue unreachable, a claim that could not be made)",
        ),
        Metric(
            EVENTS_REJECTED,
            "Count",
            ("Destination",),
            "events refused for good (a 4xx, or one the adapter cannot shape); also dead-lettered",
        ),
        Metric(
            EVENTS_DEAD_LETTERED,
            "Count",
            ("Destination",),
            "events put on the platform dead-letter queue (rejected, or retries exhausted)",
        ),
        Metric(
            CONVERSIONS_ACCEPTED,
            "Count",
            (),
            "postbacks accepted and queued (202, not a duplicate)",
        ),
        Metric(
            CONVERSIONS_REJECTED,
            "Count",
            ("Reason",),
            "postbacks not queued, by reason: signature (401), too_large (413), content_type "
            "(415), invalid (400), in_flight or unavailable (503), duplicate (202, queued before)",
        ),
        Metric(
            ROLLUP_LAG,
            "Seconds",
            (),
            "after a rollup run: the time since the stats are complete up to: the start of the "
            "oldest closed hour it left behind (failed or deferred), else the last hour's end",
        ),
        Metric(
            AUDIENCES_BELOW_MINIMUM,
            "Count",
            (),
            "audiences that were big enough for a destination and fell below its minimum",
        ),
    )
}

Key = tuple[tuple[str, str], ...]


class Metrics:
    """One invocation's metrics: counted with ``add``, printed once with ``emit``."""

    __slots__ = ("_values", "stage")

    def __init__(self, stage: str):
        self.stage = stage
        self._values: dict[Key, dict[str, float]] = {}

    def add(self, name: str, value: float = 1, **dimensions: str) -> Metrics:
        """Add ``value`` to metric ``name`` (from ``METRICS``) at these dimension values."""
        metric = METRICS[name]
        if len(dimensions) != len(metric.by) or any(d not in dimensions for d in metric.by):
            raise ValueError(f"{name} takes the dimensions {metric.by}, not {tuple(dimensions)}")
        group = self._values.setdefault(tuple(sorted(dimensions.items())), {})
        group[name] = group.get(name, 0) + value
        return self

    def __bool__(self) -> bool:
        return bool(self._values)

    def documents(self, now: datetime | float | None = None) -> list[dict[str, Any]]:
        """The EMF documents: as few as the dimension values allow."""
        stamp = _millis(now)
        docs: list[dict[str, Any]] = []
        for key, values in self._values.items():
            doc = next((d for d in docs if _fits(d, key, values)), None)
            if doc is None:
                doc = {"_aws": {"Timestamp": stamp, "CloudWatchMetrics": []}, STAGE: self.stage}
                docs.append(doc)
            doc.update(key)
            doc["_aws"]["CloudWatchMetrics"].append(
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[STAGE, *(name for name, _ in key)]],
                    "Metrics": [{"Name": n, "Unit": METRICS[n].unit} for n in values],
                }
            )
            doc.update((n, _number(v)) for n, v in values.items())
        return docs

    def lines(self, now: datetime | float | None = None) -> list[str]:
        return [json.dumps(d, separators=(",", ":")) for d in self.documents(now)]

    def emit(
        self, now: datetime | float | None = None, write: Callable[[str], Any] | None = None
    ) -> int:
        """Print the documents, each alone on a line (stdout: where Lambda's log capture and
        the EMF extraction read them); returns how many. Never raises."""
        try:
            lines = self.lines(now)
            out = write or _stdout
            for line in lines:
                out(line)
            return len(lines)
        except Exception:  # a metric is never worth an invocation
            return 0


def printing() -> bool:
    """Whether metrics are printed: on Lambda (where CloudWatch reads them), or where
    ``REBOUND_METRICS=stdout`` asks; not in the local stack's console, tests or benchmarks,
    which nobody reads them from (a line per request would drown what they print)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) or (
        os.environ.get("REBOUND_METRICS") == "stdout"
    )


def _stdout(line: str) -> None:
    if not printing():
        return
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _fits(doc: Mapping[str, Any], key: Key, values: Mapping[str, float]) -> bool:
    """Whether a group can join ``doc``: no dimension with another value, no metric twice."""
    return all(doc.get(name, value) == value for name, value in key) and not any(
        n in doc for n in values
    )


def _millis(now: datetime | float | None) -> int:
    if now is None:
        return int(time.time() * 1000)
    if isinstance(now, datetime):
        return int(now.timestamp() * 1000)
    return int(now * 1000)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
