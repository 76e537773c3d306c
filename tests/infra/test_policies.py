"""Each function's IAM policy covers exactly the AWS calls its code makes.

Every boto3 call (service, operation, target) the function's own code makes while its real entry
point runs on moto is recorded, mapped to the IAM action and resource ARN it needs, and checked
against the function's policy file in .chalice/: every call must be allowed, and every statement
(and every value its conditions allow) must be used by some call, or be one of the few that AWS
itself exercises on the function's behalf (its log stream, its event source mapping, KMS behind
SSM and Secrets Manager).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from fnmatch import fnmatchcase
from typing import Any

import pytest
from botocore.client import BaseClient
from chalice.test import Client

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.clicks import new_click_id
from chalicelib.clicks.envelope import encode, kinesis_event
from chalicelib.conversions.signature import sign
from chalicelib.links.plan import Specs, make_plan
from chalicelib.links.store import ConfigStore
from chalicelib.rollup import run as rollup_run
from infra.provision import PROJECT, load_app
from rebound.worker import scheduled_event, sqs_event
from tests.infra.templates import (
    ACCOUNT,
    REGION,
    app_functions,
    cfn_name,
    chalice_config,
    resources,
    statements,
)
from tests.lake.factories import click as lake_click
from tests.platforms.conftest import FakePlatform
from tests.rollup import dataset

STAGE = "local"
CLICK_ID = new_click_id(datetime.now(UTC))
CONVERSION_SECRET = "whsec-test-0123456789"
OTHER_SECRET = "whsec-other-9876543210"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)

# Statements no code calls: AWS uses them on the function's behalf. Each names who does.
SERVICE_STATEMENTS = {
    "WriteOwnLogs": "the Lambda runtime writes the function's log stream",
    "ReadClickStream": "the Kinesis event source mapping reads the stream",
    "ReportGivenUpBatches": "the event source mapping's on-failure destination",
    "ReceiveFallbackClicks": "the SQS event source mapping receives and deletes",
    "DecryptCredentialParameters": "SSM decrypts SecureStrings under a customer managed key",
    "DecryptCredentialSecrets": "Secrets Manager decrypts under a customer managed key",
}
# Where an operation's IAM action is not service:Operation.
ACTION_OF = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
}
# A call's target, and the condition keys IAM evaluates for it (s3:prefix for a listing, the
# partition keys of a DynamoDB item call: a list, IAM's multivalued dynamodb:LeadingKeys).
Need = tuple[str, str, dict[str, Any]]
# Secrets Manager authorizes against the secret's full ARN, which ends in a random suffix.
SECRET_SUFFIX = "-AbCdEf"


def arn(kind: str, name: str) -> str:
    prefix = {
        "dynamodb": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/",
        "kinesis": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/",
        "sqs": f"arn:aws:sqs:{REGION}:{ACCOUNT}:",
        "s3": "arn:aws:s3:::",
        "ssm": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter",
        "secretsmanager": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:",
    }[kind]
    return prefix + name


def needs(service: str, operation: str, params: dict[str, Any]) -> list[Need]:
    """The (IAM action, resource ARN, condition keys) one API call is authorized against."""
    action = ACTION_OF.get((service, operation), f"{service}:{operation}")
    if service == "dynamodb":
        tables = params.get("RequestItems") or {params["TableName"]: None}
        key = params.get("Key") or params.get("Item") or {}
        leading = {"dynamodb:LeadingKeys": [key["pk"]["S"]]} if "pk" in key else {}
        return [(action, arn("dynamodb", t), leading) for t in tables]
    if service == "kinesis":
        return [(action, arn("kinesis", params["StreamName"]), {})]
    if service == "sqs":
        queue = params.get("QueueName") or params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        return [(action, arn("sqs", queue), {})]
    if service == "s3" and operation == "ListObjectsV2":
        prefix = {"s3:prefix": params["Prefix"]} if "Prefix" in params else {}
        return [(action, arn("s3", params["Bucket"]), prefix)]
    if service == "s3" and operation == "DeleteObjects":
        keys = [o["Key"] for o in params["Delete"]["Objects"]]
        return [(action, arn("s3", f"{params['Bucket']}/{key}"), {}) for key in keys]
    if service == "s3":
        return [(action, arn("s3", f"{params['Bucket']}/{params['Key']}"), {})]
    if service == "ssm":
        return [(action, arn("ssm", params["Name"]), {})]
    if service == "secretsmanager":
        secret = params["SecretId"]
        if not secret.startswith("arn:"):
            secret += SECRET_SUFFIX
        return [(action, arn("secretsmanager", secret), {})]
    raise AssertionError(f"no IAM mapping for {service}:{operation}: add one to this test")


def conditions(statement: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(operator, key, allowed value) for each value of the statement's conditions."""
    out = []
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, values in keys.items():
            for value in values if isinstance(values, list) else [values]:
                out.append((operator, key, value))
    return out


