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

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from chalicelib.platforms import adapter
from chalicelib.platforms.event import LEAD, PAGE_VIEW, PURCHASE, PlatformEvent, Rejected
from chalicelib.platforms.http import OK, PERMANENT, RETRY, HttpRequest, Outcome

NAME = "google"
MAX_BATCH = 2000  # Data Manager
MAX_AGE = timedelta(days=90)  # Data Manager: the longest conversion window
CLICK_MAX_AGE = timedelta(days=90)
GA4_MAX_BATCH = 25
GA4_MAX_AGE = timedelta(hours=72)
ADS_URL = "https://datamanager.googleapis.com"
GA4_URL = "https://www.google-analytics.com"
SECRET_FIELDS = ("ga4_api_secret", "oauth_token")

GA4_EVENT_NAMES = {PAGE_VIEW: "page_view", LEAD: "generate_lead", PURCHASE: "purchase"}
# Only one ad identifier is used, in this order of preference.
AD_ID_NAMES = ("gclid", "gbraid", "wbraid")

# google.rpc status names worth retrying.
RETRY_STATUSES = frozenset(
    {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED"}
)


def _ga4_consent(flag: bool) -> str:
    return "GRANTED" if flag else "DENIED"


def _ads_consent(flag: bool) -> str:
    return "CONSENT_GRANTED" if flag else "CONSENT_DENIED"


# ------------------------------------------------------------------------------------- GA4


def ga4_problem(event: PlatformEvent, now: datetime) -> str | None:
    late = adapter.age_problem(event.event_time, now, GA4_MAX_AGE)
    if late:
        return late
    if not event.visitor_id:
        return "GA4 needs a client_id (the visitor id)"
    return None


def to_ga4_event(event: PlatformEvent, now: datetime) -> dict[str, Any]:
    params = adapter.compact({"page_location": event.source_url})
    return {
        "name": GA4_EVENT_NAMES.get(event.kind, event.kind),
        "timestamp_micros": adapter.epoch_us(adapter.sent_time(event, now)),
        "params": params,
    }


def ga4_requests(
    events: Sequence[PlatformEvent],
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    now: datetime,
) -> list[HttpRequest]:
    """One request per (client_id, consent), at most 25 events each."""
    groups: dict[tuple[str, bool, bool], list[PlatformEvent]] = {}
    for event in events:
        key = (str(event.visitor_id), event.ad_user_data, event.ad_personalization)
        groups.setdefault(key, []).append(event)
    path = "/debug/mp/collect" if settings.get("validate_only") else "/mp/collect"
    query = urlencode(
        {
            "measurement_id": settings["ga4_measurement_id"],
            "api_secret": secrets["ga4_api_secret"],
        }
    )
    url = f"{adapter.base_url(settings, GA4_URL)}{path}?{query}"
    requests = []
    for (client_id, user_data, personalization), group in groups.items():
        for batch in adapter.batches(group, GA4_MAX_BATCH):
            items = [to_ga4_event(e, now) for e in batch]
            body = {
                "client_id": client_id,
                "timestamp_micros": items[0]["timestamp_micros"],
                "consent": {
                    "ad_user_data": _ga4_consent(user_data),
                    "ad_personalization": _ga4_consent(personalization),
                },
                "events": items,
            }
            requests.append(
                HttpRequest(
                    "POST",
                    url,
                    dict(adapter.JSON_HEADERS),
                    body,
                    tuple(e.event_id for e in batch),
                )
            )
    return requests


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


def ads_problem(event: PlatformEvent, now: datetime) -> str | None:
    late = adapter.age_problem(event.event_time, now, MAX_AGE)
    if late:
        return late
    ad_id = ad_identifier(event)
    if ad_id and event.click_time is not None:
        too_old = adapter.age_problem(event.click_time, now, CLICK_MAX_AGE, what="click")
        if too_old:
            return f"{too_old} (outside the conversion window)"
    if not ad_id and not user_identifiers(event):
        return "needs gclid, gbraid, wbraid, or a hashed e-mail or phone"
    return None


def to_ads_event(event: PlatformEvent, now: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "eventTimestamp": adapter.rfc3339(adapter.sent_time(event, now)),
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


def ads_requests(
    events: Sequence[PlatformEvent],
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    now: datetime,
) -> list[HttpRequest]:
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
    headers = {**adapter.JSON_HEADERS, "Authorization": f"Bearer {secrets['oauth_token']}"}
    url = adapter.base_url(settings, ADS_URL) + "/v1/events:ingest"
    requests = []
    for batch in adapter.batches(events, MAX_BATCH):
        body: dict[str, Any] = {
            "destinations": [destination],
            "encoding": "HEX",
            "events": [to_ads_event(e, now) for e in batch],
        }
        if settings.get("validate_only"):
            body["validateOnly"] = True
        requests.append(
            HttpRequest("POST", url, dict(headers), body, tuple(e.event_id for e in batch))
        )
    return requests


# --------------------------------------------------------------------------------- adapter


def build_requests(
    events: Sequence[PlatformEvent],
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    now: datetime,
) -> tuple[list[HttpRequest], list[Rejected]]:
    """Clicks go to GA4, conversions to Google Ads; each only where it is configured."""
    clicks = [e for e in events if e.is_page_view]
    conversions = [e for e in events if not e.is_page_view]
    requests: list[HttpRequest] = []
    rejected: list[Rejected] = []

    if clicks:
        if not settings.get("ga4_measurement_id"):
            rejected += adapter.reject_all(clicks, "GA4 is not configured", not_applicable=True)
        elif missing := adapter.missing_config(NAME, settings, secrets, (), ("ga4_api_secret",)):
            rejected += adapter.reject_all(clicks, missing)
        else:
            good = _check(clicks, ga4_problem, now, rejected)
            requests += ga4_requests(good, settings, secrets, now)

    if conversions:
        ads = ("ads_account_id", "ads_conversion_action")
        if not any(settings.get(f) for f in ads):
            rejected += adapter.reject_all(
                conversions, "Google Ads is not configured", not_applicable=True
            )
        elif missing := adapter.missing_config(NAME, settings, secrets, ads, ("oauth_token",)):
            rejected += adapter.reject_all(conversions, missing)
        else:
            good = _check(conversions, ads_problem, now, rejected)
            requests += ads_requests(good, settings, secrets, now)
    return requests, rejected


def _check(
    events: Sequence[PlatformEvent],
    problem: Callable[[PlatformEvent, datetime], str | None],
    now: datetime,
    rejected: list[Rejected],
) -> list[PlatformEvent]:
    """The events without a problem; the others are added to ``rejected``."""
    good = []
    for event in events:
        reason = problem(event, now)
        if reason:
            rejected.append(Rejected(event.event_id, reason))
        else:
            good.append(event)
    return good


def classify(status: int, body: bytes | str) -> Outcome:
    """Both APIs: google.rpc errors for Data Manager; GA4 debug's ``validationMessages``.

    GA4's ``/mp/collect`` answers 2xx even to an invalid payload (only the debug endpoint says
    why), so a 2xx there is all there is to know.
    """
    payload = adapter.parse_json(body)
    if isinstance(payload, dict) and payload.get("validationMessages"):
        first = payload["validationMessages"][0]
        detail = first.get("description") if isinstance(first, dict) else first
        return Outcome(PERMANENT, f"GA4 validation: {adapter.clip(detail)}")
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and not 200 <= status < 300:
        detail = adapter.error_text(payload)
        if error.get("status") in RETRY_STATUSES:
            return Outcome(RETRY, f"HTTP {status}: {adapter.clip(detail)}")
        return adapter.classify_status(status, detail)
    if 200 <= status < 300:
        return Outcome(OK, f"HTTP {status}")
    return adapter.classify_status(status, adapter.error_text(payload))
