"""The dispatcher: a Kinesis batch in, platform events out — batched, retried, idempotent.

For one batch: decode the envelopes, work out which platform events they call for, then for each
platform *in parallel* (a slow or dead platform holds back nobody else): claim each event in the
ledger, build the platform's requests, send them, up to ``SEND_CONCURRENCY`` at a time, with
retries (or record them, in dry run), settle the ledger and dead-letter what still failed.

Nothing is acknowledged that was not finished. A record is a batch item failure, for Lambda to
replay, when the config table could not be read for it, when an engagement tier's state could
not be read or written for it (``tiers.py``), when one of its events is still in
flight elsewhere past the deadline (a claim nobody settled: the dispatcher looks again while it
has time, since such a claim ends with the invocation that made it), or when an event could not
be claimed, settled or dead-lettered, or not be sent before the deadline (then its claim is
released, so the replay takes it at once). Only a record that cannot be decoded or has the wrong shape is skipped (the
archiver files it under errors/). Request building that raises dead-letters its events with the
error's type: replaying would raise again.

Logs carry platform names, counts, record sequence numbers, error types and HTTP statuses:
never an event's fields, nor a platform's or an exception's message (either may echo them).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.aws.calls import error_code
from chalicelib.clicks.envelope import (
    KIND_CLICK,
    KIND_CONVERSION,
    Malformed,
    batch_failures,
    read_envelope,
    sequence_number,
)
from chalicelib.dispatch.deadline import SAFETY_SECONDS, Deadline
from chalicelib.dispatch.events import Wanted, _instant, click_event, wanted_events
from chalicelib.dispatch.ledger import (
    DEAD,
    DRY_RUN,
    REJECTED,
    SENT,
    SKIPPED,
    Claim,
    Ledger,
    ledger_key,
)
from chalicelib.dispatch.sinks import DeadLetters, DryRunRecorder, OutcomeLog, outcome_row
from chalicelib.dispatch.tiers import Tier, TierStates, counts, is_purchase, tier_wanted
from chalicelib.links.cache import ConfigCache
from chalicelib.links.record import (
    WEBHOOK_PREFIX,
    audience_key,
    domain_key,
    get_doc,
    link_key,
    platform_key,
    webhook_key,
)
from chalicelib.platforms import registry
from chalicelib.platforms.endpoints import endpoints_allowed
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.http import PERMANENT, HttpRequest, Outcome, send_with_retries
from chalicelib.platforms.platform import Platform
from chalicelib.secrets import SecretError, Secrets

__all__ = ["SAFETY_SECONDS", "SEND_CONCURRENCY", "ConfigView", "Dispatcher", "Report"]

log = logging.getLogger(__name__)

SEND_CONCURRENCY = 8  # a platform's requests in flight at once (GA4 sends one per visitor)
MIN_PAUSE, MAX_PAUSE = 1.0, 30.0  # between looks at a claim in flight elsewhere
MAX_STEPS = 8  # a chain's steps shown by a dry run, at most
MAX_LOOKS = 12  # 1 + 2 + ... + 16 + 30 * 7 s: longer than a dispatcher invocation

# A record that fails with these while being decoded or read is malformed, not unlucky.
MALFORMED = (Malformed, ValueError, TypeError, KeyError, AttributeError)

# Secret store errors worth a retry; any other refusal (not found, denied) dead-letters.
TRANSIENT_SECRET_ERRORS = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyUpdates",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
    }
)


class ConfigView:
    """Platform settings and domain sites from the config table, cached for a minute."""

    def __init__(self, dynamodb: Any, table: str, ttl: float = 60.0):
        self.ddb = dynamodb
        self.table = table
        self.cache = ConfigCache(ttl)

    def _get(self, pk: str) -> dict | None:
        return get_doc(self.ddb, self.table, pk)

    def platform(self, name: str) -> dict | None:
        """A destination's settings: a platform's, or a webhook's (``webhook:<id>``)."""
        if name.startswith(WEBHOOK_PREFIX):
            pk = webhook_key(name[len(WEBHOOK_PREFIX) :])
        else:
            pk = platform_key(name)
        doc = self.cache.get(pk, self._get)
        return (doc or {}).get("spec")

    def site(self, domain: str) -> dict | None:
        doc = self.cache.get(domain_key(domain), self._get)
        return (doc or {}).get("site")

    def link_audiences(self, domain: str, slug: str) -> list[dict] | None:
        """The audiences a link feeds (``{"id", "send_to"}`` each), None for no such link."""
        doc = self.cache.get(link_key(domain, slug), self._get)
        return None if doc is None else list(doc.get("audiences") or [])

    def audience(self, audience_id: str) -> dict | None:
        doc = self.cache.get(audience_key(audience_id), self._get)
        return (doc or {}).get("spec")


