"""The redirect's I/O around the pure decision: one cached GetItem in, one PutRecord out.

Per request: read the link (from memory when warm; one GetItem when not), decide, publish the
click, answer. With ``held`` (the stage's ``after-response`` mode) the click is handed to the
after-response publisher instead (chalicelib/clicks/after_response.py): the visitor gets the
answer first, the click is put on the stream right after, before the next request. A slow or failing store never turns into an error: a stale copy is served, and
with nothing cached, the domain's fallback (or a small page).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple

from chalicelib.clicks import build_click, click_envelope, new_click_id
from chalicelib.clicks.after_response import Held
from chalicelib.clicks.envelope import encode
from chalicelib.clicks.salt import DailySalt
from chalicelib.clicks.stream import StreamPublisher
from chalicelib.links.cache import ConfigCache, StoreUnavailable
from chalicelib.links.counter import ClickCounter
from chalicelib.links.record import EEA_UK, domain_key, get_doc, link_key
from chalicelib.redirect.decision import Decision, decide
from chalicelib.redirect.request import RequestFacts
from chalicelib.redirect.visitor import Visitor, read_visitor

log = logging.getLogger(__name__)


class Answer(NamedTuple):
    status: int
    headers: dict[str, Any]
    body: str
    outcome: str = ""  # the decision's rule without its index: "rule", "split", "expired", ...
    published: str | None = None  # where the click went: stream, fallback, lost, held; None: none


class RedirectHandler:
    def __init__(
        self,
        *,
        dynamodb: Any,
        kinesis: Any,
        sqs: Any,
        links_table: str,
        state_table: str,
        stream: str,
        fallback_queue: str,
        cache_ttl: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        held: Held | None = None,
    ):
        self.ddb = dynamodb
        self.links_table = links_table
        self.cache = ConfigCache(cache_ttl, clock=monotonic)
        self.counter = ClickCounter(dynamodb, state_table)
        self.salt = DailySalt(dynamodb, state_table)
        self.publisher = StreamPublisher(kinesis, sqs, stream, fallback_queue)
        self.held = held
        self.now = now

    def handle(
        self,
        *,
        method: str,
        path: str,
        query: Any,
        headers: Any,
        source_ip: str | None,
    ) -> Answer:
        facts = RequestFacts.from_request(
            method=method, host=None, path=path, query=query, headers=headers, source_ip=source_ip
        )
        doc, site = self._lookup(facts)
        now = self.now()
        click_id = new_click_id(now)
        visitor = read_visitor(facts, site, salt=lambda: self.salt.for_time(now))
        spec = (doc or {}).get("spec") or {}
        consume = None
        if spec.get("max_clicks"):
            consume = lambda: self.counter.consume(spec["domain"], spec["slug"], spec["max_clicks"])  # noqa: E731
        decision = decide(doc, site, facts, visitor, now, click_id=click_id, consume_click=consume)
        published = self._record(decision, facts, visitor, doc, click_id, now)
        body = "" if facts.method == "HEAD" else decision.body
        outcome = decision.rule.partition(":")[0]
        return Answer(decision.status, dict(decision.headers), body, outcome, published)

    def _record(
        self,
        decision: Decision,
        facts: RequestFacts,
        visitor: Visitor,
        doc: dict | None,
        click_id: str,
        now: datetime,
    ) -> str | None:
        """Publish the click, or hold it for after the response; where it went (None: no click
        to record). Whatever fails here loses the click, never the redirect (the publisher
        itself never raises); the log names the click and the error type only."""
        try:
            if self.held is not None:
                if not decision.is_recorded:
                    return None
                # The record is made and encoded by the flush, after the response: the answer
                # waits for the decision and this one append only. Refused once the flusher has
                # stopped: then published before the answer, as in sync mode.
                if self.held.hold(
                    self.publisher,
                    partial(_encoded, decision, facts, visitor, doc, click_id, now),
                    click_id,
                ):
                    return "held"
            click = build_click(decision, facts, visitor, doc, click_id=click_id, now=now)
            if click is None:
                return None
            return self.publisher.publish(click_envelope(click, facts), click_id)
        except Exception as exc:
            log.error(
                "click %s not recorded: %s",
                click_id,
                type(exc).__name__,
                extra={"click_id": click_id},
            )
            return "lost"

    def _lookup(self, facts: RequestFacts) -> tuple[dict | None, dict | None]:
        """(link doc, site): one GetItem for a link; a domain read only when the slug is unknown."""
        if facts.host is None:
            return None, None
        doc = None
        if facts.slug is not None and not facts.is_root:
            try:
                doc = self.cache.get(link_key(facts.host, facts.slug), self._get)
            except StoreUnavailable:
                log.warning(
                    "link store unavailable and %s/%s not cached",
                    facts.host,
                    facts.slug,
                    extra={"domain": facts.host, "slug": facts.slug},
                )
        if doc is not None:
            # A link carries its domain's site: remember it, so the domain fallback works even
            # if the store goes down before this domain's own item was ever read.
            self.cache.seed(domain_key(facts.host), {"site": doc["site"]})
            return doc, doc["site"]
        try:
            domain = self.cache.get(domain_key(facts.host), self._get)
        except StoreUnavailable:
            log.warning(
                "link store unavailable and domain %s not cached",
                facts.host,
                extra={"domain": facts.host},
            )
            return None, degraded_site(facts.host)
        return None, (domain or {}).get("site")

    def _get(self, pk: str) -> dict | None:
        return get_doc(self.ddb, self.links_table, pk)


def _encoded(
    decision: Decision,
    facts: RequestFacts,
    visitor: Visitor,
    doc: dict | None,
    click_id: str,
    now: datetime,
) -> bytes:
    """The click's envelope as the stream takes it (the after-response flush calls this)."""
    click = build_click(decision, facts, visitor, doc, click_id=click_id, now=now)
    if click is None:  # is_recorded said otherwise: a bug, counted as a lost click
        raise ValueError("no click record for a recorded decision")
    return encode(click_envelope(click, facts))


def degraded_site(host: str) -> dict[str, Any]:
    """The store is down and this domain was never read: answer with the 404 page, still record
    the click, and assume the strictest consent settings since the real ones are unknown."""
    return {
        "name": host,
        "root_url": None,
        "not_found_url": None,
        "expired_url": None,
        "consent": {"honor_gpc": True, "honor_dnt": True, "require_in": sorted(EEA_UK)},
    }
