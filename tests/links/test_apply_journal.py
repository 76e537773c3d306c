"""An apply of more than one transaction: journalled, locked, finished or rolled back by the next
one, and refused when planned against an older domain (moto, faults injected through botocore)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.record import domain_key, link_key
from chalicelib.links.store import (
    ApplyInProgressError,
    ConcurrentChangeError,
    ConfigStore,
)
from tests.links.test_plan_apply import DOMAIN, link, specs

MANY = 150  # more than one transaction's worth of writes


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(aws, clock) -> ConfigStore:
    return ConfigStore(client("dynamodb"), Names.from_env().links_table, clock=clock)


def on_transaction(n: int, fault: Callable[[], Any]) -> Callable[[], None]:
    """Run ``fault`` before the n-th TransactWriteItems call (1-based); returns an undo."""
    events = client("dynamodb").meta.events
    seen = {"calls": 0}

    def hook(**_: Any) -> None:
        seen["calls"] += 1
        if seen["calls"] == n:
            fault()

    events.register("before-call.dynamodb.TransactWriteItems", hook, unique_id="test-fault")
    return lambda: events.unregister(
        "before-call.dynamodb.TransactWriteItems", unique_id="test-fault"
    )


def interrupt() -> None:
    raise KeyboardInterrupt


def urls(store: ConfigStore) -> dict[str, str]:
    return {
        pk: item.doc["spec"]["url"] for pk, item in store.read_all().items() if item.kind == "link"
    }


def test_interrupted_apply_leaves_a_journal_that_reports_progress(store):
    s = specs(*[link(f"l{i:03d}") for i in range(MANY)])
    plan = make_plan(s, store.read_all())
    undo = on_transaction(2, interrupt)
    with pytest.raises(KeyboardInterrupt):
        store.write(plan.writes(), plan_id="p1", source="links.yaml")
    undo()
    journal = store.journal()
    assert journal is not None and journal.plan_id == "p1" and journal.source == "links.yaml"
    assert journal.interrupted
    progress = journal.progress(store.read_all())
    assert (len(progress.done), progress.total) == (99, MANY + 1)
    assert not progress.changed


def test_next_apply_finishes_the_interrupted_one_then_plans_against_the_result(store):
    before = specs(*[link(f"l{i:03d}") for i in range(MANY)])
    store.write(make_plan(before, store.read_all()).writes())
    wanted = specs(*[link(f"l{i:03d}", url="https://shop.example/new") for i in range(MANY)])
    undo = on_transaction(2, interrupt)
    with pytest.raises(KeyboardInterrupt):
        store.write(make_plan(wanted, store.read_all()).writes(), plan_id="p1")
    undo()
    assert sorted(set(urls(store).values())) == [
        "https://shop.example/new",
        "https://shop.example/x",
    ]
    journal = store.journal()
    live = store.read_all()
    # What the next apply plans against: the interrupted apply, finished.
    assert make_plan(wanted, journal.progress(live).projected(live)).empty
    store.recover(journal)
    assert store.journal() is None
    assert set(urls(store).values()) == {"https://shop.example/new"}
    assert make_plan(wanted, store.read_all()).empty


def test_a_fresh_lock_refuses_a_second_apply(store):
    first = make_plan(specs(*[link(f"l{i:03d}") for i in range(MANY)]), store.read_all())
    second = make_plan(specs(link("other")), store.read_all())
    refused: list[ApplyInProgressError] = []

    def second_apply() -> None:
        with pytest.raises(ApplyInProgressError) as info:
            store.write(second.writes(), plan_id="p2")
        refused.append(info.value)

    undo = on_transaction(2, second_apply)
    store.write(first.writes(), plan_id="p1")
    undo()
    assert refused and refused[0].journal.plan_id == "p1"
    assert "in progress" in str(refused[0])
    assert link_key("go.localhost", "other") not in store.read_all()
    assert store.journal() is None


def test_a_lock_whose_holder_died_goes_stale_and_can_be_recovered(store, clock):
    s = specs(*[link(f"l{i:03d}") for i in range(MANY)])
    dead = {"yes": False}

    def die() -> None:
        # The process is gone: not even the "interrupted" mark reaches the table.
        dead["yes"] = True
        raise SystemExit(137)

    def block_everything(**_: Any) -> None:
        if dead["yes"]:
            raise ClientError({"Error": {"Code": "RequestTimeout"}}, "UpdateItem")

    events = client("dynamodb").meta.events
    events.register("before-call.dynamodb", block_everything, unique_id="dead")
    undo = on_transaction(2, die)
    with pytest.raises(SystemExit):
        store.write(make_plan(s, store.read_all()).writes(), plan_id="p1")
    undo()
    dead["yes"] = False
    events.unregister("before-call.dynamodb", unique_id="dead")
    journal = store.journal()
    assert not journal.interrupted and not journal.stale(clock())
    with pytest.raises(ApplyInProgressError):
        store.recover(journal)
    clock.now += 3600
    journal = store.journal()
    assert journal.stale(clock())
    store.recover(journal)
    assert len(urls(store)) == MANY and store.journal() is None


def test_an_aws_failure_mid_apply_rolls_back_and_clears_the_journal(store):
    s = specs(*[link(f"l{i:03d}") for i in range(MANY)])

    def throttled() -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "TransactWriteItems")

    undo = on_transaction(2, throttled)
    with pytest.raises(ClientError):
        store.write(make_plan(s, store.read_all()).writes(), plan_id="p1")
    undo()
    assert store.read_all() == {} and store.journal() is None


def test_a_refused_rollback_is_a_concurrent_change_naming_what_changed(store):
    store.write(make_plan(specs(link("z-last")), store.read_all()).writes())
    many = [link(f"l{i:03d}") for i in range(MANY)] + [link("z-last", url="https://x.example/")]
    plan = make_plan(specs(*many), store.read_all())
    ddb, table = client("dynamodb"), store.table

    def someone_else() -> None:
        # Between our two transactions: an item of our first one and one of our second change.
        for pk in (link_key("go.localhost", "l000"), link_key("go.localhost", "z-last")):
            ddb.update_item(
                TableName=table,
                Key={"pk": {"S": pk}},
                UpdateExpression="SET version = version + :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

    undo = on_transaction(2, someone_else)
    with pytest.raises(ConcurrentChangeError) as info:
        store.write(plan.writes(), plan_id="p1")
    undo()
    message = str(info.value)
    assert link_key("go.localhost", "z-last") in message
    assert link_key("go.localhost", "l000") in message and "not rolled back" in message
    live = store.read_all()
    # Everything else of ours was rolled back; nothing is left locked.
    assert set(live) == {
        domain_key("go.localhost"),
        link_key("go.localhost", "z-last"),
        link_key("go.localhost", "l000"),
    }
    assert store.journal() is None


def test_finishing_refused_by_a_later_change_rolls_the_interrupted_apply_back(store):
    before = specs(*[link(f"l{i:03d}") for i in range(MANY)])
    store.write(make_plan(before, store.read_all()).writes())
    wanted = specs(*[link(f"l{i:03d}", url="https://shop.example/new") for i in range(MANY)])
    undo = on_transaction(2, interrupt)
    with pytest.raises(KeyboardInterrupt):
        store.write(make_plan(wanted, store.read_all()).writes(), plan_id="p1")
    undo()
    # Someone edits, outside Rebound, an item the interrupted apply had still to write.
    changed = link_key("go.localhost", f"l{MANY - 1:03d}")
    client("dynamodb").update_item(
        TableName=store.table,
        Key={"pk": {"S": changed}},
        UpdateExpression="SET version = version + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    journal = store.journal()
    assert [w.pk for w in journal.progress(store.read_all()).changed] == [changed]
    with pytest.raises(ConcurrentChangeError) as info:
        store.recover(journal)
    assert changed in str(info.value) and "rolled back" in str(info.value)
    assert set(urls(store).values()) == {"https://shop.example/x"}
    assert store.journal() is None


def test_a_link_planned_against_an_older_domain_is_refused(store):
    """Links embed their domain's consent: a link written by an apply planned before the domain
    changed would carry the old consent."""
    store.write(make_plan(specs(link("a")), store.read_all()).writes())
    mine = make_plan(specs(link("a"), link("new")), store.read_all())
    stricter = copy.deepcopy(DOMAIN)
    stricter["consent"]["honor_dnt"] = True
    store.write(make_plan(specs(link("a"), domain=stricter), store.read_all()).writes())
    with pytest.raises(ConcurrentChangeError) as info:
        store.write(mine.writes())
    assert domain_key("go.localhost") in info.value.pks
    assert link_key("go.localhost", "new") not in store.read_all()


def test_links_written_with_their_changed_domain_in_later_transactions_are_accepted(store):
    store.write(make_plan(specs(link("a")), store.read_all()).writes())
    stricter = copy.deepcopy(DOMAIN)
    stricter["consent"]["honor_dnt"] = True
    s = specs(*[link(f"l{i:03d}") for i in range(MANY)], link("a"), domain=stricter)
    store.write(make_plan(s, store.read_all()).writes())
    live = store.read_all()
    assert make_plan(s, live).empty
    assert all(
        item.doc["site"]["consent"]["honor_dnt"] for item in live.values() if item.kind == "link"
    )


def test_the_journal_is_not_part_of_the_live_config(store):
    undo = on_transaction(2, interrupt)
    with pytest.raises(KeyboardInterrupt):
        store.write(
            make_plan(specs(*[link(f"l{i:03d}") for i in range(MANY)]), store.read_all()).writes()
        )
    undo()
    assert all(not pk.startswith("apply#") for pk in store.read_all())
    assert Specs.from_live(store.read_all()).links  # export still reads plain specs


def test_a_transaction_that_committed_but_timed_out_is_rolled_back_too(store):
    """A timeout does not say whether the transaction committed: the rollback looks."""
    from botocore.exceptions import ReadTimeoutError

    before = specs(*[link(f"l{i:03d}") for i in range(MANY)])
    store.write(make_plan(before, store.read_all()).writes())
    wanted = specs(*[link(f"l{i:03d}", url="https://shop.example/new") for i in range(MANY)])
    events = client("dynamodb").meta.events
    seen = {"calls": 0}

    def lost_answer(**_: Any) -> None:
        seen["calls"] += 1
        if seen["calls"] == 2:  # committed; the answer never arrives
            raise ReadTimeoutError(endpoint_url="https://dynamodb.example")

    events.register("after-call.dynamodb.TransactWriteItems", lost_answer, unique_id="lost")
    try:
        with pytest.raises(ReadTimeoutError):
            store.write(make_plan(wanted, store.read_all()).writes(), plan_id="p1")
    finally:
        events.unregister("after-call.dynamodb.TransactWriteItems", unique_id="lost")
    assert set(urls(store).values()) == {"https://shop.example/x"}
    assert store.journal() is None
