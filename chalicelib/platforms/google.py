"""Google: clicks to GA4 (Measurement Protocol), conversions to Google Ads (Data Manager API).

- Clicks (``page_view``): ``POST www.google-analytics.com/mp/collect?measurement_id=&api_secret=``,
  ``timestamp_micros``, backdated at most 72 h, up to 25 events a request, and all events of a
  request share ``client_id`` and consent, so requests are grouped by visitor.
- Conversions: ``POST datamanager.googleapis.com/v1/events:ingest`` with an OAuth bearer token,
  ``eventTimestamp`` in RFC 3339, up to 2,000 events, no partial failure (one bad event fails the
  request: everything is checked here first). E-mail uses Google's gmail rule, phones E.164.

``settings["validate_only"]`` sends to GA4's ``/debug/mp/collect`` and sets Data Manager's
``validateOnly``: nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from chalicelib.platforms.answers import classify_status, clip, error_text, parse_json
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.http import OK, PERMANENT, RETRY, HttpRequest, Outcome
from chalicelib.platforms.payload import compact, epoch_us, rfc3339, sent_time, tier_of
from chalicelib.platforms.platform import (
    Item,
    Platform,
    Secrets,
    Settings,
    Target,
    age_problem,
    base_url,
    reject_all,
)

CLICK_MAX_AGE = timedelta(days=90)
ADS_URL = "https://datamanager.googleapis.com"
GA4_URL = "https://www.google-analytics.com"

GA4_EVENT_NAMES = {PAGE_VIEW: "page_view", LEAD: "generate_lead", PURCHASE: "purchase"}
# Only one ad identifier is used, in this order of preference.
AD_ID_NAMES = ("gclid", "gbraid", "wbraid")
# Any of these set: Google Ads is meant to get the conversions.
ADS_SETTINGS = ("ads_account_id", "ads_conversion_action")

# google.rpc status names worth retrying.
RETRY_STATUSES = frozenset(
    {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED"}
)


def _ga4_consent(flag: bool) -> str:
    return "GRANTED" if flag else "DENIED"


def _ads_consent(flag: bool) -> str:
    return "CONSENT_GRANTED" if flag else "CONSENT_DENIED"


# ------------------------------------------------------------------------------------- GA4


class GA4(Platform):
    """Clicks to the Measurement Protocol: one request per (client_id, consent), 25 at most."""

    NAME = "google"
    MAX_BATCH = 25
    MAX_AGE = timedelta(hours=72)
    SECRET_FIELDS = ("ga4_api_secret",)

    def lacks(self, event: PlatformEvent) -> str | None:
        if not event.visitor_id:
            return "GA4 needs a client_id (the visitor id)"
        return None

    def groups(self, events: Sequence[PlatformEvent]) -> list[list[PlatformEvent]]:
        """All events of a request share ``client_id`` and consent."""
        groups: dict[tuple[str, bool, bool], list[PlatformEvent]] = {}
        for event in events:
            key = (str(event.visitor_id), event.ad_user_data, event.ad_personalization)
            groups.setdefault(key, []).append(event)
        return list(groups.values())

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        path = "/debug/mp/collect" if settings.get("validate_only") else "/mp/collect"
        query = urlencode(
            {
                "measurement_id": settings["ga4_measurement_id"],
                "api_secret": secrets["ga4_api_secret"],
            }
        )
        return Target(f"{base_url(settings, GA4_URL)}{path}?{query}")

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        return {
            "name": GA4_EVENT_NAMES.get(event.kind, event.kind),
            "timestamp_micros": epoch_us(sent_time(event, now)),
            "params": compact({"page_location": event.source_url, **tier_of(event)}),
        }

    def body(self, items: list[Item], batch: Sequence[PlatformEvent], settings: Settings) -> Item:
        first = batch[0]
        return {
            "client_id": str(first.visitor_id),
            "timestamp_micros": items[0]["timestamp_micros"],
            "consent": {
                "ad_user_data": _ga4_consent(first.ad_user_data),
                "ad_personalization": _ga4_consent(first.ad_personalization),
            },
            "events": items,
        }


# ------------------------------------------------------------------------------ Data Manager


def ad_identifier(event: PlatformEvent) -> tuple[str, str] | None:
    for name in AD_ID_NAMES:
        if event.click_ids.get(name):
            return name, event.click_ids[name]
    return None


def user_identifiers(event: PlatformEvent) -> list[dict[str, str]]:
    ids = []
    if event.user.get("em_google"):
        ids.append({"emailAddress": event.user["em_google"]})
    if event.user.get("ph_e164"):
        ids.append({"phoneNumber": event.user["ph_e164"]})
    return ids


class Ads(Platform):
    """Conversions to Google Ads through the Data Manager API."""

    NAME = "google"
    MAX_BATCH = 2000
    MAX_AGE = timedelta(days=90)  # the longest conversion window
    SECRET_FIELDS = ("oauth_token",)
    REQUIRED_SETTINGS = ADS_SETTINGS

    def problem(self, event: PlatformEvent, now: datetime) -> str | None:
        """Also refused: a conversion whose ad click is outside the conversion window."""
        late = super().problem(event, now)
        if late or not ad_identifier(event) or event.click_time is None:
            return late
        too_old = age_problem(event.click_time, now, CLICK_MAX_AGE, what="click")
        return f"{too_old} (outside the conversion window)" if too_old else None

    def lacks(self, event: PlatformEvent) -> str | None:
        if not ad_identifier(event) and not user_identifiers(event):
            return "needs gclid, gbraid, wbraid, or a hashed e-mail or phone"
        return None

    def target(self, settings: Settings, secrets: Secrets) -> Target:
        url = base_url(settings, ADS_URL) + "/v1/events:ingest"
        return Target(url, bearer=secrets["oauth_token"])

    def payload(self, event: PlatformEvent, settings: Settings, now: datetime) -> Item:
        item: dict[str, Any] = {
            "eventTimestamp": rfc3339(sent_time(event, now)),
            "transactionId": event.event_id,
            "eventSource": "WEB",
        }
        ad_id = ad_identifier(event)
        identifiers: dict[str, Any] = {}
        if ad_id:
            identifiers[ad_id[0]] = ad_id[1]
        if event.user_agent:
            # The user agent is the original click's (the click index keeps it).
            identifiers["landingPageDeviceInfo"] = {"userAgent": event.user_agent}
        if identifiers:
            item["adIdentifiers"] = identifiers
        if event.ip:
            # The IP comes with the conversion (the merchant's), not with the click.
            item["eventDeviceInfo"] = {"ipAddress": event.ip}
        ids = user_identifiers(event)
        if ids:
            item["userData"] = {"userIdentifiers": ids}
        if event.value is not None:
            item["conversionValue"] = event.value
        if event.currency:
            item["currency"] = event.currency
        item["consent"] = {
            "adUserData": _ads_consent(event.ad_user_data),
            "adPersonalization": _ads_consent(event.ad_personalization),
        }
        return item

    def body(self, items: list[Item], batch: Sequence[PlatformEvent], settings: Settings) -> Item:
        account = str(settings["ads_account_id"]).replace("-", "")
        destination: dict[str, Any] = {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": account},
            "productDestinationId": str(settings["ads_conversion_action"]),
        }
        if settings.get("ads_login_account_id"):
            destination["loginAccount"] = {
                "accountType": "GOOGLE_ADS",
                "accountId": str(settings["ads_login_account_id"]).replace("-", ""),
            }
        body: dict[str, Any] = {"destinations": [destination], "encoding": "HEX", "events": items}
        if settings.get("validate_only"):
            body["validateOnly"] = True
        return body


# -------------------------------------------------------------------------------- platform


class Google(Platform):
    """Clicks go to GA4, conversions to Google Ads; each only where it is configured."""

    NAME = "google"
    MAX_BATCH = Ads.MAX_BATCH
    MAX_AGE = Ads.MAX_AGE
    SECRET_FIELDS = GA4.SECRET_FIELDS + Ads.SECRET_FIELDS

    def __init__(self) -> None:
        self.ga4, self.ads = GA4(), Ads()

    def build_requests(
        self,
        events: Sequence[PlatformEvent],
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
        now: datetime,
    ) -> tuple[list[HttpRequest], list[Rejected]]:
        clicks = [e for e in events if e.is_page_view]
        conversions = [e for e in events if not e.is_page_view]
        requests: list[HttpRequest] = []
        rejected: list[Rejected] = []
        if clicks:
            if not settings.get("ga4_measurement_id"):
                rejected += reject_all(clicks, "GA4 is not configured", not_applicable=True)
            else:
                sent, refused = self.ga4.build_requests(clicks, settings, secrets, now)
                requests += sent
                rejected += refused
        if conversions:
            if not any(settings.get(f) for f in ADS_SETTINGS):
                rejected += reject_all(
                    conversions, "Google Ads is not configured", not_applicable=True
                )
            else:
                sent, refused = self.ads.build_requests(conversions, settings, secrets, now)
                requests += sent
                rejected += refused
        return requests, rejected

    def classify(self, status: int, body: bytes | str) -> Outcome:
        """Both APIs: google.rpc errors for Data Manager; GA4 debug's ``validationMessages``.

        GA4's ``/mp/collect`` answers 2xx even to an invalid payload (only the debug endpoint says
        why), so a 2xx there is all there is to know.
        """
        payload = parse_json(body)
        if isinstance(payload, dict) and payload.get("validationMessages"):
            first = payload["validationMessages"][0]
            detail = first.get("description") if isinstance(first, dict) else first
            return Outcome(PERMANENT, f"GA4 validation: {clip(detail)}")
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict) and not 200 <= status < 300:
            detail = error_text(payload)
            if error.get("status") in RETRY_STATUSES:
                return Outcome(RETRY, f"HTTP {status}: {clip(detail)}")
            return classify_status(status, detail)
        if 200 <= status < 300:
            return Outcome(OK, f"HTTP {status}")
        return classify_status(status, error_text(payload))


PLATFORM = Google()