def satisfied(
    statement: dict[str, Any], context: dict[str, Any]
) -> list[tuple[str, str, str]] | None:
    """The condition values a call's context meets, or None when a condition fails (IAM: every
    key must hold; a key given several values holds when any one matches; with ForAllValues,
    every value of a multivalued key must match one of them)."""
    met = []
    by_key: dict[tuple[str, str], list[str]] = {}
    for operator, key, value in conditions(statement):
        by_key.setdefault((operator, key), []).append(value)
    for (operator, key), values in by_key.items():
        plain = operator.removeprefix("ForAllValues:")
        assert plain in ("StringEquals", "StringLike"), f"no evaluation of {operator} here"
        if key not in context:
            # (ForAllValues holds on a missing key in IAM: no statement here may rely on that.)
            return None
        match = fnmatchcase if plain == "StringLike" else str.__eq__
        given = context[key] if isinstance(context[key], list) else [context[key]]
        if plain != operator:  # ForAllValues
            if not given or not all(any(match(g, v) for v in values) for g in given):
                return None
            hits = [v for v in values if any(match(g, v) for g in given)]
        else:
            hits = [v for v in values if match(given[0], v)]
        if not hits:
            return None
        met += [(operator, key, v) for v in hits]
    return met


def allowed(function: str, service: str, operation: str, params: dict[str, Any]) -> bool:
    """Whether the function's policy allows one call."""
    policy = statements(function, STAGE)
    return all(
        any(
            action in st["Action"]
            and satisfied(st, context) is not None
            and any(fnmatchcase(target, p) for p in st["Resource"])
            for st in policy
        )
        for action, target, context in needs(service, operation, params)
    )


class Recorder:
    """Every boto3 call made while `recording()` is open, from any thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.active = False
        self.lock = threading.Lock()

    @contextmanager
    def recording(self) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
        self.calls = []
        self.active = True
        try:
            yield self.calls
        finally:
            self.active = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The test's own set-up calls in the middle of a recording."""
        self.active = False
        try:
            yield
        finally:
            self.active = True


@pytest.fixture
def recorder(monkeypatch):
    rec = Recorder()
    original = BaseClient._make_api_call

    def spy(self, operation_name, api_params):
        if rec.active:
            with rec.lock:
                rec.calls.append((self.meta.service_model.service_name, operation_name, api_params))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    return rec


