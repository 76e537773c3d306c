"""``POST /_/conversions``: the I/O around the pure parts (signature, postback, record).

Per postback, in this order: size (413) → the domain's secret and the signature (401) →
content type (415) → body (400) → the click in the click index → the ``event_id`` marker (a
conditional put: the same event id twice is accepted once) → one PutRecord (SQS when Kinesis
refuses, as for clicks) → 202.

Anything AWS fails at answers 503 with ``Retry-After``: the merchant retries with the same
``event_id``, which is safe. A conversion that reached neither Kinesis nor SQS releases its
marker first, so that retry is not taken for a duplicate.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.clicks.ids import new_click_id
from chalicelib.clicks.stream import ClickPublisher
from chalicelib.conversions.postback import FieldError, Invalid, Postback, parse_postback
from chalicelib.conversions.record import attributable, build_conversion, click_from_index
from chalicelib.conversions.signature import HEADER, SignatureError, verify
from chalicelib.links.cache import LinkCache, StoreUnavailable
from chalicelib.links.record import domain_key, get_doc
from chalicelib.redirect.request import normalize_headers, normalize_host
from chalicelib.resources import error_code
from chalicelib.secrets import SecretError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# Longer than the 7 days an event_time may lie back, so a retried postback is always recognised;
# a postback without event_time is "now", and is recognised for this long.
MARKER_TTL = timedelta(days=30)
RETRY_AFTER_SECONDS = 5
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
        self.publisher = ClickPublisher(kinesis, sqs, stream, fallback_queue)
        self.domains = LinkCache(cache_ttl, clock=monotonic)
        self.now = now

    def receive(self, *, headers: Any, body: bytes | str | None) -> Reply:
        """Answer one postback; never raises."""
        try:
            return self._receive(normalize_headers(headers), _bytes(body))
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
        if secret is None:
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
            found = click_from_index(self._click_item(postback.click_id))
            if attributable(found, domain, postback.event_time):
                click = found
        conversion_id = new_click_id(now)
        record, envelope = build_conversion(
            postback,
            conversion_id=conversion_id,
            domain=domain,
            now=now,
            click=click,
            default_country=self._default_country(domain),
        )
        key = marker_key(domain, postback.event_id)
        earlier = self._mark(key, conversion_id, record["attributed"], now)
        if earlier is not None:
            log.info("conversion %s on %s is a duplicate", earlier["conversion_id"], domain)
            return _reply(202, {**earlier, "duplicate": True})
        where = self.publisher.publish(envelope, conversion_id)
        if where == "lost":
            self._unmark(key, conversion_id)
            raise Unavailable(f"conversion {conversion_id} reached neither Kinesis nor SQS")
        log.info(
            "conversion %s accepted on %s: event=%s attributed=%s platforms=%s via %s",
            conversion_id,
            domain,
            postback.event,
            record["attributed"],
            ",".join(record["platforms"]) or "-",
            where,
        )
        return _reply(
            202,
            {
                "conversion_id": conversion_id,
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

    def _click_item(self, click_id: str) -> dict[str, Any] | None:
        try:
            return self.ddb.get_item(
                TableName=self.click_index_table, Key={"click_id": {"S": click_id}}
            ).get("Item")
        except Exception as exc:
            raise Unavailable(f"click index unavailable: {error_code(exc)}") from None

    def _mark(
        self, key: str, conversion_id: str, attributed: bool, now: datetime
    ) -> dict[str, Any] | None:
        """Claim the event id; None when claimed now, else what the first postback was told."""
        epoch = int(now.timestamp())
        try:
            self.ddb.put_item(
                TableName=self.state_table,
                Item={
                    "pk": {"S": key},
                    "conversion_id": {"S": conversion_id},
                    "attributed": {"BOOL": attributed},
                    "expires_at": {"N": str(epoch + int(MARKER_TTL.total_seconds()))},
                },
                # An expired marker that DynamoDB's TTL sweep has not removed yet is free again.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(epoch)}},
            )
            return None
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise Unavailable(f"state table unavailable: {error_code(exc)}") from None
        try:
            item = self.ddb.get_item(
                TableName=self.state_table, Key={"pk": {"S": key}}, ConsistentRead=True
            ).get("Item")
        except Exception as exc:
            raise Unavailable(f"state table unavailable: {error_code(exc)}") from None
        if not item:  # released by a failed publish in between: let the merchant retry
            raise Unavailable("event id marker changed concurrently")
        return {
            "conversion_id": item["conversion_id"]["S"],
            "attributed": bool(item.get("attributed", {}).get("BOOL", False)),
        }

    def _unmark(self, key: str, conversion_id: str) -> None:
        try:
            self.ddb.delete_item(
                TableName=self.state_table,
                Key={"pk": {"S": key}},
                ConditionExpression="conversion_id = :id",
                ExpressionAttributeValues={":id": {"S": conversion_id}},
            )
        except Exception as exc:
            log.error("could not release event id marker of %s: %s", conversion_id, error_code(exc))


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
