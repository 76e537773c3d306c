"""The click index item: what the archiver writes of a human click, as the conversions read it."""

from __future__ import annotations

import datetime as dt

from chalicelib.clicks.index import ATTRIBUTION_WINDOW, TTL_SECONDS, from_item, to_item
from tests.lake.factories import UA, click

CLICKED = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.UTC)


def test_the_index_keeps_a_click_exactly_as_long_as_a_conversion_can_be_attributed_to_it():
    assert dt.timedelta(days=90) == ATTRIBUTION_WINDOW
    item = to_item(click(CLICKED), UA, CLICKED.timestamp())
    assert int(item["expires_at"]["N"]) == int(CLICKED.timestamp()) + TTL_SECONDS
    assert ATTRIBUTION_WINDOW.total_seconds() == TTL_SECONDS


def test_what_the_archiver_writes_reads_back_as_the_click_with_its_user_agent_and_no_ip():
    record = click(CLICKED, country="GB", ip="198.51.100.77")
    read = from_item(to_item(record, UA, CLICKED.timestamp()))
    assert read is not None
    assert read["user_agent"] == UA and "ip" not in read
    for name in ("click_id", "ts", "domain", "slug", "campaign", "tags", "click_ids", "consent"):
        assert read[name] == record[name]
    assert read["platforms"] == ["meta", "tiktok"] and read["country"] == "GB"


def test_absent_values_are_left_out_and_odd_shapes_survive():
    record = click(CLICKED, campaign=None, click_ids={"fbclid": "a", "n": 1})
    item = to_item(record, None, CLICKED.timestamp())
    assert "campaign" not in item and "user_agent" not in item
    assert from_item(item)["click_ids"] == {"fbclid": "a", "n": 1}


def test_an_index_item_without_ts_or_id_is_no_click():
    assert from_item({"click_id": {"S": "01KAQ3V7R9Y2C8M4T6W0XBZDEF"}}) is None
    assert from_item(None) is None
