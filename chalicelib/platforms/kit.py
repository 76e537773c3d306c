"""Kit (API v4): each conversion is a chain of two requests, the subscriber then a tag.

Kit has no custom events: a tag is what a sequence or visual automation starts on, so the config
names the tag id for each kind of conversion (``tags: {lead: 4100001, purchase: 4100002}``); a
kind without a tag is not Kit's.

1. ``POST https://api.kit.com/v4/subscribers`` ``{email_address, fields}``: an upsert (201 new,
   200 existing). ``fields`` are the click's context as custom fields ``rebound_link``,
   ``rebound_campaign``...: Kit ignores a field the account has not created, and keeps the last
   value (the latest conversion's).
2. ``POST /v4/tags/{tag_id}/subscribers`` ``{email_address}``: tags the subscriber by email
   (201, or 200 when it already has the tag: safe to repeat).

Auth: ``X-Kit-Api-Key``. 120 requests per 60 s per API key; a 429's body is the plain text
``Retry later``, with no ``Retry-After``. Errors are ``{"errors": [text]}``. Clicks are not sent:
Kit's links carry no subscriber id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from chalicelib.platforms.email_tool import EmailTool, as_text, email_of, properties, then_send
from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.http import HttpRequest
from chalicelib.platforms.platform import JSON_HEADERS, Item, Secrets, Settings, base_url

BASE_URL = "https://api.kit.com"
# The properties kept on the subscriber as custom fields, each as rebound_<name>.
FIELDS = (
    "link",
    "campaign",
    "destination",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "click_time",
    "ad_consent",
)


def tag_for(settings: Settings, kind: str) -> Any:
    """The Kit tag id configured for ``kind`` (lead, purchase, a custom name), or None."""
    tags: Mapping[str, Any] = settings.get("tags") or {}
    return tags.get(kind)


class Kit(EmailTool):
    NAME = "kit"
    SECRET_FIELDS = ("api_key",)
    REQUIRED_SETTINGS = ("tags",)
    KIND_SETTING = "tags"
    # 120 per 60 s per key: a bucket of 10 refilled at 10 per 6 s lets at most 10 + 100 = 110
    # through in any 60 seconds (two per conversion: the subscriber, then the tag).
    PACE = (10, 6.0, None)

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        """The subscriber upsert (the chain's first step)."""
        context = properties(event)
        fields = as_text({f"rebound_{k}": context[k] for k in FIELDS if k in context})
        return {"email_address": email_of(event), "fields": fields}

    def requests(
        self, events: Sequence[PlatformEvent], settings: Settings, secrets: Secrets, now: datetime
    ) -> list[HttpRequest]:
        base = base_url(settings, BASE_URL)
        headers = {**JSON_HEADERS, "X-Kit-Api-Key": secrets["api_key"]}
        pace = self.pace(settings, secrets)
        chains = []
        for event in events:
            ids = (event.event_id,)
            tag = quote(str(tag_for(settings, event.kind)), safe="")
            second = HttpRequest(
                "POST",
                f"{base}/v4/tags/{tag}/subscribers",
                headers,
                {"email_address": email_of(event)},
                ids,
                pace=pace,
            )
            chains.append(
                HttpRequest(
                    "POST",
                    f"{base}/v4/subscribers",
                    headers,
                    self.payload(event, settings, now),
                    ids,
                    then=then_send(second),
                    pace=pace,
                )
            )
        return chains


PLATFORM = Kit()
