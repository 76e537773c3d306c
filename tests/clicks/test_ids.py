"""Click ids: 26-char ULIDs, unique, time-ordered, monotonic within a millisecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.clicks.ids import ClickIdGenerator, click_id_time, encode, is_click_id, new_click_id

T = datetime(2026, 11, 15, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_click_id_is_26_crockford_base32_characters():
    click_id = new_click_id(T)
    assert len(click_id) == 26 and is_click_id(click_id)
    assert not set(click_id) & set("ILOU")


def test_the_click_id_carries_its_time_to_the_millisecond():
    # A fresh generator: the process-wide one is monotonic, so after another test minted an id
    # later than T it would (rightly) return a later id.
    assert click_id_time(ClickIdGenerator().new(T)) == T.replace(microsecond=123000)


def test_ids_minted_in_the_same_millisecond_are_strictly_increasing_and_unique():
    generator = ClickIdGenerator()
    ids = [generator.new(T) for _ in range(10_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_string_order_is_time_order():
    generator = ClickIdGenerator()
    times = [T + timedelta(milliseconds=n * 7) for n in range(500)]
    ids = [generator.new(t) for t in times]
    assert sorted(ids) == ids
    assert ClickIdGenerator().new(T + timedelta(milliseconds=1)) > ClickIdGenerator().new(T)


def test_a_clock_stepping_back_never_reorders_ids():
    generator = ClickIdGenerator()
    first = generator.new(T)
    assert generator.new(T - timedelta(seconds=5)) > first


def test_the_random_part_overflowing_borrows_the_next_millisecond():
    generator = ClickIdGenerator()
    generator.new(T)
    generator._last_random = (1 << 80) - 1
    bumped = generator.new(T)
    assert click_id_time(bumped) == T.replace(microsecond=124000)


def test_encoding_known_values():
    assert encode(0, 0) == "0" * 26
    assert encode((1 << 48) - 1, (1 << 80) - 1) == "7" + "Z" * 25


@pytest.mark.parametrize("value", ["", "0" * 25, "8" + "0" * 25, "0" * 25 + "U", None, 12])
def test_other_values_are_not_click_ids(value):
    assert not is_click_id(value)
    if isinstance(value, str):
        with pytest.raises(ValueError):
            click_id_time(value)


def test_naive_times_are_utc():
    generator = ClickIdGenerator()
    assert click_id_time(generator.new(T.replace(tzinfo=None))) == T.replace(microsecond=123000)
