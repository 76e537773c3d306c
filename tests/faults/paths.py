"""The paths of the fault matrix: each entry point with a representative input, how it is
replayed after a failure, and the promises it keeps (shared/DESIGN.md §8)."""

from __future__ import annotations

import gzip
import hashlib
import inspect
import itertools
import json
import re
import tempfile
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalicelib.aws.clients import client
from chalicelib.clicks import new_click_id
from chalicelib.clicks.envelope import kinesis_event
from chalicelib.conversions.record import CLICK_FIELDS
from chalicelib.conversions.signature import sign
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from infra.provision import PROJECT
from rebound.worker import sqs_event
from tests.faults.engine import Attempt, Cell, Logs, Path
from tests.faults.world import (
    DOMAIN,
    KIT_PURCHASE_TAG,
    SECRET,
    WEBHOOK,
    FakeContext,
    StreamCursor,
    World,
)
from tests.lake import factories

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
_serial = itertools.count(1)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def shard_records(envelopes: list[dict], first_seq: int) -> dict:
    """A Lambda Kinesis event of these envelopes, sequence numbers from ``first_seq``."""
    records = [
        {
            "PartitionKey": "k",
            "SequenceNumber": str(first_seq + i),
            "Data": json.dumps(e).encode(),
        }
        for i, e in enumerate(envelopes)
    ]
    return kinesis_event(records, "shardId-000000000000", "arn:aws:kinesis:faults", "us-east-1")


def from_lowest(event: dict, failures: list[str]) -> dict:
    """What Lambda delivers after a partial failure: the batch from the lowest failed record."""
    lowest = min(int(f) for f in failures)
    return {
        "Records": [r for r in event["Records"] if int(r["kinesis"]["sequenceNumber"]) >= lowest]
    }


def failures_of(result: Any) -> list[str]:
    items = (result or {}).get("batchItemFailures") or [] if isinstance(result, dict) else []
    return [f["itemIdentifier"] for f in items if f.get("itemIdentifier")]


