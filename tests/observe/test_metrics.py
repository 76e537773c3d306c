"""The EMF documents: their shape, how an invocation's metrics pack into lines, and what each
entry point's result counts as. Plain values, no AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from chalicelib.observe import outcomes
from chalicelib.observe.metrics import METRICS, NAMESPACE, Metrics
from chalicelib.rollup.run import DEFERRED, FAILED, ROLLED, UNCHANGED, HourResult, RunReport

NOW = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)


def docs(metrics: Metrics) -> list[dict]:
    lines = metrics.lines(NOW)
    assert all("\n" not in line for line in lines)  # each one log event
    return [json.loads(line) for line in lines]


def directives(doc: dict) -> dict[str, list[str]]:
    """metric name -> its dimension names, per the document's directives."""
    out = {}
    for d in doc["_aws"]["CloudWatchMetrics"]:
        assert d["Namespace"] == NAMESPACE
        (dims,) = d["Dimensions"]
        for m in d["Metrics"]:
            assert m["Unit"] == METRICS[m["Name"]].unit
            out[m["Name"]] = dims
    return out


def test_a_redirect_is_one_line_with_its_outcome_and_where_its_click_went():
    answer = SimpleNamespace(outcome="rule", published="fallback")
    (doc,) = docs(outcomes.redirect("prod", answer))
    assert doc["_aws"]["Timestamp"] == int(NOW.timestamp() * 1000)
    assert (doc["Stage"], doc["Outcome"], doc["Redirects"], doc["ClicksToFallback"]) == (
        "prod",
        "rule",
        1,
        1,
    )
    assert directives(doc) == {
        "Redirects": ["Stage", "Outcome"],
        "ClicksToFallback": ["Stage"],
    }


def test_a_click_that_reached_the_stream_or_was_held_counts_no_fallback():
    for published in ("stream", "held", None):
        (doc,) = docs(
            outcomes.redirect("prod", SimpleNamespace(outcome="default", published=published))
        )
        assert "ClicksToFallback" not in doc and "ClicksLost" not in doc


def test_a_dispatch_prints_one_line_per_destination_with_zeros():
    report = SimpleNamespace(
        sent={"tiktok": 3},
        released={"webhook:crm": 2},
        rejected={"meta": 1},
        dead={"meta": 4},
    )
    by_destination = {d["Destination"]: d for d in docs(outcomes.dispatched("prod", report))}
    assert set(by_destination) == {"meta", "tiktok", "webhook:crm"}
    meta = by_destination["meta"]
    assert (meta["EventsSent"], meta["EventsRetried"], meta["EventsRejected"]) == (0, 0, 1)
    assert meta["EventsDeadLettered"] == 4
    assert by_destination["tiktok"]["EventsSent"] == 3
    assert by_destination["webhook:crm"]["EventsRetried"] == 2
    assert directives(meta)["EventsDeadLettered"] == ["Stage", "Destination"]


def test_an_idle_dispatch_prints_nothing():
    report = SimpleNamespace(sent={}, released={}, rejected={}, dead={})
    assert outcomes.dispatched("prod", report).lines(NOW) == []
    written: list[str] = []
    assert outcomes.dispatched("prod", report).emit(NOW, written.append) == 0 and not written


@pytest.mark.parametrize(
    "status, body, metric, reason",
    [
        (
            202,
            '{"conversion_id":"01J","attributed":true,"duplicate":false}',
            "ConversionsAccepted",
            None,
        ),
        (202, '{"conversion_id":"01J","duplicate":true}', "ConversionsRejected", "duplicate"),
        (401, '{"errors":[{"field":"Rebound-Signature"}]}', "ConversionsRejected", "signature"),
        (400, '{"errors":[{"field":"value"}]}', "ConversionsRejected", "invalid"),
        (413, "{}", "ConversionsRejected", "too_large"),
        (415, "{}", "ConversionsRejected", "content_type"),
        (503, '{"errors":[{"field":"event_id"}]}', "ConversionsRejected", "in_flight"),
        (503, '{"errors":[{"field":null}]}', "ConversionsRejected", "unavailable"),
        (503, "not json", "ConversionsRejected", "unavailable"),
    ],
)
def test_a_postback_counts_as_accepted_or_by_the_reason_it_was_not_queued(
    status, body, metric, reason
):
    (doc,) = docs(outcomes.postback("prod", status, body))
    assert doc[metric] == 1
    assert doc.get("Reason") == reason


