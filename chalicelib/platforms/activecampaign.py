"""ActiveCampaign (API v3): each conversion is a chain of two requests, the contact then a tag.

An automation starts on "Tag is added", so the config names the tag id for each kind of
conversion (``tags: {lead: 7, purchase: 8}``); a kind without a tag is not ActiveCampaign's.

1. ``POST https://{account}.api-us1.com/api/3/contact/sync`` ``{contact: {email, fieldValues}}``:
   an upsert by email; the answer's ``contact.id`` names the contact. ``fieldValues`` carry the
   click's context into the custom fields the config maps (``fields: {campaign: 12}``: the
   field id for each of Rebound's properties), as text.
2. ``POST /api/3/contactTags`` ``{contactTag: {contact, tag}}``: adds the tag. Adding a tag the
   contact already has is safe to repeat; an answer that calls it a duplicate is taken as done.

Auth: ``Api-Token: <key>``. 5 requests per second per account, whatever the key (the pace is
kept per account name). A 429 carries ``Retry-After``; a bad key is a 403. Errors are
``{"errors": [{"title", "detail", "code", "source"}]}`` or ``{"message"}``. Clicks are not sent:
ActiveCampaign's links carry no subscriber id Rebound could name a contact by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.clicks.text import mask_emails
from chalicelib.platforms import email_tool
from chalicelib.platforms.answers import classify_status, clip, parse_json
from chalicelib.platforms.email_tool import EmailTool, account_of, as_text, email_of, properties
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.http import OK, HttpRequest, Outcome
from chalicelib.platforms.pace import Pace, pace_for
from chalicelib.platforms.platform import JSON_HEADERS, Item, Secrets, Settings, base_url

# What a dry run shows where the contact id from the first step's answer goes.
CONTACT_PLACEHOLDER = "<contact id from contact/sync>"
# Words by which an error answer says the tag is on the contact already (undocumented: seen as
# a 422 by integrators; a 200/201 with the existing contactTag is the documented-looking case).
_DUPLICATE_WORDS = ("duplicate", "already")


def base(settings: Settings) -> str:
    return base_url(settings, f"https://{settings['account']}.api-us1.com")


def tag_for(settings: Settings, kind: str) -> Any:
    """The tag id configured for ``kind`` (lead, purchase, a custom name), or None."""
    tags: Mapping[str, Any] = settings.get("tags") or {}
    return tags.get(kind)


def field_values(event: PlatformEvent, settings: Settings) -> list[dict[str, str]]:
    """The custom fields the config maps (``fields: {campaign: 12}``), set to the event's
    properties as text; a property the event lacks is left as it is."""
    mapped: Mapping[str, Any] = settings.get("fields") or {}
    values = as_text(properties(event))
    return [
        {"field": str(field_id), "value": values[name]}
        for name, field_id in sorted(mapped.items())
        if name in values
    ]


def contact_id(answer: Any) -> str:
    """``contact.id`` out of contact/sync's answer (None in a dry run: the placeholder)."""
    if answer is None:
        return CONTACT_PLACEHOLDER
    found = (answer.get("contact") or {}).get("id") if isinstance(answer, dict) else None
    if found in (None, ""):
        raise ValueError("contact/sync answered without contact.id")
    return str(found)


def error_detail(body: bytes | str) -> str:
    """``title: detail (code)`` of each of ActiveCampaign's errors, or its ``message`` (any other
    shape as every email tool reads it), every address in it masked."""
    payload = parse_json(body)
    parts = []
    errors = payload.get("errors") if isinstance(payload, dict) else None
    for err in errors if isinstance(errors, list) else []:
        if isinstance(err, dict):
            said = " ".join(str(err[k]) for k in ("title", "detail", "message") if err.get(k))
            parts.append(f"{said} ({err['code']})" if err.get("code") else said)
    if isinstance(payload, dict) and not any(parts) and payload.get("message"):
        parts = [str(payload["message"])]
    if not any(parts):
        return email_tool.error_detail(body)
    return mask_emails(clip("; ".join(p for p in parts if p)))


class ActiveCampaign(EmailTool):
    NAME = "activecampaign"
    SECRET_FIELDS = ("api_key",)
    REQUIRED_SETTINGS = ("account", "tags")
    KIND_SETTING = "tags"
    # 5 per second per account: one token every 0.25 s, no burst, lets at most 5 through in any
    # second (both ends counted); two per conversion (the contact, then the tag).
    PACE = (1, 0.25, None)

    def pace(self, settings: Settings, secrets: Secrets) -> Pace | None:
        """5 requests/s per *account*: every key of the account shares it."""
        rate, per, connections = self.PACE or (1, 0.25, None)
        return pace_for(self.NAME, account_of(str(settings["account"])), rate, per, connections)

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        """contact/sync's body (the first step)."""
        contact: dict[str, Any] = {"email": email_of(event)}
        if values := field_values(event, settings):
            contact["fieldValues"] = values
        return {"contact": contact}

    def requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> list[HttpRequest]:
        root = f"{base(settings)}/api/3"
        headers = {**JSON_HEADERS, "Api-Token": secrets["api_key"]}
        pace = self.pace(settings, secrets)
        chains = []
        for event in events:
            ids = (event.event_id,)
            tag = tag_for(settings, event.kind)

            def tag_step(answer: Any, ids: tuple[str, ...] = ids, tag: Any = tag) -> HttpRequest:
                contact = contact_id(answer)
                body = {"contactTag": {"contact": _number(contact), "tag": _number(tag)}}
                return HttpRequest("POST", f"{root}/contactTags", headers, body, ids, pace=pace)

            chains.append(
                HttpRequest(
                    "POST",
                    f"{root}/contact/sync",
                    headers,
                    self.payload(event, settings, now),
                    ids,
                    then=tag_step,
                    pace=pace,
                )
            )
        return chains

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """2xx ok; a 422 that says the tag is there already: ok (the step is done); 429 and 5xx
        retry; 403 (a bad key), 400, 404 (no such tag) and other 422s permanent."""
        if 200 <= status < 300:
            return classify_status(status)  # the body is the contact, address included
        detail = error_detail(body)
        if status == 422 and any(w in detail.lower() for w in _DUPLICATE_WORDS):
            return Outcome(OK, f"HTTP 422, taken as done: {detail}")
        return classify_status(status, detail)


def _number(value: Any) -> Any:
    """A numeric id as a number (the documented request shape), anything else as it is."""
    text = str(value)
    return int(text) if text.isdigit() else value


PLATFORM = ActiveCampaign()
