"""Which platform events a click calls for (pure: no AWS)."""

from __future__ import annotations

import pytest

from chalicelib.dispatch.events import wanted_events

ALL = ["google", "linkedin", "meta", "pinterest", "reddit", "snapchat", "tiktok"]


def click(**overrides) -> dict:
    record = {
        "click_id": "01KAQ40B7Y9D1XG5C0N3H6P2QW",
        "ts": "2026-11-23T12:00:00.000Z",
        "domain": "go.localhost",
        "slug": "spring-sale",
        "status": 302,
        "is_bot": False,
        "consent": "granted",
        "platforms": ALL,
        "visitor_id": "v-1",
    }
    record.update(overrides)
    return {"kind": "click", "click": record, "ip": "203.0.113.9", "user_agent": "UA"}


def platforms(envelope: dict) -> list[str]:
    return [w.platform for w in wanted_events(envelope, {})]


def test_a_redirected_click_fires_a_page_view_on_every_platform_with_the_click_id():
    wanted = wanted_events(click(), {})
    assert [w.platform for w in wanted] == ALL
    assert {w.event.event_id for w in wanted} == {"01KAQ40B7Y9D1XG5C0N3H6P2QW"}


def test_a_pixel_click_sends_no_server_page_view_to_ga4_which_cannot_deduplicate():
    assert platforms(click(status=200)) == [p for p in ALL if p != "google"]


@pytest.mark.parametrize("overrides", [{"is_bot": True}, {"consent": "denied"}, {"platforms": []}])
def test_bots_denied_consent_and_links_outside_audiences_fire_nothing(overrides):
    assert platforms(click(**overrides)) == []