def test_the_archiver_counts_the_records_it_could_not_write_zero_included():
    (doc,) = docs(outcomes.archived("prod", {"batchItemFailures": [{"itemIdentifier": "1"}] * 2}))
    assert doc["ArchiveErrors"] == 2
    (doc,) = docs(outcomes.archived("prod", {"batchItemFailures": []}))
    assert doc["ArchiveErrors"] == 0


def test_an_after_response_flush_counts_only_what_missed_the_stream():
    assert outcomes.published("prod", {"stream": 9}).lines(NOW) == []
    (doc,) = docs(outcomes.published("prod", {"stream": 7, "fallback": 2, "lost": 1}))
    assert (doc["ClicksToFallback"], doc["ClicksLost"]) == (2, 1)


def test_values_add_up_and_dimensions_are_checked_against_the_table():
    m = (
        Metrics("dev")
        .add("EventsSent", 2, Destination="meta")
        .add("EventsSent", 3, Destination="meta")
    )
    (doc,) = docs(m)
    assert doc["EventsSent"] == 5
    with pytest.raises(ValueError, match="Destination"):
        Metrics("dev").add("EventsSent", 1)
    with pytest.raises(KeyError):
        Metrics("dev").add("NotAMetric")


def test_emit_never_raises_for_a_broken_stdout():
    def broken(_line: str) -> None:
        raise OSError("closed")

    assert Metrics("dev").add("ClicksLost").emit(NOW, broken) == 0


def hours(*statuses: tuple[str, str]) -> RunReport:
    return RunReport(hours=[HourResult(h, s, h < "2026-12-07T10") for h, s in statuses])


def test_rollup_lag_is_the_time_since_the_oldest_hour_left_behind_ended():
    report = hours(
        ("2026-12-07T10", ROLLED),
        ("2026-12-07T09", FAILED),
        ("2026-12-07T08", UNCHANGED),
        ("2026-12-07T07", DEFERRED),
    )
    # 07:00-08:00 is the oldest behind: the stats are complete up to 07:00, 3 h 30 min ago.
    assert report.lag_seconds(NOW) == 3.5 * 3600


def test_rollup_lag_with_nothing_behind_is_the_time_since_the_last_hour_ended():
    report = hours(("2026-12-07T10", ROLLED), ("2026-12-07T09", UNCHANGED))
    assert report.lag_seconds(NOW) == 30 * 60


def test_the_scheduled_rollup_prints_its_lag_and_the_audiences_below_minimum_on_one_line(
    monkeypatch, capsys
):
    monkeypatch.setenv("REBOUND_METRICS", "stdout")
    from chalicelib.rollup import run
    from chalicelib.rollup.readiness import Check

    class Stub:
        def run(self, **_kwargs):
            return hours(("2026-12-07T10", ROLLED), ("2026-12-07T09", FAILED))

        def check_readiness(self, _now):
            return Check({}, ["pricing-visitors"])

    monkeypatch.setattr(run.Rollup, "for_names", classmethod(lambda cls, names, **kw: Stub()))
    summary = run.scheduled(SimpleNamespace(stage="prod"), now=NOW)
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert (line["RollupLagSeconds"], line["AudiencesBelowMinimum"]) == (3600 + 30 * 60, 1)
    assert directives(line) == {"RollupLagSeconds": ["Stage"], "AudiencesBelowMinimum": ["Stage"]}
    assert summary["failed"] == {"2026-12-07T09": ""}


def test_metrics_are_printed_on_lambda_or_when_asked_and_nowhere_else(monkeypatch, capsys):
    from chalicelib.observe import metrics as m

    for name in ("AWS_LAMBDA_FUNCTION_NAME", "REBOUND_METRICS"):
        monkeypatch.delenv(name, raising=False)
    m._stdout('{"_aws": {}}')
    assert capsys.readouterr().out == ""  # the local stack, tests, benchmarks
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "rebound-prod-api")
    m._stdout('{"_aws": {}}')
    assert capsys.readouterr().out == '{"_aws": {}}\n'
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    monkeypatch.setenv("REBOUND_METRICS", "stdout")
    m._stdout('{"_aws": {}}')
    assert capsys.readouterr().out == '{"_aws": {}}\n'
