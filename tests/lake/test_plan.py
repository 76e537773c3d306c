"""The archiver's pure half: what a batch becomes, without AWS."""

from __future__ import annotations

import json

import pytest

from chalicelib.lake.plan import plan_batch
from tests.lake.conftest import NOW
from tests.lake.factories import H12, click, click_envelope, kinesis_event, mixed_batch


def test_plan_needs_no_aws():
    _, _, event = mixed_batch()
    plan = plan_batch(event, now=NOW.timestamp())
    assert [o.records for o in plan.objects] == [4, 2, 1]
    assert len(plan.index) == 5
    assert plan.errors == []


@pytest.mark.parametrize("ts", ["2026-02-30T10:00:00.000Z", "2026-11-23T24:00:00.000Z"])
def test_impossible_times_are_errors(ts):
    plan = plan_batch(kinesis_event([click_envelope(click(H12, ts=ts))]), now=NOW.timestamp())
    assert [json.loads(o.body)["reason"] for o in plan.errors] == [
        f'ts is not a valid time: "{ts}"'
    ]