def event_ids_in(value: Any) -> list[str]:
    """Every ``event_id`` anywhere in a JSON request body (each platform nests them its way)."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "event_id" and isinstance(v, str):
                found.append(v)
            else:
                found += event_ids_in(v)
    elif isinstance(value, list):
        for v in value:
            found += event_ids_in(v)
    return found


def summary(attempts: list[Attempt]) -> str:
    return " → ".join(a.summary for a in attempts)


# --- The redirect ------------------------------------------------------------------------------


@dataclass
class RedirectState:
    pending: list[tuple[str, dict[str, str]]]
    cursor: StreamCursor
    statuses: list[int] = field(default_factory=list)
    click_ids: list[str] = field(default_factory=list)
    deaths: int = 0
    logs: Logs | None = None


class Redirect(Path):
    """GET on a short link: a link read, the max_clicks counter, the day's salt (a visitor who
    sent Sec-GPC), one PutRecord (the fallback queue when Kinesis refuses)."""

    name = "redirect"
    promise = "never a 5xx; every answered click is on the stream or in the fallback queue"

    def prepare(self, world: World) -> None:
        from chalice.test import Client

        self.client = Client(world.app.app, stage_name="local", project_dir=str(PROJECT))

    def start(self, world: World, cell: Cell) -> RedirectState:
        gpc = {"Host": DOMAIN, "User-Agent": CHROME, "Sec-GPC": "1"}
        plain = {"Host": DOMAIN, "User-Agent": CHROME, "Accept-Language": "de"}
        return RedirectState(
            pending=[("/capped?fbclid=IwAR-x", gpc), ("/sale?utm_source=mail", plain)],
            cursor=StreamCursor(world.names.clicks_stream),
        )

    def invoke(self, world: World, state: RedirectState, attempt: int) -> Attempt:
        answered = []
        while state.pending:
            path, headers = state.pending[0]
            response = self.client.http.get(path, headers=headers)  # ProcessDied: a 502
            state.pending.pop(0)
            state.statuses.append(response.status_code)
            answered.append(str(response.status_code))
            location = response.headers.get("Location") or ""
            cid = parse_qs(urlsplit(location).query).get("rb_cid")
            if response.status_code < 500 and cid:
                state.click_ids.append(cid[0])
        return Attempt(True, ",".join(answered))

    def died(self, world: World, state: RedirectState) -> None:
        state.deaths += 1  # the visitor saw API Gateway's 502 and reloads the same link

    def check(self, world: World, state: RedirectState, cell: Cell) -> tuple[str, list[str]]:
        problems = [f"answered {s} to a visitor" for s in state.statuses if s >= 500]
        stream = {e.get("click", {}).get("click_id") for e in state.cursor.events_since_mark()}
        queued = {
            json.loads(b).get("click", {}).get("click_id")
            for b in world.queue_bodies(world.names.clicks_fallback_queue)
        }
        logged = {  # the last place left when Kinesis and SQS both refuse: the log, by click id
            cid
            for m in state.logs.messages()
            if "not published" in m
            for cid in re.findall(r'click (\w+) not published|"click_id": ?"(\w+)"', m)[0]
            if cid
        }
        recorded = (stream | queued | logged) - {None}
        where = set()
        for cid in recorded:
            if cid in stream and cid in queued:
                where.add("stream + fallback SQS (same click_id)")
            elif cid in stream:
                where.add("stream")
            elif cid in queued:
                where.add("fallback SQS")
            else:
                where.add("logged only: Kinesis and SQS refused")
        lost = [cid for cid in state.click_ids if cid not in recorded]
        problems += [f"click {cid} was answered but is nowhere (lost)" for cid in lost]
        answered = sum(1 for s in state.statuses if s < 500)
        if len(recorded) < answered:
            problems.append(f"{answered} clicks answered, {len(recorded)} recorded")
        statuses = ",".join(str(s) for s in state.statuses)
        died = "died (502) → reload → " if state.deaths else ""
        return f"{died}{statuses}; {', '.join(sorted(where)) or 'nothing recorded'}", problems


class RedirectAfterResponse(Redirect):
    """The redirect in `after-response` mode: each GET (one invocation) answers, then the
    runtime's post of the result flushes what it held (``Held.posted`` with the RuntimeHook's
    ``flush_on_post``): PutRecords, SQS for what Kinesis refuses, before the runtime asks for
    the next invocation (chalicelib/clicks/after_response.py)."""

    name = "redirect-after-response"
    flushing = False
    window_deaths = 0  # deaths after a response, before its flush ended
    promise = (
        "never a 5xx; every answered click is on the stream or in the fallback queue once the "
        "invocation's flush ends; a process that dies in that window loses the one click it held "
        "(the documented risk of the mode), never another"
    )

    def start(self, world: World, cell: Cell) -> RedirectState:
        self.flushing, self.window_deaths = False, 0
        return super().start(world, cell)

    def check(self, world: World, state: RedirectState, cell: Cell) -> tuple[str, list[str]]:
        outcome, problems = super().check(world, state, cell)
        lost = [p for p in problems if p.endswith("is nowhere (lost)")]
        if self.window_deaths and len(lost) <= self.window_deaths:
            # Only the click of the invocation that died in the window, as documented.
            problems = [p for p in problems if p not in lost and "clicks answered" not in p]
            held = f"{len(lost)} held click lost" if lost else "nothing lost"
            outcome += f"; died in the window after the response: {held}"
        return outcome, problems

    def invoke(self, world: World, state: RedirectState, attempt: int) -> Attempt:
        from chalicelib.clicks import after_response

        world.app.PUBLISH_AFTER_RESPONSE = True
        world.app.redirect_handler.cache_clear()
        after_response.HELD.open = True  # this container's flusher runs (the loop below)
        after_response.HELD.flush_on_posts(True)  # as RuntimeHook.start leaves it
        answered = []
        try:
            while state.pending:
                one = RedirectState([state.pending[0]], state.cursor)
                super().invoke(world, one, attempt)  # ProcessDied: a 502, replayed
                state.pending.pop(0)
                state.statuses += one.statuses
                state.click_ids += one.click_ids
                answered += [str(s) for s in one.statuses]
                after_response.answered()
                self.flushing = True  # the visitor has the answer: a death now reloads nothing
                after_response.HELD.posted()  # the runtime posted the 302: it flushes
                self.flushing = False
        finally:
            after_response.HELD.flush_on_posts(False)
            world.app.PUBLISH_AFTER_RESPONSE = False
            world.app.redirect_handler.cache_clear()
        return Attempt(True, ",".join(answered))

    def died(self, world: World, state: RedirectState) -> None:
        from chalicelib.clicks import after_response

        after_response.HELD.discard()  # what the dead process held; a new one holds nothing
        if self.flushing:
            self.window_deaths += 1
        else:  # died in the GET: the visitor saw a 502 and reloads
            super().died(world, state)
        self.flushing = False


# --- The republisher (fallback queue → stream) -----------------------------------------------------


@dataclass
class RepublishState:
    messages: list[dict]
    click_ids: list[str]
    cursor: StreamCursor
    pending: list[dict] = field(default_factory=list)


class Republisher(Path):
    """SQS fallback messages back onto the stream: one PutRecords a batch."""

    name = "republisher"
    promise = "a queued click reaches the stream (a failed message stays in the queue)"

    def start(self, world: World, cell: Cell) -> RepublishState:
        now = datetime.now(UTC)
        envelopes = []
        for _ in range(3):
            cid = new_click_id(now)
            envelopes.append(
                factories.click_envelope(factories.click(now, click_id=cid, domain=DOMAIN))
            )
        messages = [
            {"MessageId": f"m-{next(_serial)}", "ReceiptHandle": "r", "Body": json.dumps(e)}
            for e in envelopes
        ]
        ids = [e["click"]["click_id"] for e in envelopes]
        state = RepublishState(messages, ids, StreamCursor(world.names.clicks_stream))
        state.pending = list(messages)
        return state

    def invoke(self, world: World, state: RepublishState, attempt: int) -> Attempt:
        event = sqs_event(state.pending, world.names.clicks_fallback_queue, "us-east-1")
        result = world.app.republisher(event, FakeContext())
        failed = set(failures_of(result))
        state.pending = [m for m in state.pending if m["MessageId"] in failed]
        if failed:
            return Attempt(False, f"{len(failed)} left in the queue")
        return Attempt(True, "ok")

    def check(self, world: World, state: RepublishState, cell: Cell) -> tuple[str, list[str]]:
        on_stream = Counter(
            e.get("click", {}).get("click_id") for e in state.cursor.events_since_mark()
        )
        problems = [
            f"click {c} never reached the stream" for c in state.click_ids if not on_stream[c]
        ]
        twice = sum(1 for c in state.click_ids if on_stream[c] > 1)
        note = f"; {twice} on the stream twice (same click_id)" if twice else ""
        return summary(cell.attempts) + note, problems


# --- The conversion postback -----------------------------------------------------------------------


@dataclass
class PostbackState:
    body: bytes
    event_id: str
    cursor: StreamCursor
    statuses: list[int] = field(default_factory=list)
    replies: list[dict] = field(default_factory=list)


class Postback(Path):
    """A signed POST /_/conversions: the domain and its secret, the click in the click index,
    the event-id marker, one PutRecord (SQS when Kinesis refuses)."""

    name = "postback"
    promise = (
        "no 500; a 503 is retried by the merchant; a 202 is on the stream or in the fallback queue"
    )

    def prepare(self, world: World) -> None:
        from chalice.test import Client

        self.client = Client(world.app.app, stage_name="local", project_dir=str(PROJECT))

    def start(self, world: World, cell: Cell) -> PostbackState:
        now = datetime.now(UTC)
        click_id = new_click_id(now - timedelta(minutes=5))
        client("dynamodb").put_item(
            TableName=world.names.click_index_table,
            Item={
                "click_id": {"S": click_id},
                "ts": {"S": iso(now - timedelta(minutes=5))},
                "domain": {"S": DOMAIN},
                "slug": {"S": "sale"},
                "consent": {"S": "not_required"},
                "platforms": {"L": [{"S": "meta"}, {"S": "tiktok"}]},
                "click_ids": {"M": {"fbclid": {"S": "IwAR-x"}}},
                "expires_at": {"N": str(int(now.timestamp()) + 86400)},
            },
        )
        event_id = f"order-{next(_serial)}-{click_id[-6:]}"
        body = json.dumps(
            {
                "click_id": click_id,
                "event": "purchase",
                "event_id": event_id,
                "event_time": int(now.timestamp()) - 60,
                "value": 49.5,
                "currency": "EUR",
                "user": {"email": "jane@example.com"},
            }
        ).encode()
        return PostbackState(body, event_id, StreamCursor(world.names.clicks_stream))

    def invoke(self, world: World, state: PostbackState, attempt: int) -> Attempt:
        # The merchant retries later: the intake's clock is the harness's, past any claim's lease.
        world.app.conversion_intake().now = world.clock.now
        headers = {
            "Host": DOMAIN,
            "Content-Type": "application/json",
            "Rebound-Signature": sign(state.body, SECRET, int(world.clock.now().timestamp())),
        }
        response = self.client.http.post("/_/conversions", headers=headers, body=state.body)
        state.statuses.append(response.status_code)
        try:
            state.replies.append(json.loads(response.body or b"{}"))
        except ValueError:
            state.replies.append({})
        # The merchant retries a 5xx (with the same event_id); anything else is final.
        return Attempt(response.status_code < 500, str(response.status_code))

    def check(self, world: World, state: PostbackState, cell: Cell) -> tuple[str, list[str]]:
        problems = [f"answered {s}" for s in state.statuses if s >= 500 and s != 503]
        final = state.statuses[-1] if state.statuses else None
        if final != 202:
            problems.append(f"a valid postback ended with {final} after {len(cell.attempts)} tries")

        def ours(envelope: dict) -> bool:
            return (envelope.get("conversion") or {}).get("event_id") == state.event_id

        on_stream = sum(1 for e in state.cursor.events_since_mark() if ours(e))
        queued = sum(
            1 for b in world.queue_bodies(world.names.clicks_fallback_queue) if ours(json.loads(b))
        )
        if final == 202 and not (on_stream or queued):
            dup = " as a duplicate" if state.replies and state.replies[-1].get("duplicate") else ""
            problems.append(
                f"answered 202{dup} but the conversion is neither on the stream nor queued"
            )
        where = "stream" if on_stream else ("fallback SQS" if queued else "nowhere")
        if on_stream + queued > 1:
            where += f" ({on_stream + queued}x, same event_id)"
        return f"{summary(cell.attempts)}; {where}", problems


# --- The archiver ----------------------------------------------------------------------------------


@dataclass
class ArchiveState:
    event: dict
    next_event: dict
    clicks: list[str]
    humans: list[str]
    conversions: list[str]


class Archiver(Path):
    """A Kinesis batch of clicks and a conversion into the lake and the click index."""

    name = "archiver"
    promise = "every click and conversion archived exactly once; every human click indexed"

    def start(self, world: World, cell: Cell) -> ArchiveState:
        now = datetime.now(UTC).replace(microsecond=0)
        rng = factories.random.Random(next(_serial))
        clicks = [
            factories.click(
                now - timedelta(seconds=30 - i), rng=rng, domain=DOMAIN, is_bot=(i == 2)
            )
            for i in range(4)
        ]
        conversion = factories.conversion(now, click_id=clicks[0]["click_id"], event="purchase")
        envelopes = [factories.click_envelope(c) for c in clicks[:3]]
        envelopes += [
            factories.conversion_envelope(conversion),
            factories.click_envelope(clicks[3]),
        ]
        event = factories.kinesis_event(envelopes, arrival=now.timestamp())
        return ArchiveState(
            event,
            event,
            [c["click_id"] for c in clicks],
            [c["click_id"] for c in clicks if not c["is_bot"]],
            [conversion["conversion_id"]],
        )

    def invoke(self, world: World, state: ArchiveState, attempt: int) -> Attempt:
        result = world.app.archiver(state.next_event, FakeContext())
        failed = failures_of(result)
        if failed:
            state.next_event = from_lowest(state.next_event, failed)
            return Attempt(False, "batch item failures")
        return Attempt(True, "ok")

    def died(self, world: World, state: ArchiveState) -> None:
        pass  # Lambda retries the very batch the dead invocation had

    def check(self, world: World, state: ArchiveState, cell: Cell) -> tuple[str, list[str]]:
        problems = []
        for prefix, key, wanted in [
            ("clicks/", "click_id", state.clicks),
            ("conversions/", "conversion_id", state.conversions),
        ]:
            rows: Counter[str] = Counter()
            for body in world.objects(prefix).values():
                for line in gzip.decompress(body).decode().splitlines():
                    rows[json.loads(line)[key]] += 1
            for wanted_id in wanted:
                if rows[wanted_id] == 0:
                    problems.append(f"{key} {wanted_id} not archived")
                elif rows[wanted_id] > 1:
                    problems.append(f"{key} {wanted_id} archived {rows[wanted_id]} times")
        errors = world.objects("errors/")
        if errors:
            problems.append(f"{len(errors)} records filed under errors/")
        indexed = {i["click_id"]["S"] for i in world.table_items(world.names.click_index_table)}
        problems += [
            f"human click {c} not in the click index" for c in state.humans if c not in indexed
        ]
        return summary(cell.attempts), problems


# --- The dispatcher --------------------------------------------------------------------------------


@dataclass
class DispatchState:
    event: dict
    next_event: dict
    roles: dict[str, str]  # id -> role ("click", "conversion", "stale")


class Dispatcher(Path):
    """A Kinesis batch (a human click, an attributed purchase, a stale click) to two fake
    platforms on 127.0.0.1: config reads, credentials, the engagement tier's state (the click
    counted, the purchase remembered), ledger claims and settlements, the requests, the DLQ, the
    outcome log."""

    name = "dispatcher"
    promise = "every event sent once or dead-lettered with its reason; none sent twice"
    expected: set[tuple[str, str]] | None = (
        None  # (platform, role) -> sent | dead, from the baseline
    )

    def start(self, world: World, cell: Cell) -> DispatchState:
        now = datetime.now(UTC).replace(microsecond=0)
        n = next(_serial)
        human = self._click(new_click_id(now), iso(now))
        stale = self._click(new_click_id(now - timedelta(days=10)), iso(now - timedelta(days=10)))
        order = f"order-{n}-{human['click']['click_id'][-6:]}"
        conversion = self._conversion(human, order, now)
        event = shard_records([human, conversion, stale], first_seq=10_000 * n)
        roles = {
            human["click"]["click_id"]: "click",
            f"{human['click']['click_id']}:warm": "tier",  # the tier's one event (its 1st click)
            order: "conversion",
            conversion["conversion"]["conversion_id"]: "conversion",
            stale["click"]["click_id"]: "stale",
        }
        return DispatchState(event, event, roles)

    @staticmethod
    def _click(click_id: str, ts: str) -> dict:
        return {
            "kind": "click",
            "click": {
                "schema": 1,
                "click_id": click_id,
                "ts": ts,
                "domain": DOMAIN,
                "slug": "sale",
                "is_bot": False,
                "consent": "not_required",
                "platforms": ["meta", "tiktok", WEBHOOK],
                "click_ids": {"fbclid": "IwAR2xYz_-AbC", "ttclid": "E.C.P.tt"},
                "country": "US",
                "visitor_id": "0f" * 16,
            },
            "ip": "203.0.113.7",
            "user_agent": CHROME,
        }

    @staticmethod
    def _conversion(human: dict, order: str, now: datetime) -> dict:
        c = human["click"]
        index = {**{k: c[k] for k in CLICK_FIELDS if k in c}, "user_agent": CHROME}
        index["platforms"] = ["kit", "klaviyo", "meta", "tiktok", WEBHOOK]  # as the postback sets
        return {
            "kind": "conversion",
            "conversion": {
                "schema": 1,
                "conversion_id": new_click_id(now),
                "ts": iso(now),
                "event_time": iso(now),
                "domain": DOMAIN,
                "event": "purchase",
                "event_id": order,
                "value": 49.5,
                "currency": "EUR",
                "click_id": c["click_id"],
                "attributed": True,
            },
            "ip": "198.51.100.4",
            "user_agent": None,
            "user": {"em": hashlib.sha256(b"jane@example.com").hexdigest()},
            "contact": {"email": "jane@example.com"},  # for the email tool (encrypted stream)
            "context": {"link": f"{DOMAIN}/sale", "campaign": "spring", "consent": "not_required"},
            "click": index,
        }

    def invoke(self, world: World, state: DispatchState, attempt: int) -> Attempt:
        service = world.app.dispatcher_service()
        service.now = world.clock.now  # replays come after the claim's lease
        try:
            result = world.app.dispatcher(state.next_event, FakeContext())
        except Exception as exc:
            return Attempt(False, f"raised {type(exc).__name__}")
        failed = failures_of(result)
        if failed:
            state.next_event = from_lowest(state.next_event, failed)
            return Attempt(False, "batch item failures")
        return Attempt(True, "ok")

    def delivered(self, world: World, state: DispatchState) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for name, fake in (("meta", world.meta), ("tiktok", world.tiktok)):
            for r in fake.received:
                for eid in set(event_ids_in(r.json)):
                    out[(name, eid)] += 1
        for r in world.klaviyo.received:  # Klaviyo's idempotency key is Rebound's event id
            out[("klaviyo", r.json["data"]["attributes"]["unique_id"])] += 1
        for r in world.webhook.received:  # a delivery's id is its event's id
            out[(WEBHOOK, r.json["id"])] += 1
        # Kit is told by a tag added to the subscriber (its chain's second step), which names no
        # event: each is the one conversion of the batch (the first step, an upsert, delivers
        # nothing by itself).
        (order,) = [e for e, role in state.roles.items() if e.startswith("order-")]
        for r in world.kit.received:
            if r.path == f"/v4/tags/{KIT_PURCHASE_TAG}/subscribers":
                out[("kit", order)] += 1
        return out

    def dead_lettered(self, world: World) -> dict[tuple[str, str], str]:
        out = {}
        for body in world.queue_bodies(world.names.platform_dlq):
            doc = json.loads(body)
            out[(doc.get("platform"), (doc.get("event") or {}).get("event_id"))] = (
                doc.get("reason") or ""
            )
        return out

    def check(self, world: World, state: DispatchState, cell: Cell) -> tuple[str, list[str]]:
        sent = self.delivered(world, state)
        dead = self.dead_lettered(world)
        if self.expected is None:  # the baseline: what a fault-free run does
            self.expected = {(p, state.roles[e]) for (p, e) in [*sent, *dead] if e in state.roles}
        problems = []
        notes = set()
        # A process that dies between a platform's answer and the ledger's record of it cannot
        # know it sent: the replay sends again with the same event_id, which the platform dedups.
        # That is the one duplicate allowed, and only when the process died.
        crashed = any(a.fault == "crash" for a in cell.arms)
        for platform, role in sorted(self.expected):
            ids = [i for i, r in state.roles.items() if r == role]
            count = sum(sent[(platform, i)] for i in ids)
            reason = next((dead[(platform, i)] for i in ids if (platform, i) in dead), None)
            if count == 0 and reason is None:
                problems.append(f"{role} → {platform}: neither sent nor dead-lettered (lost)")
            elif count == 0 and not reason:
                problems.append(f"{role} → {platform}: dead-lettered without a reason")
            elif count > 1 and crashed:
                notes.add("died between send and record: resent after the lease, same event_id")
            elif count > 1:
                problems.append(f"{role} → {platform}: sent {count} times")
            elif reason is not None and count:
                notes.add(f"{role} → {platform} sent and dead-lettered")
            elif reason is not None and role != "stale":
                notes.add("DLQ with reason")
        return "; ".join([summary(cell.attempts), *sorted(notes)]), problems


# --- The rollup ------------------------------------------------------------------------------------


@dataclass
class RollupState:
    summaries: list[dict] = field(default_factory=list)


ROLLUP_HOUR = datetime(2025, 6, 1, 10, tzinfo=UTC)  # far from the other paths' "now"
ROLLUP_NOW = ROLLUP_HOUR + timedelta(hours=1, minutes=30)


class Rollup(Path):
    """The scheduled rollup of the recent hours over a small lake (clicks, a conversion,
    platform outcomes in one closed hour): listings, raw JSON fetched, Parquet published, stats
    rows replaced, the hour's manifest, the day's rows, then the audiences' readiness check."""

    name = "rollup"
    promise = "re-running after the fault gives the fault-free stats and Parquet"
    expected: tuple[list, dict] | None = None

    def prepare(self, world: World) -> None:
        from chalicelib.dispatch.sinks import OutcomeLog
        from chalicelib.lake.archive import archive_batch

        rng = factories.random.Random(20250601)
        clicks = [
            factories.click(
                ROLLUP_HOUR + timedelta(minutes=i),
                rng=rng,
                domain=DOMAIN,
                slug="sale",
                campaign="spring",
                tags=["sale"],
                visitor_id=f"v-{i % 3}",
                is_bot=(i == 4),
                consent="denied" if i == 3 else "granted",
            )
            for i in range(6)
        ]
        conversion = factories.conversion(
            ROLLUP_HOUR + timedelta(minutes=20), click_id=clicks[0]["click_id"], event="purchase"
        )
        conversion["domain"] = DOMAIN
        envelopes = [factories.click_envelope(c) for c in clicks]
        envelopes += [
            factories.conversion_envelope(conversion),
            factories.click_envelope(clicks[1]),
        ]
        s3, bucket = client("s3"), world.names.lake_bucket_name()
        result = archive_batch(
            factories.kinesis_event(envelopes, arrival=ROLLUP_HOUR.timestamp()),
            s3=s3,
            dynamodb=client("dynamodb"),
            bucket=bucket,
            click_index_table=world.names.click_index_table,
            now=ROLLUP_NOW.timestamp(),
        )
        assert result == {"batchItemFailures": []}, result
        outcomes = [
            {
                "ts": c["ts"],
                "platform": "meta",
                "event_id": c["click_id"],
                "kind": "page_view",
                "status": status,
                "reason": "",
                "source_url": f"https://{DOMAIN}/sale",
                "event_time": c["ts"],
            }
            for c, status in zip(clicks[:3], ("sent", "sent", "dead"), strict=True)
        ]
        OutcomeLog(s3, bucket).write("meta", outcomes, ROLLUP_HOUR + timedelta(minutes=40))

    def start(self, world: World, cell: Cell) -> RollupState:
        return RollupState()

    def invoke(self, world: World, state: RollupState, attempt: int) -> Attempt:
        from chalicelib.rollup.run import Rollup as Run

        with tempfile.TemporaryDirectory(prefix="faults-rollup-") as tmp:
            try:
                rollup = Run.for_names(world.names, workdir=tmp)
                report = rollup.run(now=ROLLUP_NOW, lookback=1)
                if not report.summary()["failed"]:
                    rollup.check_readiness(ROLLUP_NOW)  # as the scheduled function does next
            except Exception as exc:
                state.summaries.append({})
                return Attempt(False, f"raised {type(exc).__name__}")
        done = report.summary()
        state.summaries.append(done)
        if done["failed"]:
            return Attempt(False, "hour failed")
        return Attempt(True, "ok")

    def result(self, world: World) -> tuple[list, dict]:
        stats = [i for i in world.table_items(world.names.stats_table) if i["pk"]["S"] != "rollup"]
        stats.sort(key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        parquet = {
            k: hashlib.sha256(v).hexdigest()
            for prefix in ("clicks_parquet/", "conversions_parquet/")
            for k, v in world.objects(prefix).items()
        }
        return stats, parquet

    def check(self, world: World, state: RollupState, cell: Cell) -> tuple[str, list[str]]:
        got = self.result(world)
        if self.expected is None:
            self.expected = got
        problems = []
        stats, parquet = self.expected
        if not stats:
            problems.append("the fault-free rollup wrote no stats rows")
        if got[0] != stats:
            keys = {(i["pk"]["S"], i["sk"]["S"]) for i in stats}
            have = {(i["pk"]["S"], i["sk"]["S"]) for i in got[0]}
            problems.append(
                f"stats differ from a fault-free run ({len(keys - have)} rows missing, "
                f"{len(have - keys)} extra, {sum(1 for i in got[0] if i not in stats)} changed)"
            )
        if got[1] != parquet:
            problems.append(f"Parquet differs: {sorted(set(got[1]) ^ set(parquet)) or 'contents'}")
        return summary(cell.attempts), problems


# --- rebound apply ---------------------------------------------------------------------------------

APPLY_DOMAIN = "apply.localhost"
APPLY_LINKS = 12
# Transactions of at most 8 items here instead of DynamoDB's 100, so 12 links take several:
# moto copies the whole table for every item of a transaction (100 items cost 2.5 s).
APPLY_TRANSACTION_LIMIT = 8


def apply_file(version: str) -> str:
    links = "\n".join(
        f"  - {{domain: {APPLY_DOMAIN}, slug: l{i:03d}, url: 'https://shop.example/{version}/{i}'}}"
        for i in range(APPLY_LINKS)
    )
    return (
        textwrap.dedent(
            f"""\
        version: 1
        domains:
          - name: {APPLY_DOMAIN}
            root_url: https://shop.example/
        links:
        """
        )
        + links
        + "\n"
    )


@dataclass
class ApplyState:
    outputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    half: list[str] = field(
        default_factory=list
    )  # half-applied states the next plan did not report


class Apply(Path):
    """`rebound apply --yes` of 12 changed links (several transactions) through the CLI; the
    marketer re-runs it after a failure, and runs `plan` in between."""

    name = "apply"
    promise = "links all old or all new, or the next plan reports the interrupted apply; re-apply finishes"

    def prepare(self, world: World) -> None:
        # Its own links table: its links in the shared one would slow every path that scans it.
        self.table = world.table_like("rebound-local-faults-apply-links", world.names.links_table)
        self.dir = FilePath(tempfile.mkdtemp(prefix="faults-apply-"))
        (self.dir / "old.yaml").write_text(apply_file("v1"))
        (self.dir / "new.yaml").write_text(apply_file("v2"))
        from chalicelib.config.loader import load_config

        store = ConfigStore(client("dynamodb"), self.table)
        specs = Specs.from_config(load_config(self.dir / "old.yaml"))
        store.write(make_plan(specs, store.read_all()).writes())

    def start(self, world: World, cell: Cell) -> ApplyState:
        self.clock = world.clock
        return ApplyState()

    def _cli(self, *args: str) -> tuple[int, str, BaseException | None]:
        from click.testing import CliRunner

        from chalicelib.links import store
        from rebound import cli

        env = {"REBOUND_LINKS_TABLE": self.table}
        limit, store.TRANSACTION_LIMIT = store.TRANSACTION_LIMIT, APPLY_TRANSACTION_LIMIT
        # The marketer re-runs later: the store's clock (its lock's age) is the harness's.
        init = store.ConfigStore.__init__
        defaults = init.__defaults__
        if "clock" in inspect.signature(init).parameters and defaults:
            init.__defaults__ = (*defaults[:-1], lambda: self.clock.now().timestamp())
        try:
            result = CliRunner(env=env).invoke(cli.main, list(args))
        finally:
            store.TRANSACTION_LIMIT = limit
            init.__defaults__ = defaults
        exc = result.exception if not isinstance(result.exception, SystemExit) else None
        return result.exit_code, result.output, exc

    def versions(self, world: World) -> Counter[str]:
        seen: Counter[str] = Counter()
        for item in world.table_items(self.table):
            if item["pk"]["S"].startswith(f"link#{APPLY_DOMAIN}#"):
                url = json.loads(item["doc"]["S"])["spec"]["url"]
                seen[url.split("/")[3]] += 1
        return seen

    def _after_failure(self, world: World, state: ApplyState) -> None:
        versions = self.versions(world)
        with world.injector.paused():
            _, plan_out, _ = self._cli("plan", str(self.dir / "new.yaml"))
        if len(versions) > 1 and not re.search(r"interrupt", plan_out, re.IGNORECASE):
            said = " / ".join(line.strip() for line in plan_out.splitlines()[:2])
            state.half.append(
                f"{versions['v2']} links new, {versions['v1']} old, and `plan` does not report "
                f"it (it says: {said[:160]})"
            )

    def invoke(self, world: World, state: ApplyState, attempt: int) -> Attempt:
        code, output, exc = self._cli("apply", str(self.dir / "new.yaml"), "--yes")
        state.outputs.append(output)
        if code == 0:
            return Attempt(True, "applied")
        state.errors.append(f"traceback ({type(exc).__name__})" if exc else "error message")
        self._after_failure(world, state)
        return Attempt(False, state.errors[-1])

    def died(self, world: World, state: ApplyState) -> None:
        self._after_failure(world, state)

    def check(self, world: World, state: ApplyState, cell: Cell) -> tuple[str, list[str]]:
        problems = [f"half-applied: {h}" for h in state.half]
        versions = self.versions(world)
        if versions != Counter({"v2": APPLY_LINKS}):
            problems.append(f"after the re-runs: {dict(versions)}")
        return summary(cell.attempts), problems


PATHS: list[Path] = [
    Redirect(),
    RedirectAfterResponse(),
    Republisher(),
    Postback(),
    Archiver(),
    Dispatcher(),
    Rollup(),
    Apply(),
]


def by_name(name: str) -> Path:
    return next(p for p in PATHS if p.name == name)