@dataclass
class Report:
    """What became of a batch: per platform, the events sent (or recorded in dry run), dead-lettered,
    found settled already (duplicates), in flight elsewhere and released; and the records to
    replay. ``Dispatcher.dispatch`` returns it; ``response()`` is what Lambda gets. Platforms are
    handled in parallel: count through ``add`` and ``fail``."""

    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dead: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    duplicates: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    released: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Of the dead-lettered: refused for good (a 4xx, or an event the adapter cannot shape).
    rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed_sequences: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counts: dict[str, int], name: str, n: int = 1) -> None:
        with self._lock:
            counts[name] += n

    def fail(self, sequences: Iterable[str]) -> None:
        with self._lock:
            self.failed_sequences.update(sequences)

    def response(self) -> dict[str, Any]:
        """Lambda's partial batch response."""
        return batch_failures(sorted(self.failed_sequences, key=int))


@dataclass
class Pending:
    """One event for one platform, the records that asked for it, and whether it is done
    with (settled, reported for the replay, or released)."""

    key: str
    event: PlatformEvent
    sequences: list[str]
    done: bool = False


@dataclass
class _Run:
    """One platform's share of a batch."""

    name: str
    report: Report
    deadline: Deadline
    now: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)
    claimed: list[Pending] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


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
        sleep: Callable[[float], Any] = time.sleep,
        allow_endpoints: bool | None = None,
        tiers: TierStates | None = None,
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
        self.sleep = sleep
        # An `endpoint` override receives the platform's credentials: only where the stage says.
        self.allow_endpoints = endpoints_allowed() if allow_endpoints is None else allow_endpoints
        self._tier_states = tiers

    @property
    def tiers(self) -> TierStates:
        """Engagement tiers' state (``tiers.py``): by default in the ledger's table."""
        if self._tier_states is None:
            self._tier_states = TierStates(self.ledger.ddb, self.ledger.table)
        return self._tier_states

    def handle(self, kinesis_event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Lambda's entry: the partial batch response (``context``: the Lambda context)."""
        return self.dispatch(kinesis_event, context).response()

    def dispatch(self, kinesis_event: Mapping[str, Any], context: Any = None) -> Report:
        """Handle one batch before the Lambda's deadline; what became of it."""
        report = Report()
        deadline = Deadline.of(context)
        by_platform: dict[str, dict[str, Pending]] = defaultdict(dict)
        for record in kinesis_event.get("Records", []):
            seq = sequence_number(record)
            for w in self._wanted(record, seq, report):
                key = ledger_key(w.platform, w.domain, w.event.kind, w.event.event_id)
                pending = by_platform[w.platform].setdefault(key, Pending(key, w.event, []))
                pending.sequences.append(seq)  # the same event twice in a batch: sent once
        if by_platform:
            with ThreadPoolExecutor(max_workers=len(by_platform)) as pool:
                for name, items in by_platform.items():
                    run = _Run(name, report, deadline, self.now())
                    pool.submit(self._platform_safely, run, list(items.values()))
        return report

    def _wanted(self, record: Mapping[str, Any], seq: str, report: Report) -> list[Wanted]:
        """The events a record calls for; none when it is malformed (skipped) or when its
        domain's config cannot be read (a batch item failure: the replay reads it again)."""
        try:
            envelope = read_envelope(record)
            kind = KIND_CLICK if envelope.get("kind") == KIND_CLICK else KIND_CONVERSION
            body = envelope.get(kind) or {}
            domain = str(body.get("domain") or "").lower()
        except MALFORMED as exc:
            log.warning(
                "skipping record %s: %s", seq, type(exc).__name__, extra={"sequence_number": seq}
            )
            return []
        try:
            sites = {domain: self.config.site(domain)} if domain else {}
        except Exception as exc:  # the config table: throttled, down
            log.warning(
                "record %s left for the retry: config unreadable (%s)",
                seq,
                _kind(exc),
                extra={"sequence_number": seq},
            )
            report.fail([seq])
            return []
        known: dict[str, Mapping[str, Any]] = {k: v for k, v in sites.items() if v}
        try:
            wanted = wanted_events(envelope, known)
        except MALFORMED as exc:
            log.warning(
                "skipping record %s: %s", seq, type(exc).__name__, extra={"sequence_number": seq}
            )
            return []
        try:
            return self._tiers(envelope, known, wanted)
        except MALFORMED as exc:
            log.warning(
                "record %s: tiers skipped: %s",
                seq,
                type(exc).__name__,
                extra={"sequence_number": seq},
            )
            return wanted
        except Exception as exc:  # the config or state table: throttled, down, contended
            log.warning(
                "record %s left for the retry: tier state (%s)",
                seq,
                _kind(exc),
                extra={"sequence_number": seq},
            )
            report.fail([seq])
            return []

    def _tiers(
        self,
        envelope: Mapping[str, Any],
        sites: Mapping[str, Mapping[str, Any]],
        wanted: list[Wanted],
    ) -> list[Wanted]:
        """The engagement tiers' part (``tiers.py``): a click on a link that feeds a tier is
        counted, sends the tier's event when it qualifies the visitor, and sends the plain page
        view only to the platforms of the link's plain audiences; an attributed purchase is
        remembered. A link without tiers: ``wanted`` as it is."""
        if envelope.get("kind") != KIND_CLICK:
            if is_purchase(envelope):
                conversion = envelope["conversion"]
                at = _instant(conversion.get("event_time") or conversion["ts"])
                self.tiers.note_purchase(str(envelope["click"]["visitor_id"]), at)
            return wanted
        click = envelope["click"]
        domain = str(click.get("domain") or "").lower()
        entries = self.config.link_audiences(domain, str(click.get("slug") or ""))
        tiers: list[Tier] = []
        plain: set[str] = set()
        for entry in entries or []:
            tier = Tier.of(self.config.audience(str(entry["id"])))
            if tier is None:
                plain.update(entry.get("send_to") or [])
            else:
                tiers.append(tier)
        if not tiers:
            return wanted
        # Webhooks follow the link, not an audience: a tier does not hold their clicks back.
        out = [w for w in wanted if w.platform in plain or w.platform.startswith(WEBHOOK_PREFIX)]
        if not counts(click):
            return out
        page_view = click_event(envelope, sites)
        at = _instant(click["ts"])
        for tier in tiers:
            if self.tiers.count(tier, str(click["visitor_id"]), str(click["click_id"]), at):
                out += tier_wanted(click, page_view, tier, domain)
        return out

    # --- one platform ------------------------------------------------------------------------

    def _platform_safely(self, run: _Run, items: list[Pending]) -> None:
        try:
            self._platform(run, items)
        except Exception as exc:
            log.error(
                "%s: %s; its records will be retried",
                run.name,
                _kind(exc),
                extra={"platform": run.name},
            )
            self._release(run, [p for p in run.claimed if not p.done], "unexpected error")
            run.report.fail(s for p in items if not p.done for s in p.sequences)
        finally:
            if self.outcomes is not None and run.rows:
                try:
                    self.outcomes.write(run.name, run.rows, self.now())
                except Exception as exc:  # the ledger and the DLQ hold the truth; log and go on
                    log.warning(
                        "%s: outcome log not written (%s)",
                        run.name,
                        _kind(exc),
                        extra={"platform": run.name},
                    )

    def _platform(self, run: _Run, items: list[Pending]) -> None:
        name = run.name
        settings = self.config.platform(name)
        if settings is None:
            log.warning(
                "platform %s is no longer configured; %d events not sent",
                name,
                len(items),
                extra={"platform": name},
            )
            return
        waiting, pause = items, MIN_PAUSE / 2
        for look in range(MAX_LOOKS + 1):
            mine, waiting, ends = self._claim(run, waiting)
            if mine:
                self._send_claimed(run, mine, settings)
            if not waiting:
                return
            # In flight elsewhere: a run that died mid-batch (its claim ends with its
            # invocation) or a concurrent one (it settles). Look again, less and less often,
            # while the deadline allows; else the records go back for Lambda's retry. (Not
            # waiting would spend the retries in a second: a retry comes at once.)
            run.now = self.now()
            pause = min((ends - run.now).total_seconds() + 1, pause * 2, MAX_PAUSE)
            pause = max(pause, MIN_PAUSE)
            if look == MAX_LOOKS or not run.deadline.known or pause >= run.deadline.left():
                run.report.add(run.report.in_flight, name, len(waiting))
                self._give_back(run, waiting)
                return
            self.sleep(pause)
            run.now = self.now()

    def _send_claimed(self, run: _Run, claimed: list[Pending], settings: dict[str, Any]) -> None:
        dry_run = bool(settings.get("dry_run")) or (
            self.dry_run_default and not settings.get("endpoint")
        )
        platform = registry.platform(run.name)
        if settings.get("endpoint") and not dry_run and not self.allow_endpoints:
            self._dead(run, claimed, PERMANENT, "endpoint override not permitted on this stage")
            return
        try:
            secrets = self.secrets.resolve_fields(settings, platform.SECRET_FIELDS)
        except SecretError as exc:
            if exc.code in TRANSIENT_SECRET_ERRORS:
                self._release(run, claimed, f"credentials unreadable ({exc.code})")
                return
            if not dry_run:
                self._dead(run, claimed, PERMANENT, str(exc))
                return
            secrets = {f: f"<{settings[f]}>" for f in platform.SECRET_FIELDS if settings.get(f)}
        for events in _rounds(claimed):
            self._round(run, events, platform, settings, secrets, dry_run)

    def _claim(
        self, run: _Run, items: list[Pending]
    ) -> tuple[list[Pending], list[Pending], datetime]:
        """Claim each event until the invocation ends. Returns the events claimed, those in
        flight elsewhere and when the first of those claims ends; settled ones are duplicates.
        A ledger error leaves this event and the rest for the retry."""
        until = run.deadline.claims_until(run.now)
        mine: list[Pending] = []
        waiting: list[Pending] = []
        ends: datetime | None = None
        for i, pending in enumerate(items):
            try:
                found = self.ledger.claim(pending.key, run.now, until)
            except Exception as exc:
                left = items[i:]
                log.warning(
                    "%s: ledger claim failed (%s); %d events left for the retry",
                    run.name,
                    _kind(exc),
                    len(left),
                    extra={"platform": run.name},
                )
                self._give_back(run, left)
                break
            if found.state is Claim.MINE:
                mine.append(pending)
            elif found.state is Claim.IN_FLIGHT:
                waiting.append(pending)
                found_ends = found.until or run.now
                ends = found_ends if ends is None else min(ends, found_ends)
            else:
                pending.done = True
                run.report.add(run.report.duplicates, run.name)
        with run.lock:
            run.claimed.extend(mine)
        return mine, waiting, ends or run.now

    def _round(
        self,
        run: _Run,
        claimed: list[Pending],
        platform: Platform,
        settings: dict[str, Any],
        secrets: dict[str, str],
        dry_run: bool,
    ) -> None:
        """Build and send the requests for events whose ids are distinct (platforms name the
        events of a request and of a refusal by id)."""
        by_id = {p.event.event_id: p for p in claimed}
        try:
            requests, rejected = platform.build_requests(
                [p.event for p in claimed], settings, secrets, run.now
            )
        except Exception as exc:  # a bug, or an event it cannot shape: replaying raises again
            log.error(
                "%s: the adapter failed: %s", run.name, _kind(exc), extra={"platform": run.name}
            )
            self._dead(run, claimed, "error", f"adapter error: {type(exc).__name__}")
            return
        # Rejects settled together by reason (one BatchWriteItem a 25), not one call each.
        by_reason: dict[tuple[bool, str], list[Pending]] = {}
        for r in rejected:
            if r.event_id in by_id:
                by_reason.setdefault((r.not_applicable, r.reason), []).append(by_id[r.event_id])
        for (not_applicable, reason), batch in by_reason.items():
            if not_applicable:
                self._settle(run, batch, SKIPPED, reason, count=False)
            else:
                self._dead(run, batch, "rejected", reason, REJECTED)
        work = [(r, [by_id[i] for i in r.event_ids if i in by_id]) for r in requests]
        if len(work) == 1:
            self._request(run, platform, dry_run, *work[0])
            return
        with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, len(work) or 1)) as pool:
            for future in [pool.submit(self._request, run, platform, dry_run, *w) for w in work]:
                future.result()  # an unexpected error: _platform_safely releases what is left

    def _request(
        self,
        run: _Run,
        platform: Platform,
        dry_run: bool,
        request: HttpRequest,
        batch: list[Pending],
    ) -> None:
        if not batch:
            return
        if dry_run:
            try:
                for index, step in enumerate(_steps(request)):
                    self.recorder.record(run.name, step, run.now, index)  # type: ignore[union-attr]
            except Exception as exc:
                self._release(run, batch, f"dry-run record not written ({_kind(exc)})")
                return
            self._settle(run, batch, DRY_RUN, "dry run")
            return
        if run.deadline.left() <= 0:
            self._release(run, batch, "out of time")
            return
        started = time.monotonic()
        outcome, attempts = self._send_chain(request, platform, run)
        log.info(
            "%s: %s after %d attempt(s) in %.0f ms (%d events)%s",
            run.name,
            outcome.kind,
            attempts,
            (time.monotonic() - started) * 1000,
            len(batch),
            f": {_headline(outcome.reason)}" if outcome.reason else "",
            extra={"platform": run.name},
        )
        if outcome.out_of_time:
            self._release(run, batch, "out of time")
        elif outcome.ok:
            self._settle(run, batch, SENT, outcome.reason)
        else:
            self._dead(run, batch, outcome.kind, outcome.reason)

    def _send_chain(
        self, request: HttpRequest, platform: Platform, run: _Run
    ) -> tuple[Outcome, int]:
        """Send ``request`` and, while each answer is ok, the next step of its chain; the
        outcome of the last step sent, and the tries in all."""
        attempts = 0
        step: HttpRequest | None = request
        outcome = Outcome(PERMANENT, "no request")
        while step is not None:
            try:
                outcome, tries = self.send(step, platform.classify, budget=run.deadline.left)
            except Exception as exc:  # not a transport error: sending again would fail alike
                return Outcome(PERMANENT, f"send error: {type(exc).__name__}"), attempts + 1
            attempts += tries
            if not outcome.ok or step.then is None:
                break
            try:
                step = step.then(outcome.answer)
            except Exception as exc:  # an answer the tool's module cannot read
                return Outcome(PERMANENT, f"unreadable answer: {type(exc).__name__}"), attempts
        return outcome, attempts

    # --- what becomes of events --------------------------------------------------------------

    def _settle(
        self, run: _Run, batch: list[Pending], status: str, reason: str, count: bool = True
    ) -> None:
        """Record the outcome in the ledger. If the ledger refuses, the records are replayed
        and the claims stay until they run out (the events may have gone out: releasing them
        would invite a resend at once)."""
        try:
            self.ledger.settle_many([p.key for p in batch], status, reason, run.now)
        except Exception as exc:
            log.warning(
                "%s: ledger settle failed (%s); %d events left for the retry",
                run.name,
                _kind(exc),
                len(batch),
                extra={"platform": run.name},
            )
            self._give_back(run, batch)
            return
        now = self.now()
        with run.lock:
            run.rows.extend(outcome_row(run.name, p.event, status, reason, now) for p in batch)
            for p in batch:
                p.done = True
        if count:
            run.report.add(run.report.sent, run.name, len(batch))

    def _dead(
        self, run: _Run, batch: list[Pending], outcome: str, reason: str, status: str = DEAD
    ) -> None:
        """Dead-letter the events with the reason, then settle them. A DLQ that cannot be
        reached releases them instead: the replay tries (and dead-letters) them again."""
        try:
            self.dead_letters.send(run.name, [p.event for p in batch], outcome, reason)
        except Exception as exc:
            self._release(run, batch, f"dead-letter queue unreachable ({_kind(exc)})")
            return
        try:
            self.ledger.settle_many([p.key for p in batch], status, reason, run.now)
        except Exception as exc:
            log.warning(
                "%s: ledger settle failed (%s) after dead-lettering",
                run.name,
                _kind(exc),
                extra={"platform": run.name},
            )
            self._give_back(run, batch)
            return
        now = self.now()
        with run.lock:
            run.rows.extend(
                outcome_row(run.name, p.event, status, f"{outcome}: {reason}", now) for p in batch
            )
            for p in batch:
                p.done = True
        run.report.add(run.report.dead, run.name, len(batch))
        if outcome != "retry":  # not a platform that kept failing: one that said no
            run.report.add(run.report.rejected, run.name, len(batch))

    def _release(self, run: _Run, batch: list[Pending], why: str) -> None:
        """Not finished here: release the claims and report the records for the replay (a
        claim that cannot be released runs out at the end of the invocation anyway)."""
        if not batch:
            return
        log.warning(
            "%s: %d events left for the retry: %s",
            run.name,
            len(batch),
            why,
            extra={"platform": run.name},
        )
        try:
            self.ledger.release_many([p.key for p in batch])
        except Exception as exc:
            log.warning(
                "%s: claims not released (%s); they run out",
                run.name,
                _kind(exc),
                extra={"platform": run.name},
            )
        else:
            run.report.add(run.report.released, run.name, len(batch))
        self._give_back(run, batch)

    def _give_back(self, run: _Run, batch: list[Pending]) -> None:
        with run.lock:
            for p in batch:
                p.done = True
        run.report.fail(s for p in batch for s in p.sequences)


def _steps(request: HttpRequest) -> Iterator[HttpRequest]:
    """A chain's steps as a dry run shows them: each built as if the one before answered
    nothing (a step that needs an id from that answer shows where it would go)."""
    step: HttpRequest | None = request
    for _ in range(MAX_STEPS):
        if step is None:
            return
        yield step
        step = step.then(None) if step.then is not None else None


def _rounds(claimed: list[Pending]) -> Iterator[list[Pending]]:
    """The events in rounds without a repeated event id (almost always one round: a second
    only for a lead whose id is its click's, or one order id on two domains)."""
    left = claimed
    while left:
        seen: set[str] = set()
        this: list[Pending] = []
        later: list[Pending] = []
        for p in left:
            (later if p.event.event_id in seen else this).append(p)
            seen.add(p.event.event_id)
        yield this
        left = later


def _kind(exc: BaseException) -> str:
    """An error for a log line: its AWS code or type and where it was raised, never its
    message (a message can carry the data that caused it)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{error_code(exc)}{where}"


def _headline(reason: str) -> str:
    """The part of an outcome's reason our code wrote ("HTTP 400", "transport error"); what
    follows is the platform's message, which can echo the event's data."""
    return reason.split(":", 1)[0]
