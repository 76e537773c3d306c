"""An engagement tier's size in the stats: the visitors who qualified (one tier event each,
``<click id>:<tier id>`` in the platform outcomes), not every visitor who clicked its links;
every other audience's numbers as before."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib.aws.clients import client
from chalicelib.dispatch.sinks import OutcomeLog
from chalicelib.dispatch.tiers import tier_event_id
from chalicelib.links.plan import Specs
from tests.rollup import dataset
from tests.rollup.dataset import EXPECTED, H12, NOW, SPECS, outcome

DAY = "d#2026-11-23"
HOT = {
    "id": "hot-pricing",
    "match": {"tags": ["pricing"]},
    "window_days": 7,
    "min_clicks": 2,
    "exclude_converted": True,
    "send_to": ["meta", "tiktok"],
}


def tier_outcome(platform: str, click: dict, tier: str, status: str = "sent") -> dict:
    return {**outcome(platform, click, status), "event_id": tier_event_id(click["click_id"], tier)}


@pytest.fixture
def tiered_lake(aws, names):
    ddb = client("dynamodb")
    specs = Specs(
        domains=SPECS.domains,
        audiences=[*SPECS.audiences, HOT],
        links=SPECS.links,
    )
    dataset.apply_config(ddb, names.links_table, specs)
    written = dataset.write_lake(
        client("s3"), ddb, names.lake_bucket_name(), names.click_index_table
    )
    h12 = written["h12"]
    # v1 and v2 clicked spring-sale twice in hour 12: each qualified once, at the second click.
    second = {v: [c for c in h12 if c["visitor_id"] == v][1] for v in ("v1", "v2")}
    log = OutcomeLog(client("s3"), names.lake_bucket_name())
    at = H12 + dt.timedelta(minutes=50)
    log.write(
        "meta",
        [
            tier_outcome("meta", second["v1"], "hot-pricing"),
            tier_outcome("meta", second["v2"], "hot-pricing", "dead"),
            tier_outcome("meta", second["v1"], "no-such-tier"),  # not a configured tier
        ],
        at,
    )
    # The same events on the other platform, and one again (a replayed batch): counted once.
    log.write(
        "tiktok",
        [tier_outcome("tiktok", c, "hot-pricing", "dry_run") for c in second.values()],
        at + dt.timedelta(seconds=1),
    )
    log.write(
        "meta", [tier_outcome("meta", second["v1"], "hot-pricing")], at + dt.timedelta(seconds=2)
    )
    return written


def test_a_tiers_size_is_the_visitors_who_qualified(tiered_lake, rollup, store):
    rollup.run(now=NOW)
    rows = store.read(["h#2026-11-23T12", "h#2026-11-23T13", DAY])
    hot = rows["h#2026-11-23T12"]["audience#hot-pricing"]
    assert hot.members == 2
    # Its clicks are counted like any audience's: every click on its links.
    assert hot.clicks == rows["h#2026-11-23T12"]["audience#pricing-visitors"].clicks
    assert rows[DAY]["audience#hot-pricing"].members == 2
    # Hour 13 has clicks on its links but nobody qualified.
    assert rows["h#2026-11-23T13"]["audience#hot-pricing"].members == 0


def test_other_audiences_keep_their_numbers_beside_a_tier(tiered_lake, rollup, store):
    rollup.run(now=NOW)
    rows = store.read(["h#2026-11-23T12", "h#2026-11-23T13", DAY])
    for sk, members in EXPECTED["h12"]["members"].items():
        assert rows["h#2026-11-23T12"][sk].members == members, sk
    for sk, members in EXPECTED["h13_members"].items():
        assert rows["h#2026-11-23T13"][sk].members == members, sk
    for sk, members in EXPECTED["day_members"].items():
        assert rows[DAY][sk].members == members, sk
    assert "audience#no-such-tier" not in rows["h#2026-11-23T12"]
