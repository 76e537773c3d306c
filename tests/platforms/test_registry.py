"""What holds for every registered platform: the shape, the window, batching, secrets."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import get_args

import pytest

from chalicelib.config.model import Platforms
from chalicelib.config.values import PLATFORM_NAMES
from chalicelib.platforms import registry
from chalicelib.platforms.platform import base_url

from .conftest import NOW, make_event

SECRET = "S3CRET-VALUE-never-shown"

SETTINGS = {
    "meta": {"pixel_id": "1234"},
    "tiktok": {"pixel_code": "C0DE"},
    "linkedin": {"conversion_rule": "urn:lla:llaPartnerConversion:1"},
    "google": {"ads_account_id": "1234567890", "ads_conversion_action": "987"},
    "pinterest": {"ad_account_id": "5497"},
    "snapchat": {"pixel_id": "snap-px"},
    "reddit": {"pixel_id": "a2_px"},
    "x": {"pixel_id": "o8z6j", "events": {"click": "o87ne", "purchase": "o87ng"}},
}

CLICK_IDS = {
    "fbclid": "IwAR-Case_Sensitive.1",
    "gclid": "Cj0KCQ-Case_Sensitive",
    "ttclid": "E.C.P.Case_Sensitive",
    "li_fat_id": "Li-Fat-Case_Sensitive",
    "epik": "dj0yJnU9-Case_Sensitive",
    "ScCid": "Sc-Case_Sensitive",
    "rdt_cid": "Rdt-Case_Sensitive",
    "twclid": "Tw-Case_Sensitive",
}
# Where each platform puts its own click id.
OWN_CLICK_ID = {
    "meta": "fbclid",
    "tiktok": "ttclid",
    "linkedin": "li_fat_id",
    "google": "gclid",
    "pinterest": "epik",
    "snapchat": "ScCid",
    "reddit": "rdt_cid",
    "x": "twclid",
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event(**kw):
    values = {
        "click_ids": CLICK_IDS,
        "user": {"em": sha("a@b.co"), "em_google": sha("a@b.co"), "ph_e164": sha("+1")},
    }
    values.update(kw)
    return make_event(**values)


def secrets_for(module) -> dict[str, str]:
    return dict.fromkeys(module.SECRET_FIELDS, SECRET)


@pytest.fixture(params=registry.AD_PLATFORMS)
def registered(request):
    return registry.platform(request.param)


def test_every_platform_has_the_same_small_shape(registered):
    assert registered.NAME in registry.NAMES
    assert isinstance(registered.MAX_BATCH, int) and registered.MAX_BATCH > 0
    assert isinstance(registered.MAX_AGE, timedelta)
    assert isinstance(registered.SECRET_FIELDS, tuple) and registered.SECRET_FIELDS
    assert callable(registered.build_requests) and callable(registered.classify)
    assert registered.build_requests(
        [], SETTINGS[registered.NAME], secrets_for(registered), NOW
    ) == ([], [])


def test_registry_names_and_unknown_platform():
    assert registry.AD_PLATFORMS == (
        "meta",
        "tiktok",
        "linkedin",
        "google",
        "pinterest",
        "snapchat",
        "reddit",
        "x",
    )
    assert registry.EMAIL_TOOLS == (
        "klaviyo",
        "omnisend",
        "brevo",
        "kit",
        "activecampaign",
        "mailchimp",
        "hubspot",
    )
    assert registry.NAMES == registry.AD_PLATFORMS + registry.EMAIL_TOOLS
    with pytest.raises(KeyError, match="unknown platform 'myspace'"):
        registry.platform("myspace")


def test_the_registry_and_the_config_model_name_the_same_platforms():
    assert tuple(Platforms.model_fields) == registry.NAMES
    assert PLATFORM_NAMES == registry.NAMES


def test_what_a_platform_requires_is_a_setting_of_its_config_entry(registered):
    annotation = Platforms.model_fields[registered.NAME].annotation
    (settings_class,) = [t for t in get_args(annotation) if t is not type(None)]
    fields = set(settings_class.model_fields)
    assert set(registered.REQUIRED_SETTINGS) | set(registered.SECRET_FIELDS) <= fields


def test_too_old_event_rejected_without_sinking_the_batch(registered):
    old = event(event_id="old", event_time=NOW - registered.MAX_AGE - timedelta(minutes=1))
    fine = event(event_id="fine")
    requests, rejected = registered.build_requests(
        [old, fine], SETTINGS[registered.NAME], secrets_for(registered), NOW
    )
    assert [r.event_id for r in rejected] == ["old"]
    assert "older than" in rejected[0].reason
    assert [r.event_ids for r in requests] == [("fine",)]


def test_future_event_rejected(registered):
    ahead = event(event_id="ahead", event_time=NOW + timedelta(minutes=10))
    _, rejected = registered.build_requests(
        [ahead], SETTINGS[registered.NAME], secrets_for(registered), NOW
    )
    assert [(r.event_id, r.reason) for r in rejected] == [("ahead", "event_time is in the future")]


def test_one_more_than_max_batch_makes_two_requests(registered):
    events = [event(event_id=f"e{i}") for i in range(registered.MAX_BATCH + 1)]
    requests, rejected = registered.build_requests(
        events, SETTINGS[registered.NAME], secrets_for(registered), NOW
    )
    assert rejected == []
    assert [len(r.event_ids) for r in requests] == [registered.MAX_BATCH, 1]
    assert requests[0].event_ids[0] == "e0" and requests[1].event_ids == (
        f"e{registered.MAX_BATCH}",
    )


def test_secrets_only_where_the_platform_wants_them(registered):
    requests, _ = registered.build_requests(
        [event()], SETTINGS[registered.NAME], secrets_for(registered), NOW
    )
    [req] = requests
    assert SECRET not in json.dumps(req.body)
    assert SECRET not in str(req) and SECRET not in repr(req)
    assert SECRET in req.url or SECRET in " ".join(req.headers.values())


def test_missing_config_rejects_all_without_leaking(registered):
    requests, rejected = registered.build_requests(
        [event(event_id="a"), event(event_id="b")], SETTINGS[registered.NAME], {}, NOW
    )
    assert requests == [] and [r.event_id for r in rejected] == ["a", "b"]
    assert "(secret)" in rejected[0].reason and SECRET not in rejected[0].reason


def test_click_ids_are_sent_byte_for_byte_never_hashed(registered):
    requests, _ = registered.build_requests(
        [event()], SETTINGS[registered.NAME], secrets_for(registered), NOW
    )
    sent = json.dumps(requests[0].body)
    own = CLICK_IDS[OWN_CLICK_ID[registered.NAME]]
    assert own in sent
    assert sha(own) not in sent


def test_ip_is_sent_clear_except_to_reddit(registered):
    requests, _ = registered.build_requests(
        [event()], SETTINGS[registered.NAME], secrets_for(registered), NOW
    )
    sent = json.dumps(requests[0].body)
    if registered.NAME == "linkedin":
        assert "203.0.113.7" not in sent  # LinkedIn takes no IP
    elif registered.NAME == "reddit":
        assert sha("203.0.113.7") in sent and "203.0.113.7" not in sent
    else:
        assert "203.0.113.7" in sent


def test_endpoint_replaces_scheme_host_and_port(registered):
    settings = {**SETTINGS[registered.NAME], "endpoint": "http://127.0.0.1:8123/sink/"}
    requests, _ = registered.build_requests([event()], settings, secrets_for(registered), NOW)
    assert requests[0].url.startswith("http://127.0.0.1:8123/sink/")


def test_base_url_refuses_non_http_endpoints():
    with pytest.raises(ValueError):
        base_url({"endpoint": "file:///etc"}, "https://x")
    assert base_url({}, "https://x") == "https://x"
    assert base_url({"endpoint": "http://127.0.0.1:9/"}, "https://x") == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, b"", "retry"),
        (500, b"", "retry"),
        (503, b"<html>Service Unavailable</html>", "retry"),
        (400, b"not json", "permanent"),
        (401, b"{}", "permanent"),
        (404, b"", "permanent"),
    ],
)
def test_classify_status_rules_hold_everywhere(registered, status, body, kind):
    assert registered.classify(status, body).kind == kind
