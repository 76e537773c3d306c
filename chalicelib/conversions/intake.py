"""``POST /_/conversions``: the I/O around the pure parts (signature, postback, record).

Per postback, in this order: size (413) → the domain's secret and the signature (401) →
content type (415) → body (400) → the click in the click index (and its link's stored doc: the
email tools and webhooks it feeds) → a *pending* claim on the
``event_id`` (a conditional put) → one PutRecord (SQS when Kinesis refuses, as for clicks) → the
claim confirmed → 202.

The claim follows Powertools' idempotency utility: a confirmed claim answers the same event id
with ``202 duplicate``; a pending one means "in flight": ``503`` with ``Retry-After`` while its
claimant may still be running, and taken over (the conversion published again, with the same
``conversion_id`` and ``ts``) once ``IN_FLIGHT_SECONDS`` have passed, which no invocation outlives.
So a merchant is never told "duplicate" for a conversion that did not reach the stream, whatever
died in between; at worst a conversion reaches the stream twice, and every consumer keys it by
its event id (the lake's compaction, the dispatcher's ledger).

Anything AWS fails at before the publish answers 503 with ``Retry-After``: the merchant retries
with the same ``event_id``, which is safe. A conversion that reached neither Kinesis nor SQS
releases its claim, so that retry is published at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.aws.calls import error_code
from chalicelib.clicks.event import iso_millis
from chalicelib.clicks.ids import new_click_id
from chalicelib.clicks.index import get_click
from chalicelib.clicks.stream import StreamPublisher
from chalicelib.conversions.postback import FieldError, Invalid, Postback, parse_postback
from chalicelib.conversions.record import build_conversion, unattributed_reason
from chalicelib.conversions.signature import HEADER, SignatureError, verify
from chalicelib.links.cache import ConfigCache, StoreUnavailable
from chalicelib.links.host import normalize_host
from chalicelib.links.record import domain_key, get_doc, link_key
from chalicelib.redirect.request import normalize_headers
from chalicelib.secrets import SecretError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# Longer than the 7 days an event_time may lie back, so a retried postback is always recognised;
# a postback without event_time is "now", and is recognised for this long.
MARKER_TTL = timedelta(days=30)
RETRY_AFTER_SECONDS = 5
# How long a pending claim is its claimant's: longer than the function's timeout (10 s,
# infra/template.yaml), so only the claim of an invocation that died is ever taken over.
IN_FLIGHT_SECONDS = 15
PENDING, ACCEPTED = "pending", "accepted"
JSON = "application/json"
BASE_HEADERS = {
    "Content-Type": JSON,
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]


def marker_key(domain: str, event_id: str) -> str:
    return f"conversion#{domain}#{event_id}"


class Unavailable(Exception):
    """AWS failed: the postback may be retried as it is."""


class InFlight(Exception):
    """Another postback with this event id holds a pending claim that may still be published."""

    def __init__(self, retry_after: int):
        super().__init__(f"claimed by a postback still in flight for {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Claim:
    """The event id is this postback's to publish, as ``conversion_id`` received at ``received``
    (an earlier claimant's, when its claim was taken over: the same conversion either way)."""

    conversion_id: str
    received: datetime
    taken_over: bool = False


class Intake:
    def __init__(
        self,
        *,
        dynamodb: Any,
        kinesis: Any,
        sqs: Any,
        secrets: Any,
        links_table: str,
        state_table: str,
        click_index_table: str,
        stream: str,
        fallback_queue: str,
        cache_ttl: float = 30.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.ddb = dynamodb
        self.secrets = secrets
        self.links_table = links_table
        self.state_table = state_table
        self.click_index_table = click_index_table
        self.publisher = StreamPublisher(kinesis, sqs, stream, fallback_queue)
        self.domains = ConfigCache(cache_ttl, clock=monotonic)
        self.now = now

    def receive(self, *, headers: Any, body: bytes | str | None) -> Reply:
        """Answer one postback; never raises."""
        try:
            return self._receive(normalize_headers(headers), _bytes(body))
        except InFlight as exc:
            log.info("conversion postback deferred (503): %s", exc)
            return _error(
                503,
                "event_id",
                "a postback with this event_id is in progress: retry with the same event_id",
                {"Retry-After": str(exc.retry_after)},
            )
        except Unavailable as exc:
            log.warning("conversion postback deferred (503): %s", exc)
            return _error(
                503,
                None,
                "temporarily unavailable: retry with the same event_id",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )

    def _receive(self, headers: Mapping[str, str], body: bytes) -> Reply:
        if len(body) > MAX_BODY_BYTES:
            return _error(
                413, None, f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}"
            )
        now = self.now()
        host = normalize_host(headers.get("host"))
        secret = self._secret(host) if host else None
        if host is None or secret is None:
            log.warning("conversion postback for %s refused: no conversion secret", host)
            return _unauthorized(f"no conversion_secret is configured for {host or 'this host'}")
        try:
            verify(headers.get(HEADER.lower()), body, secret, now=now.timestamp())
        except SignatureError as exc:
            log.warning("conversion postback for %s refused: %s", host, exc)
            return _unauthorized(str(exc))
        unsupported = _unsupported_media(headers)
        if unsupported:
            return _error(415, "Content-Type", unsupported)
        try:
            postback = parse_postback(body, now)
        except Invalid as exc:
            log.info(
                "conversion postback for %s rejected: %s",
                host,
                ", ".join(str(e.field) for e in exc.errors),
            )
            return _reply(400, {"errors": [e.to_dict() for e in exc.errors]})
        return self._accept(host, postback, now)

    def _accept(self, domain: str, postback: Postback, now: datetime) -> Reply:
        click = None
        if postback.click_id:
            found = self._click(postback.click_id)
            unattributed = unattributed_reason(found, domain, postback.event_time)
            if unattributed is None:
                click = found
            else:
                log.info("conversion on %s not attributed: %s", domain, unattributed)
        link_doc = self._link(domain, str(click.get("slug") or "")) if click else None
        key = marker_key(domain, postback.event_id)
        claim = self._claim(key, new_click_id(now), now)
        if not isinstance(claim, Claim):
            log.info(
                "conversion %s on %s is a duplicate",
                claim["conversion_id"],
                domain,
                extra={"conversion_id": claim["conversion_id"], "domain": domain},
            )
            return _reply(202, {**claim, "duplicate": True})
        record, envelope = build_conversion(
            postback,
            conversion_id=claim.conversion_id,
            domain=domain,
            now=claim.received,
            click=click,
            default_country=self._default_country(domain),
            link_doc=link_doc,
        )
        where = self.publisher.publish(envelope, claim.conversion_id)
        if where == "lost":
            self._release(key, claim)
            raise Unavailable(f"conversion {claim.conversion_id} reached neither Kinesis nor SQS")
        self._confirm(key, claim, record["attributed"])
        log.info(
            "conversion %s accepted on %s: event=%s attributed=%s platforms=%s via %s%s",
            claim.conversion_id,
            domain,
            postback.event,
            record["attributed"],
            ",".join(record["platforms"]) or "-",
            where,
            " (published again: its first claimant died in flight)" if claim.taken_over else "",
            extra={"conversion_id": claim.conversion_id, "domain": domain},
        )
        return _reply(
            202,
            {
                "conversion_id": claim.conversion_id,
                "attributed": record["attributed"],
                "duplicate": False,
            },
        )

    # --- AWS ----------------------------------------------------------------------------------

    def _domain(self, host: str) -> dict[str, Any] | None:
        try:
            return self.domains.get(domain_key(host), self._get_doc)
        except StoreUnavailable as exc:
            raise Unavailable(f"links table unavailable for {host}") from exc

    def _link(self, host: str, slug: str) -> dict[str, Any] | None:
        try:
            return self.domains.get(link_key(host, slug), self._get_doc)
        except StoreUnavailable as exc:
            raise Unavailable(f"links table unavailable for a link of {host}") from exc

    def _get_doc(self, pk: str) -> dict[str, Any] | None:
        return get_doc(self.ddb, self.links_table, pk)

    def _secret(self, host: str) -> str | None:
        ref = ((self._domain(host) or {}).get("spec") or {}).get("conversion_secret")
        if not ref:
            return None
        try:
            return self.secrets.resolve(ref)
        except SecretError as exc:
            if exc.not_found:  # configured but never created: an operator's to fix
                log.error("conversion secret of %s: %s", host, exc)
                return None
            raise Unavailable(str(exc)) from None

    def _default_country(self, host: str) -> str | None:
        spec = (self._domain(host) or {}).get("spec") or {}
        return spec.get("default_country")

    def _click(self, click_id: str) -> dict[str, Any] | None:
        try:
            return get_click(self.ddb, self.click_index_table, click_id)
        except Exception as exc:
            raise Unavailable(f"click index unavailable: {error_code(exc)}") from None

    # --- The event-id claim: pending → published → accepted ---------------------------------

    def _claim(self, key: str, conversion_id: str, now: datetime) -> Claim | dict[str, Any]:
        """This postback's ``Claim`` on the event id, or (a duplicate) what the first postback
        was told. Raises InFlight while another claimant may still publish, Unavailable when
        DynamoDB fails."""
        epoch = int(now.timestamp())
        for _ in range(3):  # each turn loses only to a claim that changed in between
            item = self._put_claim(key, conversion_id, now)
            if item is None:
                return Claim(conversion_id, now)
            if not item:  # released in between: claim again
                continue
            if item.get("status", {}).get("S", ACCEPTED) != PENDING:  # no status: the old marker
                return {
                    "conversion_id": item["conversion_id"]["S"],
                    "attributed": bool(item.get("attributed", {}).get("BOOL", False)),
                }
            until = int(item["in_flight_until"]["N"])
            if until > epoch:
                raise InFlight(max(1, until - epoch))
            taken = self._take_over(key, item, now)
            if taken is not None:
                return taken
        raise Unavailable("event id marker changed concurrently")

    def _put_claim(self, key: str, conversion_id: str, now: datetime) -> dict[str, Any] | None:
        """None when claimed now; else the marker in the way ({} if it vanished)."""
        epoch = int(now.timestamp())
        try:
            self.ddb.put_item(
                TableName=self.state_table,
                Item={
                    "pk": {"S": key},
                    "conversion_id": {"S": conversion_id},
                    "ts": {"S": iso_millis(now)},
                    "status": {"S": PENDING},
                    "in_flight_until": {"N": str(epoch + IN_FLIGHT_SECONDS)},
                    "attributed": {"BOOL": False},
                    "expires_at": {"N": str(epoch + int(MARKER_TTL.total_seconds()))},
                },
                # An expired marker that DynamoDB's TTL sweep has not removed yet is free again.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(epoch)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise Unavailable(f"state table unavailable: {error_code(exc)}") from None
            item = (getattr(exc, "response", None) or {}).get("Item")
        if item:
            return item
        try:
            return (
                self.ddb.get_item(
                    TableName=self.state_table, Key={"pk": {"S": key}}, ConsistentRead=True
                ).get("Item")
                or {}
            )
        except Exception as exc:
            raise Unavailable(f"state table unavailable: {error_code(exc)}") from None

    def _take_over(self, key: str, item: dict[str, Any], now: datetime) -> Claim | None:
        """The claim of a claimant that died in flight, with its conversion id and time; None
        when another retry took it first."""
        try:
            self.ddb.update_item(
                TableName=self.state_table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET in_flight_until = :until",
                ConditionExpression="#s = :pending AND in_flight_until = :was",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":until": {"N": str(int(now.timestamp()) + IN_FLIGHT_SECONDS)},
                    ":pending": {"S": PENDING},
                    ":was": item["in_flight_until"],
                },
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise Unavailable(f"state table unavailable: {error_code(exc)}") from None
        received = _instant(item.get("ts", {}).get("S")) or now
        return Claim(item["conversion_id"]["S"], received, taken_over=True)

    def _confirm(self, key: str, claim: Claim, attributed: bool) -> None:
        """Published: the event id is a duplicate from now on. Failing here leaves the claim
        pending; the conversion is on the stream, so the merchant still gets its 202, and a
        later retry publishes it again (the same conversion: consumers dedup it)."""
        try:
            self.ddb.update_item(
                TableName=self.state_table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET #s = :accepted, attributed = :attributed "
                "REMOVE in_flight_until",
                ConditionExpression="conversion_id = :id",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":accepted": {"S": ACCEPTED},
                    ":attributed": {"BOOL": attributed},
                    ":id": {"S": claim.conversion_id},
                },
            )
        except Exception as exc:
            log.warning(
                "conversion %s published, its claim not confirmed: %s",
                claim.conversion_id,
                error_code(exc),
                extra={"conversion_id": claim.conversion_id},
            )

    def _release(self, key: str, claim: Claim) -> None:
        """Nothing was published: the event id is free for the retry at once. Failing here is
        safe too: the pending claim is taken over once its window has passed."""
        try:
            self.ddb.delete_item(
                TableName=self.state_table,
                Key={"pk": {"S": key}},
                ConditionExpression="conversion_id = :id AND #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":id": {"S": claim.conversion_id},
                    ":pending": {"S": PENDING},
                },
            )
        except Exception as exc:
            log.error(
                "could not release the claim of %s: %s",
                claim.conversion_id,
                error_code(exc),
                extra={"conversion_id": claim.conversion_id},
            )


def _instant(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


# --- Replies ----------------------------------------------------------------------------------


def _bytes(body: bytes | str | None) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def _unsupported_media(headers: Mapping[str, str]) -> str | None:
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != JSON:
        return f"send the body as {JSON} (Content-Type: {JSON})"
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        return "compressed bodies are not accepted: send plain JSON"
    return None


def _reply(status: int, payload: dict[str, Any], extra: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return Reply(status, body, {**BASE_HEADERS, **(extra or {})})


def _error(
    status: int, field: str | None, message: str, extra: dict[str, str] | None = None
) -> Reply:
    return _reply(status, {"errors": [FieldError(field, message).to_dict()]}, extra)


def _unauthorized(message: str) -> Reply:
    return _error(401, HEADER, message, {"WWW-Authenticate": HEADER})
