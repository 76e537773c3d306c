"""The dry-run record: every platform's request as it would go, minus what must not be kept
(credentials, the visitor's IP in any form, the user agent)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pytest

from chalicelib.dispatch.sinks import (
    IP_REDACTED,
    UA_REDACTED,
    DryRunRecorder,
    redact_device,
)
from chalicelib.platforms.hashing import hash_user
from chalicelib.platforms.registry import AD_PLATFORMS as NAMES
from chalicelib.platforms.registry import platform
from tests.platforms.conftest import NOW, make_event, page_view

IP = "203.0.113.7"
IP6 = "2001:db8::7"
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"

SETTINGS = {
    "meta": {"pixel_id": "1234567890", "access_token": "ssm:/m"},
    "tiktok": {"pixel_code": "C0DE123", "access_token": "ssm:/t"},
    "linkedin": {"conversion_rule": "urn:lla:llaPartnerConversion:1", "access_token": "ssm:/l"},
    "google": {
        "ga4_measurement_id": "G-ABC123",
        "ga4_api_secret": "ssm:/g",
        "ads_account_id": "123-456-7890",
        "ads_conversion_action": "987654",
        "oauth_token": "ssm:/o",
    },
    "pinterest": {"ad_account_id": "549755885175", "access_token": "ssm:/p"},
    "snapchat": {"pixel_id": "a1b2-c3d4", "access_token": "ssm:/s"},
    "reddit": {"pixel_id": "a2_abc123", "access_token": "ssm:/r"},
    "x": {"pixel_id": "o8z6j", "events": {"click": "o87ne", "purchase": "o87ng"}},
}
CLICK_IDS = {
    "fbclid": "IwAR2xYz",
    "ttclid": "E.C.P.tt",
    "gclid": "Cj0KCQ",
    "li_fat_id": "li-123",
    "epik": "dj0yJnU9",
    "ScCid": "sc-123",
    "rdt_cid": "rdt-123",
    "twclid": "tw-123",
}


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: object) -> None:
        self.objects[Key] = Body


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_every_platform_is_covered():
    assert set(SETTINGS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ip", [IP, IP6])
def test_a_dry_run_record_keeps_no_ip_in_any_form_nor_the_user_agent(name, ip):
    user = hash_user({"email": "Jane@Example.com", "phone": "+1 415 555 0100"}, "US")
    events = [
        make_event(ip=ip, user_agent=UA, click_ids=CLICK_IDS, user=user, visitor_id="v-1"),
        page_view(ip=ip, user_agent=UA, click_ids=CLICK_IDS, visitor_id="v-2"),
    ]
    shaper = platform(name)
    secrets = {f: f"{name}-secret" for f in shaper.SECRET_FIELDS}
    requests, _ = shaper.build_requests(events, SETTINGS[name], secrets, NOW)
    assert requests, f"{name} built nothing to record"
    sent = b"".join(r.data() for r in requests).decode()
    if name != "linkedin":  # the Conversions API takes no device data
        assert ip in sent or sha(ip) in sent  # the platform does send the IP

    s3 = FakeS3()
    recorder = DryRunRecorder(s3, "lake")
    for r in requests:
        recorder.record(name, r, datetime(2026, 11, 23, 12, tzinfo=NOW.tzinfo))
    text = b"".join(s3.objects.values()).decode()
    for secret in secrets.values():
        assert secret not in text
    for kept in (ip, ip.upper(), sha(ip), sha(ip.upper()), UA, "Jane@Example.com"):
        assert kept not in text
    docs = [json.loads(body) for body in s3.objects.values()]
    # Still the request a marketer wants to check: which events, with which click ids.
    assert {i for d in docs for i in d["event_ids"]} <= {e.event_id for e in events}
    assert any(v in text for v in CLICK_IDS.values()) or name == "google"


def test_redaction_masks_device_fields_by_name_and_addresses_by_shape():
    body = {
        "user_data": {"client_ip_address": IP, "client_user_agent": UA, "em": [sha("x")]},
        "user": {"ip_address": sha(IP), "user_agent": UA, "zip": "94107"},
        "eventDeviceInfo": {"ipAddress": IP},
        "landingPageDeviceInfo": {"userAgent": UA},
        "note": "jane@example.com",
        "other": [IP6, "2026-11-23T12:00:00Z", 49.5, None],
    }
    assert redact_device(body) == {
        "user_data": {
            "client_ip_address": IP_REDACTED,
            "client_user_agent": UA_REDACTED,
            "em": [sha("x")],
        },
        "user": {"ip_address": IP_REDACTED, "user_agent": UA_REDACTED, "zip": "94107"},
        "eventDeviceInfo": {"ipAddress": IP_REDACTED},
        "landingPageDeviceInfo": {"userAgent": UA_REDACTED},
        "note": "j***@example.com",
        "other": [IP_REDACTED, "2026-11-23T12:00:00Z", 49.5, None],
    }


def test_each_step_of_a_chain_recorded_at_one_instant_is_its_own_record_in_order():
    from chalicelib.platforms.http import HttpRequest

    first = HttpRequest("PUT", "https://t.example/members/1", {}, {"email": "a@b.example"}, ("e",))
    second = HttpRequest("POST", "https://t.example/members/1/events", {}, {"n": 1}, ("e",))
    s3 = FakeS3()
    recorder = DryRunRecorder(s3, "lake")
    at = datetime(2026, 11, 23, 12, tzinfo=NOW.tzinfo)
    keys = [recorder.record("tool", step, at, index) for index, step in enumerate([first, second])]
    assert len(set(keys)) == 2 and sorted(keys) == keys
    assert keys[0] == recorder.record("tool", first, at)  # a lone request keeps its usual key
    assert [json.loads(s3.objects[k])["method"] for k in keys] == ["PUT", "POST"]
