"""A made-up platform, written as a new one would be: the whole module a platform needs.

Example Ads takes ``POST {endpoint}/v1/accounts/{account_id}/events`` with a bearer token, up to
two events a request, a day old at most, each with an e-mail hash or its click id ``exclid``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from chalicelib.platforms.event import PlatformEvent
from chalicelib.platforms.payload import compact, epoch_seconds, money, sent_time
from chalicelib.platforms.platform import Item, Platform, Secrets, Settings, Target, base_url


class Example(Platform):
    NAME = "example"
    MAX_BATCH = 2
    MAX_AGE = timedelta(days=1)
    SECRET_FIELDS = ("api_key",)
    REQUIRED_SETTINGS = ("account_id",)

    def lacks(self, event: PlatformEvent) -> str | None:
        if not (event.user.get("em") or event.click_ids.get("exclid")):
            return "needs a hashed e-mail or exclid"
        return None

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        account = quote(str(settings["account_id"]), safe="")
        url = f"{base_url(settings, 'https://ads.example')}/v1/accounts/{account}/events"
        return Target(url, bearer=secrets["api_key"])

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        return compact(
            {
                "id": event.event_id,
                "name": event.kind,
                "time": epoch_seconds(sent_time(event, now)),
                "email": event.user.get("em"),
                "exclid": event.click_ids.get("exclid"),
                **money(event),
            }
        )


PLATFORM = Example()
