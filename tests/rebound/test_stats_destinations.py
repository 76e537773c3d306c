"""`rebound stats` shows the merchant's own systems beside the ad platforms: each destination
with its kind (ad platform, email tool, webhook) and its sent / failed / skipped counts."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from chalicelib.aws.clients import client
from chalicelib.dispatch.sinks import OutcomeLog
from rebound import cli
from rebound import stats as rb_stats
from tests.rollup import conftest as rollup_fixtures
from tests.rollup.dataset import H12, NOW, outcome

lake, names = rollup_fixtures.lake, rollup_fixtures.names


def run(*args: str):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


@pytest.fixture
def with_own_systems(lake, names, monkeypatch):
    """The known lake, plus what Klaviyo and a webhook were sent in hour 12."""
    spring = [c for c in lake["h12"] if c["slug"] == "spring-sale"][:4]
    log = OutcomeLog(client("s3"), names.lake_bucket_name())
    at = H12 + dt.timedelta(minutes=41)
    log.write(
        "klaviyo",
        [outcome("klaviyo", c, "sent") for c in spring[:2]]
        + [outcome("klaviyo", spring[2], "dead")],
        at,
    )
    log.write(
        "webhook:crm",
        [outcome("webhook:crm", c, "sent") for c in spring[:3]]
        + [outcome("webhook:crm", spring[3], "skipped")],
        at,
    )
    monkeypatch.setattr(rb_stats, "utc_now", lambda: NOW)
    assert run("rollup").exit_code == 0


def test_email_tools_and_webhooks_are_rows_beside_the_ad_platforms(with_own_systems):
    result = run("stats", "--json", "--since", "1d")
    report = json.loads(result.output)
    rows = {p["id"]: p for p in report["platforms"]}
    assert {k: rows[k]["kind"] for k in rows} == {
        "meta": "ad platform",
        "tiktok": "ad platform",
        "klaviyo": "email tool",
        "webhook:crm": "webhook",
    }
    counts = {
        k: {n: rows[k]["platform_events"][n] for n in ("sent", "failed", "skipped")} for k in rows
    }
    assert counts["klaviyo"] == {"sent": 2, "failed": 1, "skipped": 0}
    assert counts["webhook:crm"] == {"sent": 3, "failed": 0, "skipped": 1}


def test_the_text_table_names_each_destinations_kind(with_own_systems):
    text = run("stats", "--since", "1d").output
    assert "Destinations" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "email tool" in lines["klaviyo"]
    assert "webhook" in lines["webhook:crm"]
