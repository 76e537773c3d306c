"""Mailchimp (Marketing API 3.0): a conversion is the member, then its event (then a tag); a
click from a Mailchimp email (``mc_eid``) is that member's "clicked link" event.

The API lives in the account's data centre, the key's suffix: ``…-us6`` ->
``https://us6.api.mailchimp.com/3.0``. A member is addressed by the MD5 of its lowercased
email (the subscriber hash), so no step waits for an id from the one before.

A conversion (lead, purchase, custom):

1. ``PUT /lists/{list_id}/members/{hash}`` ``{email_address, status_if_new}``: adds or updates
   the member; an existing member's status is left alone.
2. ``POST /lists/{list_id}/members/{hash}/events`` ``{name, properties, occurred_at}``:
   ``rebound_lead``, ``rebound_purchase``, ``rebound_<custom>`` (2-30 letters, digits, ``_``,
   ``-``); ``properties`` take text values only. A journey can start on it (a paid plan).
3. With ``tags: {lead: "Rebound lead"}``: ``POST …/members/{hash}/tags``
   ``{tags: [{name, status: "active"}]}`` (a segment, or a journey's "Tag added").

A click carrying ``mc_eid`` (the member's ``unique_email_id``):

1. ``GET /lists/{list_id}/members?unique_email_id=<mc_eid>&fields=members.id,total_items``;
   no member is a permanent "no member with this mc_eid" (not retried);
2. its ``id`` (the hash) -> ``POST …/members/{id}/events`` ``rebound_clicked_link``.

Every step is safe to repeat (PUT, tags), but for the event itself: Mailchimp has no idempotency
key, so a chain retried after its event step got through records the event twice.

Auth: HTTP Basic ``anystring:<key>``. Mailchimp limits connections, not a rate: 10 at once per
user, a 429 past them; at very high volume a throttle can be a 403 without a JSON body, which
is retried (a 403 with Mailchimp's problem document is not). No rate-limit headers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from chalicelib.clicks.text import mask_emails
from chalicelib.platforms import email_tool
from chalicelib.platforms.answers import classify_status, clip, parse_json
from chalicelib.platforms.email_tool import (
    EmailTool,
    as_text,
    email_of,
    event_name,
    iso,
    properties,
)
from chalicelib.platforms.event import PlatformEvent, Rejected
from chalicelib.platforms.http import PERMANENT, RETRY, HttpRequest, Outcome
from chalicelib.platforms.platform import (
    JSON_HEADERS,
    Item,
    Secrets,
    Settings,
    base_url,
    reject_all,
)

API_VERSION = "3.0"
# Where a dry run without a readable key shows the data centre.
DC_PLACEHOLDER = "<dc>"
# What a dry run shows where the member id from the search goes.
MEMBER_PLACEHOLDER = "<member id from members?unique_email_id>"
NO_MEMBER = "no member with this mc_eid in the list"
_DC_RE = re.compile(r"^[a-z]{2,5}[0-9]{1,3}$")
_NAME_DROP_RE = re.compile(r"[^a-z0-9_-]+")
NAME_MIN, NAME_MAX = 2, 30


def data_centre(api_key: str) -> str | None:
    """``us6`` out of ``…-us6``, or None when the key has no such suffix."""
    _, dash, suffix = api_key.rpartition("-")
    return suffix if dash and _DC_RE.match(suffix) else None


def subscriber_hash(email: str) -> str:
    """The member's id in a list: MD5 of the lowercased address (not a secret: a key)."""
    return hashlib.md5(email.lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def mailchimp_event_name(kind: str) -> str:
    """``Rebound Lead`` as Mailchimp takes a name: ``rebound_lead`` (letters, digits, ``_``,
    ``-``; 2 to 30 characters)."""
    name = _NAME_DROP_RE.sub("_", event_name(kind).lower()).strip("_")
    return name[:NAME_MAX].rstrip("_") or "rebound_event"


def event_body(event: PlatformEvent) -> dict[str, Any]:
    return {
        "name": mailchimp_event_name(event.kind),
        "properties": as_text(properties(event)),
        "occurred_at": iso(event.event_time),
    }


def tag_for(settings: Settings, kind: str) -> str | None:
    tags: Mapping[str, Any] = settings.get("tags") or {}
    found = tags.get(kind)
    return str(found) if found else None


def basic_auth(api_key: str) -> str:
    token = base64.b64encode(f"anystring:{api_key}".encode()).decode("ascii")
    return f"Basic {token}"


def member_id(answer: Any) -> str:
    """The member's id out of the search's answer (None in a dry run: the placeholder)."""
    if answer is None:
        return MEMBER_PLACEHOLDER
    members = answer.get("members") if isinstance(answer, dict) else None
    found = members[0].get("id") if members and isinstance(members[0], dict) else None
    if not found:
        raise ValueError(NO_MEMBER)
    return str(found)


def problem(body: bytes | str) -> str:
    """``title: detail`` of Mailchimp's problem document (any other shape as every email tool
    reads it), every address in it masked."""
    payload = parse_json(body)
    if not isinstance(payload, dict) or not (payload.get("title") or payload.get("detail")):
        return email_tool.error_detail(body)
    said = ": ".join(str(payload[k]) for k in ("title", "detail") if payload.get(k))
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        said += f" ({first.get('field') or ''}: {first.get('message') or ''})"
    return mask_emails(clip(said))


class Mailchimp(EmailTool):
    NAME = "mailchimp"
    SECRET_FIELDS = ("api_key",)
    REQUIRED_SETTINGS = ("list_id",)
    # No request rate is documented: the bucket (1000/s) never binds; 10 connections do.
    PACE = (1000, 1.0, 10)

    def build_requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> tuple[list[HttpRequest], list[Rejected]]:
        """As every email tool, but a key without its data centre is refused up front (naming
        the fault, not the key), unless ``endpoint`` replaces the host."""
        key = secrets.get("api_key") or ""
        if key and not settings.get("endpoint") and not self._dc(key):
            return [], reject_all(events, "mailchimp api_key has no data-centre suffix (…-us6)")
        return super().build_requests(events, settings, secrets, now)

    @staticmethod
    def _dc(key: str) -> str | None:
        if key.startswith("<") and key.endswith(">"):  # a dry run's unread secret
            return DC_PLACEHOLDER
        return data_centre(key)

    def root(self, settings: Settings, secrets: Secrets) -> str:
        """``https://{dc}.api.mailchimp.com/3.0/lists/{list_id}``."""
        dc = self._dc(secrets["api_key"]) or DC_PLACEHOLDER
        api = base_url(settings, f"https://{dc}.api.mailchimp.com/{API_VERSION}")
        return f"{api}/lists/{quote(str(settings['list_id']), safe='')}"

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        """The member upsert (a conversion's first step)."""
        status = settings.get("status_if_new") or "pending"
        return {"email_address": email_of(event), "status_if_new": status}

    def requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> list[HttpRequest]:
        root = self.root(settings, secrets)
        headers = {**JSON_HEADERS, "Authorization": basic_auth(secrets["api_key"])}
        pace = self.pace(settings, secrets)

        def step(method: str, url: str, body: Any, ids: tuple[str, ...], then: Any = None):
            return HttpRequest(method, url, headers, body, ids, then=then, pace=pace)

        chains = []
        for event in events:
            ids = (event.event_id,)
            if event.is_page_view:
                query = urlencode(
                    {"unique_email_id": self.subscriber(event), "fields": "members.id,total_items"}
                )

                def clicked(answer: Any, event: PlatformEvent = event, ids=ids) -> HttpRequest:
                    found = member_id(answer)
                    member_path = found if found == MEMBER_PLACEHOLDER else quote(found, safe="")
                    member = f"{root}/members/{member_path}"
                    return step("POST", f"{member}/events", event_body(event), ids)

                chains.append(step("GET", f"{root}/members?{query}", None, ids, clicked))
                continue
            member = f"{root}/members/{subscriber_hash(email_of(event) or '')}"
            last: HttpRequest | None = None
            if tag := tag_for(settings, event.kind):
                tags = {"tags": [{"name": tag, "status": "active"}]}
                last = step("POST", f"{member}/tags", tags, ids)
            record = step("POST", f"{member}/events", event_body(event), ids, _then(last))
            chains.append(
                step("PUT", member, self.payload(event, settings, now), ids, _then(record))
            )
        return chains

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """2xx ok, but a member search that found nobody is permanent; 429, 5xx and a 403
        without a JSON body (Mailchimp's throttle at high volume) retry; 401, 403, 400 and 404
        permanent with the problem's title and detail."""
        found = parse_json(body)
        if 200 <= status < 300:
            if isinstance(found, dict) and found.get("members") == []:
                return Outcome(PERMANENT, NO_MEMBER)
            return classify_status(status)  # the body is the member, address included
        if status == 403 and found is None:
            return Outcome(RETRY, "HTTP 403 without a JSON body (Mailchimp's throttle)")
        return classify_status(status, problem(body))


def _then(step: HttpRequest | None) -> Any:
    """A ``then`` that goes on to ``step`` whatever the answer (the hash is known up front)."""
    if step is None:
        return None
    return lambda _answer: step


PLATFORM = Mailchimp()