def check(function: str, calls: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Every call allowed by the policy; every code statement used by a call."""
    policy = statements(function, STAGE)
    used: set[tuple[int, str, str]] = set()
    used_conditions: set[tuple[int, str, str, str]] = set()
    denied = []
    for service, operation, params in calls:
        for action, target, context in needs(service, operation, params):
            hits = []
            for i, st in enumerate(policy):
                met = satisfied(st, context) if action in st["Action"] else None
                if met is None:
                    continue
                hits += [(i, action, p) for p in st["Resource"] if fnmatchcase(target, p)]
                if any(fnmatchcase(target, p) for p in st["Resource"]):
                    used_conditions.update((i, *m) for m in met)
            if not hits:
                denied.append(f"{action} on {target}" + (f" with {context}" if context else ""))
            used.update(hits)
    assert not denied, f"{function}'s policy does not allow: {sorted(set(denied))}"
    unused = [
        f"{st['Sid']}: {action} on {pattern}"
        for i, st in enumerate(policy)
        if st["Sid"] not in SERVICE_STATEMENTS
        for action in st["Action"]
        for pattern in st["Resource"]
        if (i, action, pattern) not in used
    ]
    unused += [
        f"{st['Sid']}: {key} {operator} {value}"
        for i, st in enumerate(policy)
        if st["Sid"] not in SERVICE_STATEMENTS
        for operator, key, value in conditions(st)
        if (i, operator, key, value) not in used_conditions
    ]
    assert not unused, f"{function}'s policy allows what its code never does: {unused}"


# --- The stack every scenario runs on --------------------------------------------------------


@pytest.fixture
def fake_meta():
    meta = FakePlatform().start()
    # A permanent error: the event goes to the dead-letter queue at once, no retry sleeps.
    meta.default = (
        400,
        b'{"error": {"message": "Invalid OAuth access token", "code": 190, "is_transient": false}}',
    )
    yield meta
    meta.stop()


@pytest.fixture
def app_module(aws, fake_meta):
    names = Names.from_env()
    link = {
        "domain": "go.localhost",
        "slug": "capped",
        "url": "https://shop.example/capped",
        "redirect": 302,
        "mode": "redirect",
        "tags": ["sale"],
        "utm": {},
        "forward_query": True,
        "track_conversions": True,
        "rules": [],
        "max_clicks": 100,
    }
    specs = Specs(
        domains=[
            {
                "name": "go.localhost",
                "consent": {"honor_gpc": True, "honor_dnt": False, "require_in": []},
                "conversion_secret": "ssm:/rebound/local/go.localhost/conversion-secret",
            },
            {
                "name": "shop.localhost",
                "conversion_secret": "secretsmanager:rebound/local/shop-conversion-secret",
            },
        ],
        platforms={
            "meta": {
                "pixel_id": "1234567890",
                "access_token": "ssm:/rebound/local/meta-token",
                "endpoint": fake_meta.url,
                "dry_run": False,
            },
            # No endpoint: the local dry run records the exact request under platform-requests/.
            "tiktok": {
                "pixel_code": "C0DE1234",
                "access_token": "secretsmanager:rebound/local/tiktok-token",
            },
        },
        audiences=[
            {"id": "buyers", "match": {"tags": ["sale"]}, "send_to": ["meta", "tiktok"]},
            # An engagement tier: the dispatcher reads and writes its state (not at 1 click yet).
            {"id": "warm", "match": {"tags": ["sale"]}, "min_clicks": 2, "send_to": ["meta"]},
        ],
        links=[link, {**link, "domain": "shop.localhost"}],
    )
    store = ConfigStore(client("dynamodb"), names.links_table)
    store.write(make_plan(specs, store.read_all()).writes())
    ssm, sm = client("ssm"), client("secretsmanager")
    ssm.put_parameter(
        Name="/rebound/local/go.localhost/conversion-secret",
        Value=CONVERSION_SECRET,
        Type="SecureString",
    )
    ssm.put_parameter(Name="/rebound/local/meta-token", Value="meta-token", Type="SecureString")
    sm.create_secret(Name="rebound/local/shop-conversion-secret", SecretString=OTHER_SECRET)
    sm.create_secret(Name="rebound/local/tiktok-token", SecretString="tiktok-token")
    module = load_app()
    caches = [module.redirect_handler, module.conversion_intake, module.dispatcher_service]
    for cached in caches:
        cached.cache_clear()
    yield module
    for cached in caches:
        cached.cache_clear()


def postback(http: Any, host: str, secret: str, event_id: str, click_id: str | None = None):
    body = json.dumps(
        {
            "click_id": click_id,
            "event": "purchase",
            "event_id": event_id,
            "value": 10.5,
            "currency": "EUR",
        }
    ).encode()
    headers = {
        "Host": host,
        "Content-Type": "application/json",
        "Rebound-Signature": sign(body, secret, int(time.time())),
    }
    response = http.post("/_/conversions", headers=headers, body=body)
    assert response.status_code in (202, 503), response.body
    return response


def click_envelope(record: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "click", "click": record, "ip": "203.0.113.9", "user_agent": IPHONE}


def stream_batch(*payloads: bytes) -> dict[str, Any]:
    records = [
        {"PartitionKey": "k", "SequenceNumber": str(100 + i), "Data": data}
        for i, data in enumerate(payloads)
    ]
    stream = arn("kinesis", Names.from_env().clicks_stream)
    return kinesis_event(records, "shardId-000000000000", stream, REGION)


# --- One scenario per function: its real entry point, every path that reaches AWS ------------


def test_every_function_has_its_own_policy_file(app_module):
    functions = app_functions(app_module.app)
    configured = set(chalice_config()["lambda_functions"])
    assert functions == configured, (
        "each function of app.py needs an entry with its own iam_policy_file under "
        "lambda_functions in .chalice/config.json (autogen_policy is off), and this test a "
        f"scenario for it: app has {sorted(functions)}, config has {sorted(configured)}"
    )
    assert chalice_config()["autogen_policy"] is False
    for function in functions:
        for st in statements(function):
            assert st["Effect"] == "Allow" and st["Sid"]
            assert all("*" not in a for a in st["Action"]), (function, st["Sid"])
            assert all(r != "*" for r in st["Resource"]), (function, st["Sid"])


def test_api_handler_policy_covers_redirects_and_postbacks_exactly(app_module, recorder):
    names = Names.from_env()
    with Client(app_module.app, stage_name="local", project_dir=str(PROJECT)) as c:
        http = c.http
        with recorder.recording() as calls:
            # A capped link: link read, daily salt created, counter, click published.
            assert (
                http.get(
                    "/capped", headers={"Host": "go.localhost", "User-Agent": IPHONE}
                ).status_code
                == 302
            )
            # A visitor who sends GPC: no cookie, the daily salt is read (and created).
            assert (
                http.get(
                    "/capped",
                    headers={"Host": "go.localhost", "User-Agent": IPHONE, "Sec-GPC": "1"},
                ).status_code
                == 302
            )
            # Postbacks: domain read, secret (SSM, then Secrets Manager), click index, event-id
            # marker, a duplicate (marker read back), published.
            assert (
                postback(http, "go.localhost", CONVERSION_SECRET, "o-1", CLICK_ID).status_code
                == 202
            )
            assert (
                postback(http, "go.localhost", CONVERSION_SECRET, "o-1", CLICK_ID).status_code
                == 202
            )
            assert postback(http, "shop.localhost", OTHER_SECRET, "o-2").status_code == 202
            # Kinesis refuses: the fallback queue.
            with recorder.paused():
                client("kinesis").delete_stream(StreamName=names.clicks_stream)
            assert (
                http.get(
                    "/capped", headers={"Host": "go.localhost", "User-Agent": IPHONE}
                ).status_code
                == 302
            )
            # Kinesis and SQS both refuse a postback: its event-id marker is released (503).
            with recorder.paused():
                sqs = client("sqs")
                sqs.delete_queue(
                    QueueUrl=sqs.get_queue_url(QueueName=names.clicks_fallback_queue)["QueueUrl"]
                )
                app_module.conversion_intake.cache_clear()
            assert postback(http, "go.localhost", CONVERSION_SECRET, "o-3").status_code == 503
    check("api_handler", calls)


def test_archiver_policy_covers_the_lake_and_the_click_index_exactly(app_module, recorder):
    now = datetime.now(UTC)
    human = click_envelope(lake_click(now))
    conversion = {
        "kind": "conversion",
        "conversion": {"schema": 1, "conversion_id": "01CONV", "ts": human["click"]["ts"]},
    }
    event = stream_batch(encode(human), encode(conversion), b"not json")
    with recorder.recording() as calls:
        result = app_module.archiver(event, None)
    assert result == {"batchItemFailures": []}
    check("archiver", calls)


def test_dispatcher_policy_covers_ledger_dead_letters_and_records_exactly(
    app_module, recorder, fake_meta
):
    record = lake_click(datetime.now(UTC), platforms=["meta", "tiktok"], consent="not_required")
    record["domain"] = "go.localhost"
    record["slug"] = "capped"  # a link that feeds a tier: the dispatcher counts the click
    event = stream_batch(encode(click_envelope(record)))
    with recorder.recording() as calls:
        result = app_module.dispatcher(event, None)
    assert result == {"batchItemFailures": []}
    assert len(fake_meta.received) == 1  # meta answered 400: dead-lettered; tiktok: dry run
    check("dispatcher", calls)


def test_republisher_policy_covers_putting_clicks_back_exactly(app_module, recorder):
    names = Names.from_env()
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=names.clicks_fallback_queue)["QueueUrl"]
    sqs.send_message(
        QueueUrl=url, MessageBody=encode(click_envelope(lake_click(datetime.now(UTC)))).decode()
    )
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    with recorder.recording() as calls:
        result = app_module.republisher(
            sqs_event(messages, names.clicks_fallback_queue, REGION), None
        )
    assert result == {"batchItemFailures": []}
    check("republisher", calls)


def test_salt_shredder_policy_covers_deleting_salts_exactly(app_module, recorder):
    with recorder.recording() as calls:
        app_module.salt_shredder(scheduled_event("salt-shredder", REGION), None)
    check("salt-shredder", calls)


class _FrozenClock(datetime):
    """``datetime`` with ``now()`` at the known lake's "now" (tests/rollup/dataset.py), so the
    scheduled run looks at the hours that lake holds whatever today is."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return dataset.NOW.astimezone(tz)


def test_rollup_policy_covers_the_lake_and_the_stats_table_exactly(
    app_module, recorder, monkeypatch
):
    names = Names.from_env()
    s3, bucket = client("s3"), names.lake_bucket_name()
    dataset.write_lake(s3, client("dynamodb"), bucket, names.click_index_table)
    # The known lake's clicks are in hours 12 and 13, its conversions in hour 13.
    hours = {"clicks": "dt=2026-11-23/hour=12/", "conversions": "dt=2026-11-23/hour=13/"}
    # Parquet objects of an old run: the rollup replaces the hour's Parquet and deletes them.
    for table, hour in hours.items():
        s3.put_object(Bucket=bucket, Key=f"{table}_parquet/{hour}part-1.parquet", Body=b"PAR1")
    monkeypatch.setattr(rollup_run, "datetime", _FrozenClock)
    with recorder.recording() as calls:
        # Lists the hours, reads raw JSON and platform outcomes, writes Parquet, deletes the old
        # objects, reads the audiences, writes stats rows and manifests.
        first = app_module.rollup(scheduled_event("rollup", REGION), None)
        assert first["rolled"] == ["2026-11-23T13", "2026-11-23T12"] and not first["failed"]
        # Raw JSON expires (RawRetentionDays): the next run reads those hours' Parquet.
        with recorder.paused():
            for table, hour in hours.items():
                listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{table}/{hour}")
                s3.delete_object(Bucket=bucket, Key=listed["Contents"][0]["Key"])
        second = app_module.rollup(scheduled_event("rollup", REGION), None)
        assert second["rolled"] == ["2026-11-23T13", "2026-11-23T12"] and not second["failed"]
    check("rollup", calls)


def test_the_public_function_reads_only_conversion_secrets_and_its_own_state_keys():
    """The API function faces the internet: it reaches neither the platform tokens beside the
    conversion secrets nor the state other functions keep (the dispatcher's ledger)."""
    state = Names.from_env({"REBOUND_STAGE": STAGE}).state_table

    def item(op: str, pk: str) -> bool:
        return allowed(
            "api_handler", "dynamodb", op, {"TableName": state, "Key": {"pk": {"S": pk}}}
        )

    assert allowed(
        "api_handler",
        "ssm",
        "GetParameter",
        {"Name": f"/rebound/{STAGE}/go.brand.com/conversion-secret"},
    )
    assert allowed(
        "api_handler",
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": f"rebound/{STAGE}/shop-conversion-secret"},
    )
    assert not allowed(
        "api_handler", "ssm", "GetParameter", {"Name": f"/rebound/{STAGE}/meta-token"}
    )
    assert not allowed(
        "api_handler",
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": f"rebound/{STAGE}/linkedin-token"},
    )
    for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        assert item(op, "conversion#go.brand.com#o-1")
        assert not item(op, "event#meta#01ABC"), op
    assert item("UpdateItem", "clicks#go.brand.com#sale") and item("PutItem", "salt#2026-11-23")
    kms = {st["Sid"]: st for st in statements("api_handler", STAGE)}
    for sid in ("DecryptCredentialParameters", "DecryptCredentialSecrets"):
        (pattern,) = kms[sid]["Condition"]["StringLike"].values()
        assert "conversion-secret" in pattern, sid


# --- What AWS does on the functions' behalf names the right things ----------------------------


def test_service_statements_name_the_functions_own_log_group_stream_and_queues():
    by_sid = {
        fn: {st["Sid"]: st for st in statements(fn)} for fn in chalice_config()["lambda_functions"]
    }
    for fn, sids in by_sid.items():
        name = resources()[cfn_name(fn)]["Properties"]["FunctionName"]["Fn::Sub"]
        expected = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/" + name.replace(
            "${Stage}", STAGE
        )
        assert sids["WriteOwnLogs"]["Resource"] == [expected + ":*"], fn
    names = Names.from_env({"REBOUND_STAGE": STAGE})
    for fn in ("archiver", "dispatcher"):
        assert by_sid[fn]["ReadClickStream"]["Resource"] == [arn("kinesis", names.clicks_stream)]
        assert by_sid[fn]["ReportGivenUpBatches"]["Resource"] == [
            arn("sqs", f"rebound-{STAGE}-stream-failures")
        ]
    assert by_sid["republisher"]["ReceiveFallbackClicks"]["Resource"] == [
        arn("sqs", names.clicks_fallback_queue)
    ]
    for fn, sids in by_sid.items():
        for sid in ("DecryptCredentialParameters", "DecryptCredentialSecrets"):
            if sid in sids:
                conditions = sids[sid]["Condition"]
                assert conditions["StringEquals"]["kms:ViaService"].endswith(".amazonaws.com")
                assert "StringLike" in conditions, (fn, sid)
