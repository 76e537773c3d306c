"""What an operator sees of a redirect, an archived batch, a postback and a dispatch through the
app's own handlers on moto: the JSON log lines and the EMF metric lines they print carry the ids
and counts they concern, and none of the visitor's IP, email, phone or user agent."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from chalice.local import LambdaEventConverter

from chalicelib.aws.names import Names
from chalicelib.clicks.envelope import kinesis_event
from chalicelib.observe.logs import JsonFormatter
from tests.conversions.conftest import post, stream_records
from tests.dispatch import scenario
from tests.platforms.conftest import FakePlatform

# Distinctive values that must appear in no log line and no metric line.
IP = "198.51.100.173"
EMAIL = "Observe.Canary+pii@example.org"
PHONE = "+1 (202) 555-0147"
PHONE_DIGITS = "2025550147"
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "CanaryBrowser/987.65.43 Safari/537.36"
)
PII = (IP, EMAIL, EMAIL.lower(), PHONE, PHONE_DIGITS, "CanaryBrowser")


class Output:
    """Everything the handlers printed (stdout: the EMF lines) and logged (as the JSON lines
    Lambda's runtime would write), read after each step."""

    def __init__(self, capsys, caplog):
        self.capsys, self.caplog = capsys, caplog
        self.everything: list[str] = []

    def read(self) -> tuple[list[dict], list[dict]]:
        captured = self.capsys.readouterr()
        formatter = JsonFormatter()
        logs = [json.loads(formatter.format(r)) for r in self.caplog.records]
        self.caplog.clear()
        self.everything += [captured.out, captured.err, *map(json.dumps, logs)]
        metrics = [json.loads(line) for line in captured.out.splitlines() if '"_aws"' in line]
        return metrics, logs


@pytest.fixture
def output(capsys, caplog, monkeypatch):
    monkeypatch.setenv("REBOUND_METRICS", "stdout")  # printed as on Lambda
    caplog.set_level(logging.INFO)
    return Output(capsys, caplog)


def archive(app_module) -> None:
    by_shard: dict[str, list] = {}
    for r in stream_records():
        by_shard.setdefault(r["ShardId"], []).append(r)
    for shard, records in by_shard.items():
        event = kinesis_event(records, shard, "arn:aws:kinesis:us-east-1:1:stream/x", "us-east-1")
        assert app_module.archiver(event, None) == {"batchItemFailures": []}


class RefusingKinesis:
    def put_record(self, **_kwargs):
        raise RuntimeError("throttled")


def test_a_click_a_postback_and_their_dispatch_show_ids_and_counts_and_no_personal_data(
    app_module, http, output, monkeypatch
):
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", IP)
    stage = Names.from_env().stage
    headers = {"Host": "go.localhost", "User-Agent": UA}

    # --- A redirect: one metric line, the outcome; the click on the stream, no log line.
    r = http.get("/sale?fbclid=IwAR-canary", headers=headers)
    assert r.status_code == 302
    click_id = parse_qs(urlsplit(r.headers["Location"]).query)["rb_cid"][0]
    metrics, logs = output.read()
    (doc,) = metrics
    assert (doc["Stage"], doc["Outcome"], doc["Redirects"]) == (stage, "default", 1)
    assert "ClicksToFallback" not in doc and logs == []

    # --- Kinesis refuses the next click: the fallback queue takes it, the log line names the
    # click in a field, and the redirect's metric line counts it.
    handler = app_module.redirect_handler()
    kinesis, handler.publisher.kinesis = handler.publisher.kinesis, RefusingKinesis()
    r = http.get("/sale", headers=headers)
    handler.publisher.kinesis = kinesis
    refused_id = parse_qs(urlsplit(r.headers["Location"]).query)["rb_cid"][0]
    metrics, logs = output.read()
    (doc,) = metrics
    assert (doc["Redirects"], doc["ClicksToFallback"]) == (1, 1)
    (warning,) = logs
    assert warning["level"] == "WARNING" and warning["partition_key"] == refused_id
    assert {"timestamp", "message", "logger"} <= set(warning)

    # --- The archiver: the clicks into the lake and the click index.
    archive(app_module)
    metrics, _ = output.read()
    assert [d["ArchiveErrors"] for d in metrics] == [0]

    # --- A postback with the visitor's email and phone, attributed to the first click.
    purchase = {
        "event": "purchase",
        "event_id": "order-canary-1",
        "click_id": click_id,
        "value": 49.5,
        "currency": "EUR",
        "user": {"email": EMAIL, "phone": PHONE},
    }
    accepted = post(http, purchase, **{"User-Agent": UA})
    assert accepted.status_code == 202 and accepted.json_body["attributed"] is True
    conversion_id = accepted.json_body["conversion_id"]
    metrics, logs = output.read()
    (doc,) = metrics
    assert doc["ConversionsAccepted"] == 1
    assert [line["conversion_id"] for line in logs if "conversion_id" in line] == [conversion_id]

    again = post(http, purchase)
    assert again.json_body["duplicate"] is True
    unsigned = post(http, purchase, secret="not-the-secret")
    assert unsigned.status_code == 401
    metrics, logs = output.read()
    assert [(d["ConversionsRejected"], d["Reason"]) for d in metrics] == [
        (1, "duplicate"),
        (1, "signature"),
    ]
    assert [line["conversion_id"] for line in logs if "conversion_id" in line] == [conversion_id]

    # --- The dispatcher over what the stream holds: Meta refuses, TikTok takes everything.
    meta, tiktok = FakePlatform().start(), FakePlatform().start()
    try:
        meta.default = (400, b'{"error": {"code": 100, "message": "Invalid parameter"}}')
        tiktok.default = (200, b'{"code": 0, "message": "OK"}')
        scenario.configure((meta, tiktok), domains=("go.localhost",))
        records = [r for r in stream_records() if json.loads(r["Data"])["kind"] == "conversion"]
        records += [r for r in stream_records() if json.loads(r["Data"])["kind"] == "click"]
        event = kinesis_event(records, "shardId-000000000000", "arn:aws:kinesis:x", "us-east-1")
        app_module.dispatcher_service.cache_clear()
        assert app_module.dispatcher(event, None) == {"batchItemFailures": []}
    finally:
        meta.stop()
        tiktok.stop()
        app_module.dispatcher_service.cache_clear()
    metrics, logs = output.read()
    by_destination = {d["Destination"]: d for d in metrics}
    assert set(by_destination) == {"meta", "tiktok"}
    # The stream holds the first click and the conversion (the refused click waits in SQS).
    counts = ("EventsSent", "EventsRetried", "EventsRejected", "EventsDeadLettered")
    assert [by_destination["meta"][c] for c in counts] == [0, 0, 2, 2]
    assert [by_destination["tiktok"][c] for c in counts] == [2, 0, 0, 0]
    platform_lines = {line["platform"] for line in logs if "platform" in line}
    assert platform_lines == {"meta", "tiktok"}
    assert all(d["Stage"] == stage for d in metrics)

    # --- Nowhere: the IP, the email, the phone, the user agent.
    printed = "\n".join(output.everything)
    for value in PII:
        assert value not in printed, value
