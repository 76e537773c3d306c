"""Plan and apply against the config table (moto): idempotence, prune, diffs, concurrency."""

from __future__ import annotations

import copy

import pytest

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.record import domain_key, link_key
from chalicelib.links.store import ConcurrentChangeError, ConfigStore

DOMAIN = {
    "name": "go.localhost",
    "root_url": "https://shop.example/",
    "consent": {"honor_gpc": True, "honor_dnt": False, "require_in": ["EU"]},
}


def link(slug: str, url: str = "https://shop.example/x", **extra) -> dict:
    return {
        "domain": "go.localhost",
        "slug": slug,
        "url": url,
        "redirect": 302,
        "tags": [],
        **extra,
    }


def specs(*links: dict, domain: dict = DOMAIN, audiences=None, platforms=None) -> Specs:
    return Specs(
        domains=[domain],
        platforms=platforms or {},
        audiences=audiences or [],
        links=list(links),
    )


@pytest.fixture
def store(aws) -> ConfigStore:
    return ConfigStore(client("dynamodb"), Names.from_env().links_table)


def apply(store: ConfigStore, s: Specs, prune: bool = False):
    plan = make_plan(s, store.read_all(), prune=prune)
    store.write(plan.writes())
    return plan


def test_apply_creates_then_second_plan_is_empty(store):
    s = specs(link("a"), link("b"))
    first = apply(store, s)
    assert [c.action for c in first.changes] == ["create"] * 3
    assert make_plan(s, store.read_all()).empty


def test_apply_with_nothing_to_change_writes_nothing(store):
    s = specs(link("a"))
    apply(store, s)
    before = {pk: i.version for pk, i in store.read_all().items()}
    plan = apply(store, s)
    assert plan.empty
    assert {pk: i.version for pk, i in store.read_all().items()} == before


def test_update_shows_field_level_diff_and_bumps_version(store):
    apply(store, specs(link("a")))
    plan = apply(store, specs(link("a", url="https://shop.example/y", campaign="c1")))
    (change,) = plan.changes
    assert change.action == "update"
    assert {(d.path, d.before, d.after) for d in change.diffs} == {
        ("url", "https://shop.example/x", "https://shop.example/y"),
        ("campaign", None, "c1"),
    }
    assert store.get(link_key("go.localhost", "a")).version == 2


def test_domain_change_updates_the_links_that_carry_it(store):
    apply(store, specs(link("a")))
    changed = copy.deepcopy(DOMAIN)
    changed["not_found_url"] = "https://shop.example/404"
    plan = apply(store, specs(link("a"), domain=changed))
    kinds = sorted((c.kind, c.action) for c in plan.changes)
    assert kinds == [("domain", "update"), ("link", "update")]
    link_change = next(c for c in plan.changes if c.kind == "link")
    assert [d.path for d in link_change.diffs] == ["site.not_found_url"]
    doc = store.get(link_key("go.localhost", "a")).doc
    assert doc["site"]["not_found_url"] == "https://shop.example/404"
    assert "DE" in doc["site"]["consent"]["require_in"]  # EU expanded for the redirect


def test_audiences_are_denormalised_into_matching_links(store):
    audience = {
        "id": "pricing",
        "match": {"tags": ["pricing"]},
        "window_days": 30,
        "send_to": ["meta"],
    }
    s = specs(
        link("a", tags=["pricing"]),
        link("b", tags=["other"]),
        audiences=[audience],
        platforms={"meta": {"pixel_id": "1", "access_token": "ssm:/x"}},
    )
    apply(store, s)
    assert store.get(link_key("go.localhost", "a")).doc["audiences"] == [
        {"id": "pricing", "send_to": ["meta"]}
    ]
    assert store.get(link_key("go.localhost", "b")).doc["audiences"] == []


def test_without_prune_unlisted_links_stay_and_with_prune_they_go(store):
    apply(store, specs(link("a"), link("b")))
    keep = make_plan(specs(link("a")), store.read_all())
    assert keep.empty
    prune = apply(store, specs(link("a")), prune=True)
    assert [(c.action, c.label) for c in prune.changes] == [("delete", "go.localhost/b")]
    assert store.get(link_key("go.localhost", "b")) is None
    assert make_plan(specs(link("a")), store.read_all(), prune=True).empty


def test_slug_lookup_key_is_case_insensitive(store):
    apply(store, specs(link("Spring-Sale")))
    item = store.get(link_key("GO.localhost", "spring-sale"))
    assert item is not None and item.doc["spec"]["slug"] == "Spring-Sale"


def test_concurrent_change_between_plan_and_apply_is_refused(store):
    apply(store, specs(link("a")))
    plan = make_plan(specs(link("a", url="https://shop.example/mine")), store.read_all())
    # Someone else applies in between.
    apply(store, specs(link("a", url="https://shop.example/theirs")))
    with pytest.raises(ConcurrentChangeError) as info:
        store.write(plan.writes())
    assert link_key("go.localhost", "a") in info.value.pks
    assert (
        store.get(link_key("go.localhost", "a")).doc["spec"]["url"] == "https://shop.example/theirs"
    )


def test_concurrent_create_is_refused(store):
    plan = make_plan(specs(link("a")), store.read_all())
    apply(store, specs(link("a", url="https://shop.example/theirs")))
    with pytest.raises(ConcurrentChangeError):
        store.write(plan.writes())


def test_refusal_in_a_later_transaction_rolls_back_the_earlier_ones(store):
    """Over 100 writes take several transactions; a refused one must not leave the rest applied."""
    apply(store, specs(link("z-last")))
    many = [link(f"l{i:03d}") for i in range(150)] + [
        link("z-last", url="https://shop.example/new")
    ]
    plan = make_plan(specs(*many), store.read_all())
    assert len(plan.writes()) > 100
    # A concurrent edit to the item that sits in the last transaction.
    apply(store, specs(link("z-last", url="https://shop.example/theirs")))
    with pytest.raises(ConcurrentChangeError):
        store.write(plan.writes())
    live = store.read_all()
    assert set(live) == {domain_key("go.localhost"), link_key("go.localhost", "z-last")}
    assert (
        live[link_key("go.localhost", "z-last")].doc["spec"]["url"] == "https://shop.example/theirs"
    )


def test_deletes_roll_back_too(store):
    apply(store, specs(*[link(f"l{i:03d}") for i in range(120)]))
    before = store.read_all()
    plan = make_plan(specs(link("l000", url="https://shop.example/changed")), before, prune=True)
    # Change the item that the plan deletes last, so the final transaction is refused.
    last_deleted = [c for c in plan.changes if c.action == "delete"][-1]
    item = before[last_deleted.pk]
    client("dynamodb").update_item(
        TableName=store.table,
        Key={"pk": {"S": item.pk}},
        UpdateExpression="SET version = :n",
        ExpressionAttributeValues={":n": {"N": str(item.version + 1)}},
    )
    with pytest.raises(ConcurrentChangeError):
        store.write(plan.writes())
    after = store.read_all()
    assert set(after) == set(before)
    assert {pk: i.doc for pk, i in after.items()} == {pk: i.doc for pk, i in before.items()}
