"""The dispatcher: a Kinesis batch in, platform events out — batched, retried, idempotent.

For one batch: decode the envelopes, work out which platform events they call for, then for each
platform *in parallel* (a slow or dead platform holds back nobody else): claim each event in the
ledger, build the platform's requests, send them with retries (or record them, in dry run),
settle the ledger and dead-letter what still failed. Only records whose handling could not be
completed (the ledger or the DLQ unreachable) are reported as batch item failures.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.dispatch.events import Wanted, wanted_events
from chalicelib.dispatch.ledger import DEAD, DRY_RUN, REJECTED, SENT, SKIPPED, Ledger
from chalicelib.dispatch.sinks import DeadLetters, DryRunRecorder, OutcomeLog, outcome_row
from chalicelib.links.cache import LinkCache
from chalicelib.links.record import domain_key, get_doc, platform_key
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.http import Outcome, send_with_retries
from chalicelib.platforms.registry import adapter
from chalicelib.secrets import SecretError, Secrets

log = logging.getLogger(__name__)


class ConfigView:
    """Platform settings and domain sites from the config table, cached for a minute."""

    def __init__(self, dynamodb: Any, table: str, ttl: float = 60.0):
        self.ddb = dynamodb
        self.table = table
        self.cache = LinkCache(ttl)

    def _get(self, pk: str) -> dict | None:
        return get_doc(self.ddb, self.table, pk)

    def platform(self, name: str) -> dict | None:
        doc = self.cache.get(platform_key(name), self._get)
        return (doc or {}).get("spec")

    def site(self, domain: str) -> dict | None:
        doc = self.cache.get(domain_key(domain), self._get)
        return (doc or {}).get("site")


@dataclass
class Report:
    """What happened to a batch, for logs and tests."""

    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dead: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    duplicates: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed_sequences: set[str] = field(default_factory=set)


class Dispatcher:
    def __init__(
        self,
        *,
        config: ConfigView,
        secrets: Secrets,
        ledger: Ledger,
        dead_letters: DeadLetters,
        recorder: DryRunRecorder | None,
        outcomes: OutcomeLog | None = None,
        dry_run_default: bool = False,
        send: Callable[..., tuple[Outcome, int]] = send_with_retries,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.config = config
        self.secrets = secrets
        self.ledger = ledger
        self.dead_letters = dead_letters
        self.recorder = recorder
        self.outcomes = outcomes
        self.dry_run_default = dry_run_default
        self.send = send
        self.now = now
        self.last_report = Report()

    def handle(self, kinesis_event: Mapping[str, Any]) -> dict[str, Any]:
        report = Report()
        by_platform: dict[str, list[tuple[str, PlatformEvent]]] = defaultdict(list)
        for record in kinesis_event.get("Records", []):
            seq = record["kinesis"]["sequenceNumber"]
            try:
                envelope = json.loads(base64.b64decode(record["kinesis"]["data"]))
                for w in self._wanted(envelope):
                    by_platform[w.platform].append((seq, w.event))
            except Exception as exc:  # malformed: the archiver files it under errors/
                log.warning("skipping record %s: %s", seq, type(exc).__name__)
        if by_platform:
            with ThreadPoolExecutor(max_workers=len(by_platform)) as pool:
                for name, items in by_platform.items():
                    pool.submit(self._platform_safely, name, items, report)
        self.last_report = report
        return {
            "batchItemFailures": [
                {"itemIdentifier": s} for s in sorted(report.failed_sequences, key=int)
            ]
        }

    def _wanted(self, envelope: Mapping[str, Any]) -> list[Wanted]:
        body = (
            envelope.get("click") if envelope.get("kind") == "click" else envelope.get("conversion")
        )
        domain = str((body or {}).get("domain") or "").lower()
        sites = {domain: self.config.site(domain)} if domain else {}
        return wanted_events(envelope, {k: v for k, v in sites.items() if v})

    def _platform_safely(
        self, name: str, items: list[tuple[str, PlatformEvent]], report: Report
    ) -> None:
        try:
            self._platform(name, items, report)
        except Exception:
            log.exception("dispatch to %s failed; its records will be retried", name)
            report.failed_sequences.update(seq for seq, _ in items)

    def _platform(self, name: str, items: list[tuple[str, PlatformEvent]], report: Report) -> None:
        rows: list[dict[str, Any]] = []
        try:
            self._send_platform(name, items, report, rows)
        finally:
            if self.outcomes is not None and rows:
                self.outcomes.write(name, rows, self.now())

    def _send_platform(
        self,
        name: str,
        items: list[tuple[str, PlatformEvent]],
        report: Report,
        rows: list[dict[str, Any]],
    ) -> None:
        settings = self.config.platform(name)
        if settings is None:
            log.warning("platform %s is no longer configured; %d events not sent", name, len(items))
            return
        now = self.now()
        events: dict[str, PlatformEvent] = {}
        for _, event in items:
            if event.event_id in events:
                continue
            if self.ledger.claim(name, event.event_id, now):
                events[event.event_id] = event
            else:
                report.duplicates[name] += 1
        if not events:
            return
        dry_run = bool(settings.get("dry_run")) or (
            self.dry_run_default and not settings.get("endpoint")
        )
        platform = adapter(name)
        try:
            secrets = self.secrets.resolve_fields(settings, platform.SECRET_FIELDS)
        except SecretError as exc:
            if not dry_run:
                self._dead(name, list(events.values()), "permanent", str(exc), report, rows)
                return
            secrets = {f: f"<{settings[f]}>" for f in platform.SECRET_FIELDS if settings.get(f)}
        requests, rejected = platform.build_requests(list(events.values()), settings, secrets, now)
        # Rejects settled together by reason (one BatchWriteItem a 25), not one call each.
        by_reason: dict[tuple[bool, str], list[PlatformEvent]] = {}
        for r in rejected:
            by_reason.setdefault((r.not_applicable, r.reason), []).append(events[r.event_id])
        for (not_applicable, reason), batch in by_reason.items():
            if not_applicable:
                self.ledger.settle_many(name, [e.event_id for e in batch], SKIPPED, reason, now)
                rows.extend(outcome_row(name, e, SKIPPED, reason, now) for e in batch)
            else:
                self._dead(name, batch, "rejected", reason, report, rows, REJECTED)
        for request in requests:
            batch = [events[i] for i in request.event_ids if i in events]
            if dry_run:
                self.recorder.record(name, request, now)  # type: ignore[union-attr]
                self._settle(name, batch, DRY_RUN, "dry run", report, rows)
                continue
            started = time.monotonic()
            outcome, attempts = self.send(request, platform.classify)
            log.info(
                "%s: %s after %d attempt(s) in %.0f ms (%d events)%s",
                name,
                outcome.kind,
                attempts,
                (time.monotonic() - started) * 1000,
                len(batch),
                f": {outcome.reason}" if outcome.reason else "",
            )
            if outcome.ok:
                self._settle(name, batch, SENT, outcome.reason, report, rows)
            else:
                self._dead(name, batch, outcome.kind, outcome.reason, report, rows)

    def _settle(
        self,
        name: str,
        batch: list[PlatformEvent],
        status: str,
        reason: str,
        report: Report,
        rows: list[dict[str, Any]],
    ) -> None:
        now = self.now()
        self.ledger.settle_many(name, [e.event_id for e in batch], status, reason, now)
        rows.extend(outcome_row(name, event, status, reason, now) for event in batch)
        report.sent[name] += len(batch)

    def _dead(
        self,
        name: str,
        batch: list[PlatformEvent],
        outcome: str,
        reason: str,
        report: Report,
        rows: list[dict[str, Any]],
        status: str = DEAD,
    ) -> None:
        self.dead_letters.send(name, batch, outcome, reason)
        now = self.now()
        self.ledger.settle_many(name, [e.event_id for e in batch], status, reason, now)
        rows.extend(
            outcome_row(name, event, status, f"{outcome}: {reason}", now) for event in batch
        )
        report.dead[name] += len(batch)
