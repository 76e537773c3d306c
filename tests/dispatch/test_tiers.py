"""Engagement tiers (dispatch/tiers.py): an audience with ``min_clicks`` or ``exclude_converted``
sends its event once, at the click that makes a visitor qualify, with the audience in the event;
consent, bots, replays and throttles as everywhere."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.dispatch.events import click_event
from chalicelib.dispatch.tiers import KEEP_CLICKS, Tier, Visits, step, tier_key, tier_wanted
from tests.dispatch.scenario import NOW, batch, click, configure, conversion, dispatcher
from tests.dispatch.test_replay import failures, fault

VISITOR = "ab" * 16
HOT = {
    "id": "hot-pricing",
    "match": {"tags": ["pricing"]},
    "window_days": 7,
    "min_clicks": 3,
    "send_to": ["meta"],
}
PLAIN = {"id": "pricing-visitors", "match": {"tags": ["pricing"]}, "send_to": ["tiktok"]}
LINK = {
    "domain": "go.localhost",
    "slug": "pricing",
    "url": "https://shop.example/pricing",
    "redirect": 302,
    "tags": ["pricing"],
}


def visit(hours_ago: float, visitor: str = VISITOR, **overrides) -> dict:
    ts = NOW - timedelta(hours=hours_ago)
    return click(
        ts=ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"), slug="pricing", visitor_id=visitor, **overrides
    )


def ids(fake) -> list[str]:
    """Every event id a fake meta or tiktok received, once per time it was received."""
    return [e["event_id"] for r in fake.received for e in r.json["data"]]


def cid(envelope: dict) -> str:
    return envelope["click"]["click_id"]


@pytest.fixture
def tiered(aws, fakes):
    configure(fakes, audiences=[PLAIN, HOT], links=[LINK])
    return fakes


def test_the_third_click_sends_the_tier_event_the_first_two_and_the_fourth_do_not(tiered):
    meta, tiktok = tiered
    clicks = [visit(h) for h in (30, 20, 10, 1)]
    sent_after = []
    for seq, envelope in enumerate(clicks):
        result = dispatcher().handle(batch(envelope, first_seq=1000 + seq))
        assert result == {"batchItemFailures": []}
        sent_after.append(list(ids(meta)))
    third = f"{cid(clicks[2])}:hot-pricing"
    assert sent_after == [[], [], [third], [third]]
    # The plain audience of the same link still gets a page view for every click, under the
    # click's own id: the tier's event never takes its place in the ledger.
    assert ids(tiktok) == [cid(c) for c in clicks]
    [event] = meta.received[0].json["data"]
    assert event["event_name"] == "PageView"
    assert event["event_source_url"] == "https://go.localhost/pricing"


def test_a_tier_only_link_sends_nothing_for_the_clicks_that_do_not_qualify(aws, fakes):
    meta, tiktok = fakes
    configure(fakes, audiences=[{**HOT, "send_to": ["meta", "tiktok"]}], links=[LINK])
    clicks = [visit(h) for h in (3, 2, 1)]
    dispatcher().handle(batch(*clicks))
    third = f"{cid(clicks[2])}:hot-pricing"
    assert ids(meta) == [third]
    assert ids(tiktok) == [third]


def test_a_links_click_webhook_still_gets_every_click_when_the_link_feeds_a_tier(aws, fakes):
    from tests.platforms.conftest import FakePlatform

    hook = FakePlatform().start()
    try:
        webhook = {
            "id": "crm",
            "url": f"{hook.url}/in",
            "secret": "ssm:/t/webhook-crm",
            "events": ["click"],
            "personal_data": "hashed",
        }
        configure(fakes, audiences=[HOT], links=[LINK], webhooks=[webhook])
        first = visit(1, platforms=["meta", "webhook:crm"])
        dispatcher().handle(batch(first))
        assert [r.json["id"] for r in hook.received] == [cid(first)]  # not held back by the tier
        assert ids(fakes[0]) == []  # the tier's platform: not before the third click
    finally:
        hook.stop()


def test_the_event_carries_the_audience_id():
    envelope = visit(1)
    page_view = click_event(envelope, {})
    [wanted] = tier_wanted(envelope["click"], page_view, Tier.of(HOT), "go.localhost")
    assert wanted.event.audience == "hot-pricing"
    assert wanted.event.event_id == f"{cid(envelope)}:hot-pricing"
    assert wanted.event.visitor_id == VISITOR


def test_clicks_older_than_the_window_do_not_count(tiered):
    meta, _ = tiered
    old = [visit(24 * 9), visit(24 * 8)]  # 8 and 9 days ago: outside a 7-day window
    recent = visit(1)
    dispatcher().handle(batch(*old, recent))
    assert ids(meta) == []
    fourth = visit(0.5)
    dispatcher().handle(batch(fourth, first_seq=2000))
    assert ids(meta) == []  # two in the window: not yet
    fifth = visit(0.25)
    dispatcher().handle(batch(fifth, first_seq=3000))
    assert ids(meta) == [f"{cid(fifth)}:hot-pricing"]


def test_each_visitor_has_their_own_count(tiered):
    meta, _ = tiered
    a = [visit(h, visitor="aa" * 16) for h in (3, 2)]
    b = [visit(h, visitor="bb" * 16) for h in (3, 2, 1)]
    dispatcher().handle(batch(*a, *b))
    assert ids(meta) == [f"{cid(b[2])}:hot-pricing"]


def test_a_replayed_batch_counts_its_clicks_once(tiered):
    meta, _ = tiered
    first, second, third = visit(3), visit(2), visit(1)
    for _ in range(3):  # counted twice, two clicks would be four
        assert dispatcher().handle(batch(first, second)) == {"batchItemFailures": []}
    assert ids(meta) == []
    dispatcher().handle(batch(first, second, third))
    dispatcher().handle(batch(first, second, third))
    assert ids(meta) == [f"{cid(third)}:hot-pricing"]


def test_bots_and_denied_clicks_never_count(tiered):
    meta, _ = tiered
    bot = visit(4, is_bot=True, platforms=[])
    denied = visit(3, consent="denied", platforms=[])
    first, second = visit(2), visit(1)
    dispatcher().handle(batch(bot, denied, first, second))
    assert ids(meta) == []
    item = client("dynamodb").get_item(
        TableName=Names.from_env().state_table,
        Key={"pk": {"S": tier_key("hot-pricing", VISITOR)}},
    )["Item"]
    assert [c for _, c in Visits.decode(item).clicks] == [cid(first), cid(second)]
    third = visit(0.5)
    dispatcher().handle(batch(third, first_seq=2000))
    assert ids(meta) == [f"{cid(third)}:hot-pricing"]


def test_after_an_attributed_purchase_an_exclude_converted_tier_sends_nothing(aws, fakes):
    meta, _ = fakes
    warm = {**HOT, "id": "warm", "min_clicks": 2, "exclude_converted": True}
    configure(fakes, audiences=[warm], links=[LINK])
    buyer = visit(5)
    bought = (NOW - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    purchase = conversion(buyer, event_time=bought, ts=bought)
    again = visit(1)
    other = [visit(5, visitor="cd" * 16), visit(1, visitor="cd" * 16)]  # never bought
    assert dispatcher().handle(batch(buyer, purchase, again, *other)) == {"batchItemFailures": []}
    tier_events = [i for i in ids(meta) if i.endswith(":warm")]
    assert tier_events == [f"{cid(other[1])}:warm"]
    assert "order-1001" in ids(meta)  # the purchase itself goes out as always
    later = visit(0.5)
    dispatcher().handle(batch(later, first_seq=2000))
    assert [i for i in ids(meta) if i.endswith(":warm")] == [f"{cid(other[1])}:warm"]


def test_a_purchase_after_the_qualifying_click_does_not_undo_it_on_a_replay(aws, fakes):
    meta, _ = fakes
    warm = {**HOT, "id": "warm", "min_clicks": 1, "exclude_converted": True}
    configure(fakes, audiences=[warm], links=[LINK])
    first = visit(2)
    later = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    purchase = conversion(first, event_time=later, ts=later)
    dispatcher().handle(batch(purchase, first))  # the purchase's record arrives first
    dispatcher().handle(batch(purchase, first))
    assert [i for i in ids(meta) if i.endswith(":warm")] == [f"{cid(first)}:warm"]


@pytest.mark.parametrize("operation", ["PutItem", "GetItem"])
def test_a_throttled_tier_update_fails_the_record_and_the_replay_sends_once(tiered, operation):
    meta, tiktok = tiered
    first, second, third = visit(3), visit(2), visit(1)
    dispatcher().handle(batch(first, second, first_seq=1000))
    calls = []

    def third_click(params: dict) -> bool:
        pk = (params.get("Item") or params.get("Key") or {}).get("pk", {}).get("S", "")
        calls.append(pk)
        return pk.startswith("tier#") and len([c for c in calls if c.startswith("tier#")]) == 1

    with fault("dynamodb", operation, third_click) as failed:
        result = dispatcher().handle(batch(third, first_seq=2000))
    assert failed and failures(result) == ["2000"]
    assert ids(meta) == []
    for _ in range(2):  # Lambda's replay, and one more for good measure
        assert dispatcher().handle(batch(third, first_seq=2000)) == {"batchItemFailures": []}
    assert ids(meta) == [f"{cid(third)}:hot-pricing"]
    assert ids(tiktok).count(cid(third)) == 1


def test_a_click_counted_late_qualifies_the_visitor_once(tiered):
    """The first click's state write throttles; the second is counted meanwhile; the replay of
    the first brings the visitor to three in the window and sends the event, once."""
    meta, _ = tiered
    first, second, third = visit(3), visit(2), visit(1)
    writes = []

    def first_write(params: dict) -> bool:
        pk = params.get("Item", {}).get("pk", {}).get("S", "")
        writes.append(pk)
        return pk.startswith("tier#") and len([w for w in writes if w.startswith("tier#")]) == 1

    with fault("dynamodb", "PutItem", first_write):
        result = dispatcher().handle(batch(first, second, third, first_seq=1000))
    assert failures(result) == ["1000"]
    assert ids(meta) == []
    dispatcher().handle(batch(first, second, third, first_seq=1000))
    dispatcher().handle(batch(first, second, third, first_seq=1000))
    assert ids(meta) == [f"{cid(first)}:hot-pricing"]


def test_a_config_table_without_the_link_keeps_todays_behaviour(aws, fakes):
    meta, tiktok = fakes
    configure(fakes)  # no links, no audiences: every click's platforms get a page view
    envelope = click()
    dispatcher().handle(batch(envelope))
    assert ids(meta) == [cid(envelope)]
    assert ids(tiktok) == [cid(envelope)]


# --- the pure step ---------------------------------------------------------------------------


def test_step_keeps_at_most_the_click_ids_it_needs():
    tier = Tier.of({**HOT, "min_clicks": 2})
    visits = Visits()
    for i in range(KEEP_CLICKS + 5):
        visits, _ = step(visits, tier, f"c{i}", 1_000 + i, None)
    assert len(visits.clicks) == KEEP_CLICKS
    assert visits.qualified_by == "c1"


def test_step_qualifies_again_only_a_window_after_the_last_time():
    tier = Tier.of({**HOT, "window_days": 1, "min_clicks": 2})
    day = 86_400_000
    visits, answers = Visits(), []
    for i, at in enumerate([0, 1, 2, day // 2, day + 5, day + 6]):
        visits, qualifies = step(visits, tier, f"c{i}", at, None)
        answers.append(qualifies)
    assert answers == [False, True, False, False, True, False]


def test_a_plain_audience_is_not_a_tier():
    assert Tier.of({"id": "a", "match": {"tags": ["x"]}, "send_to": ["meta"]}) is None
    assert Tier.of({"id": "a", "match": {"tags": ["x"]}, "min_clicks": 1}) is None
    assert Tier.of({"id": "a", "match": {"tags": ["x"]}, "exclude_converted": True}) is not None
