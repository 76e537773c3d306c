from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.platforms.event import PlatformEvent

from .conftest import make_event, page_view


def test_times_are_utc_naive_taken_as_utc():
    paris = timezone(timedelta(hours=1))
    event = make_event(
        event_time=datetime(2026, 11, 23, 13, 0, tzinfo=paris),
        click_time=datetime(2026, 11, 20, 9, 0),
    )
    assert event.event_time == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert event.event_time.tzinfo is UTC
    assert event.click_time == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_consent_defaults_and_partial_consent():
    assert make_event().ad_user_data and make_event().ad_personalization
    assert not make_event().limited_data_use
    event = make_event(consent={"limited_data_use": True})
    assert event.limited_data_use and event.ad_user_data


def test_click_time_of_a_click_is_its_own_time():
    assert page_view().clicked_at == page_view().event_time
    assert make_event(click_time=None).clicked_at is None


def test_event_is_immutable():
    event = make_event(click_ids={"gclid": "g"})
    with pytest.raises(AttributeError):
        event.kind = "lead"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.click_ids["gclid"] = "other"  # type: ignore[index]


def test_dict_round_trip():
    event = make_event(click_ids={"fbclid": "AbC"}, user={"em": "0" * 64}, visitor_id="v1")
    again = PlatformEvent.from_dict(event.to_dict())
    assert again == event
    assert PlatformEvent.from_dict(page_view().to_dict()) == page_view()
