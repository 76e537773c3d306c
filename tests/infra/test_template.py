"""infra/template.yaml agrees with the code: names, lake layout, Glue tables, stream settings,
alarms. Plain reading of the files, no AWS."""

from __future__ import annotations

import re

import pytest

from chalicelib.aws.names import Names
from chalicelib.dispatch.ledger import Ledger
from chalicelib.dispatch.sinks import DryRunRecorder, OutcomeLog
from chalicelib.lake.schema import ERRORS_PREFIX, PARTITION_COLUMNS, PREFIXES, TABLES
from chalicelib.rollup.compact import PARQUET_PREFIX
from chalicelib.rollup.run import SAFETY_SECONDS, memory_limit
from tests.infra.templates import (
    PROJECT,
    app_functions,
    cfn_name,
    chalice_config,
    local_app,
    of_type,
    resources,
    statements,
    template,
)

STAGE = "prod"


def sub(value: object, stage: str = STAGE) -> str:
    assert isinstance(value, dict) and "Fn::Sub" in value, value
    return value["Fn::Sub"].replace("${Stage}", stage)


@pytest.fixture(scope="module")
def app():
    return local_app()


def event_sources(app, kind: str) -> list:
    return [s for s in app.event_sources if type(s).__name__ == kind]


def test_resource_names_are_the_ones_the_code_derives_from_the_stage():
    names = Names.from_env({"REBOUND_STAGE": STAGE})
    r = resources()
    assert sub(r["LinksTable"]["Properties"]["TableName"]) == names.links_table
    assert sub(r["StateTable"]["Properties"]["TableName"]) == names.state_table
    assert sub(r["ClickIndexTable"]["Properties"]["TableName"]) == names.click_index_table
    assert sub(r["StatsTable"]["Properties"]["TableName"]) == names.stats_table
    assert sub(r["ClicksStream"]["Properties"]["Name"]) == names.clicks_stream
    assert sub(r["ClicksFallbackQueue"]["Properties"]["QueueName"]) == names.clicks_fallback_queue
    assert sub(r["PlatformDeadLetterQueue"]["Properties"]["QueueName"]) == names.platform_dlq
    bucket = sub(r["LakeBucket"]["Properties"]["BucketName"]).replace("${AWS::AccountId}", "1")
    assert bucket == f"rebound-{STAGE}-lake-1"


def test_every_function_is_named_sized_and_given_the_lake_bucket(app):
    r = resources()
    for function in app_functions(app):
        patch = r[cfn_name(function)]
        assert "Type" not in patch, "a patch of what chalice package generates"
        props = patch["Properties"]
        suffix = "" if function == "api_handler" else f"-{function}"
        assert sub(props["FunctionName"]) == f"rebound-{STAGE}{suffix}"
        assert 128 <= props["MemorySize"] <= 10240 and 1 <= props["Timeout"] <= 900
        env = props["Environment"]["Variables"]
        assert env["REBOUND_LAKE_BUCKET"] == {"Ref": "LakeBucket"}
        assert env["REBOUND_STAGE"] == {"Ref": "Stage"}
        log_group = r[cfn_name(function).replace("APIHandler", "ApiHandler") + "LogGroup"]
        assert (
            sub(log_group["Properties"]["LogGroupName"]) == f"/aws/lambda/rebound-{STAGE}{suffix}"
        )


def test_stream_consumers_report_partial_failures_bisect_and_give_up_into_a_queue(app):
    r = resources()
    consumers = event_sources(app, "KinesisEventConfig")
    assert {c.name for c in consumers} >= {"archiver", "dispatcher"}
    for source in consumers:
        name = cfn_name(source.name)
        assert r[name]["DependsOn"] == ["ClicksStream"]
        props = r[name]["Properties"]["Events"][f"{name}KinesisEventSource"]["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BisectBatchOnFunctionError"] is True
        assert props["MaximumRetryAttempts"] == -1 or 0 < props["MaximumRetryAttempts"] <= 10000
        assert 60 <= props["MaximumRecordAgeInSeconds"] < 24 * 3600  # inside the retention
        assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["StreamFailureQueue", "Arn"]
        }
    for source in event_sources(app, "SQSEventConfig"):
        name = cfn_name(source.name)
        assert r[name]["DependsOn"] == ["ClicksFallbackQueue"]
        props = r[name]["Properties"]["Events"][f"{name}SqsEventSource"]["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_dispatcher_gives_up_before_its_ledger_claims_expire():
    timeout = resources()["Dispatcher"]["Properties"]["Timeout"]
    assert timeout < Ledger(None, "t").lease.total_seconds()


def test_rollup_runs_one_at_a_time_within_its_hour_and_leaves_itself_room(app):
    (schedule,) = [s for s in event_sources(app, "ScheduledEventConfig") if s.name == "rollup"]
    assert schedule.schedule_expression.to_string() == "rate(1 hour)"
    props = resources()["Rollup"]["Properties"]
    # A run ends (timeout) before the next is scheduled, and stops starting hours in time.
    assert SAFETY_SECONDS * 5 <= props["Timeout"] < 3600
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveRollupConcurrency", 1, {"Ref": "AWS::NoValue"}]
    }
    assert template()["Parameters"]["ReserveRollupConcurrency"]["Default"] == "true"
    # DuckDB gets 60% of the memory; the raw hours and its spill files go to /tmp.
    limit = memory_limit({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props["MemorySize"])})
    assert limit is not None and int(limit.removesuffix("MB")) >= 1024
    assert props["EphemeralStorage"]["Size"] >= 2048


def test_fallback_queue_outlives_six_republisher_timeouts_and_has_a_dead_letter_queue():
    r = resources()
    queue = r["ClicksFallbackQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * r["Republisher"]["Properties"]["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["ClicksFallbackDeadLetterQueue", "Arn"]
    }


def test_every_store_is_encrypted_and_tables_recover_to_a_point_in_time():
    for table in of_type("AWS::DynamoDB::Table").values():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    for queue in of_type("AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    stream = resources()["ClicksStream"]["Properties"]
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["RetentionPeriodHours"] == 24


def test_lake_bucket_is_private_tls_only_and_expires_what_it_should():
    r = resources()
    props = r["LakeBucket"]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (deny,) = r["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    rules = {rule.get("Prefix"): rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert rules[f"{ERRORS_PREFIX}/"]["ExpirationInDays"] == 30
    assert rules[DryRunRecorder.PREFIX]["ExpirationInDays"] == 14
    assert rules[OutcomeLog.PREFIX]["ExpirationInDays"] > 14
    for prefix in PREFIXES.values():  # raw JSON: expiry switched by RawRetentionDays
        assert rules[f"{prefix}/"]["Status"] == {"Fn::If": ["ExpireRawJson", "Enabled", "Disabled"]}
    for location, _ in TABLES.values():
        if location.endswith("_parquet"):
            assert rules[f"{location}/"]["Transitions"][0]["StorageClass"] == "INTELLIGENT_TIERING"


def test_every_prefix_the_code_writes_is_writable_by_exactly_the_function_that_writes_it():
    def writable(function: str) -> set[str]:
        return {
            res.split(":::", 1)[1].split("/", 1)[1]
            for st in statements(function)
            if "s3:PutObject" in st["Action"]
            for res in st["Resource"]
        }

    assert writable("archiver") == {f"{p}/*" for p in PREFIXES.values()} | {f"{ERRORS_PREFIX}/*"}
    assert writable("dispatcher") == {f"{DryRunRecorder.PREFIX}*", f"{OutcomeLog.PREFIX}*"}
    assert writable("rollup") == {f"{p}/*" for p in PARQUET_PREFIX.values()}
    assert writable("api_handler") == writable("republisher") == set()


def _ddl_properties(table: str) -> dict[str, str]:
    for path in sorted((PROJECT / "athena" / "ddl").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        if re.search(rf"CREATE EXTERNAL TABLE IF NOT EXISTS rebound\.{table}\b", text):
            return dict(re.findall(r"'([a-z.]+)'\s*=\s*'([^']*)'", text.split("TBLPROPERTIES")[1]))
    raise AssertionError(f"no DDL for {table}")


def test_glue_tables_are_the_lake_schema_with_the_ddls_partition_projection():
    glue = {
        body["Properties"]["TableInput"]["Name"]: body["Properties"]["TableInput"]
        for body in of_type("AWS::Glue::Table").values()
    }
    assert set(glue) == set(TABLES), "one Glue table per table of chalicelib/lake/schema.py"
    for name, (location, columns) in TABLES.items():
        table = glue[name]
        storage = table["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == [
            (c.name, c.hive) for c in columns
        ], f"{name}: columns differ from chalicelib/lake/schema.py"
        assert [(c["Name"], c["Type"]) for c in table["PartitionKeys"]] == [
            (c.name, c.hive) for c in PARTITION_COLUMNS
        ]
        assert storage["Location"] == {"Fn::Sub": f"s3://${{LakeBucket}}/{location}/"}
        ddl = _ddl_properties(name)
        params = dict(table["Parameters"])
        template_location = params.pop("storage.location.template")["Fn::Sub"]
        assert template_location.replace("${!", "${").replace(
            "${LakeBucket}", "${LAKE_BUCKET}"
        ) == (ddl.pop("storage.location.template"))
        assert {k: v for k, v in params.items() if k.startswith("projection.")} == ddl


def test_athena_workgroup_encrypts_results_and_caps_bytes_scanned():
    config = resources()["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"]


def test_alarms_cover_5xx_every_function_every_consumer_and_every_queue(app):
    loops = template()["Resources"]
    _, functions, _ = loops["Fn::ForEach::FunctionAlarms"]
    assert set(functions) == {cfn_name(f) for f in app_functions(app)}
    _, dead_letter_queues, _ = loops["Fn::ForEach::DeadLetterAlarms"]
    assert set(dead_letter_queues) == set(of_type("AWS::SQS::Queue")) - {"ClicksFallbackQueue"}
    metrics = {
        (a["Properties"].get("MetricName"), str(a["Properties"].get("Dimensions")))
        for a in of_type("AWS::CloudWatch::Alarm").values()
    }
    assert any(m == "5XXError" for m, _ in metrics)
    for source in event_sources(app, "KinesisEventConfig"):
        assert (
            "IteratorAge",
            str([{"Name": "FunctionName", "Value": {"Ref": cfn_name(source.name)}}]),
        ) in metrics
    assert any(
        m == "ApproximateNumberOfMessagesVisible" and "ClicksFallbackQueue" in d for m, d in metrics
    )
    # The rollup swallows a failing hour (and logs it): a metric filter turns the line into
    # the metric of its own alarm.
    (failed_hours,) = [f for f in of_type("AWS::Logs::MetricFilter").values() if "rollup" in str(f)]
    (transform,) = failed_hours["Properties"]["MetricTransformations"]
    assert ("RollupFailedHours", "None") in metrics
    assert transform["MetricName"] == "RollupFailedHours"
    assert sub(failed_hours["Properties"]["LogGroupName"]) == f"/aws/lambda/rebound-{STAGE}-rollup"
    assert failed_hours["Properties"]["FilterPattern"] == '"rollup of" "failed"'
    source = (PROJECT / "chalicelib" / "rollup" / "run.py").read_text(encoding="utf-8")
    assert 'log.exception("rollup of %s failed", hour)' in source, "keep the filter in step"
    api_stage = {s.get("api_gateway_stage") for s in chalice_config()["stages"].values()} - {None}
    assert api_stage == {"api"}, "the 5xx alarm and the dashboard use the API stage name `api`"


def test_unmatched_multi_segment_paths_get_a_404_page_from_api_gateway():
    responses = resources()["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"
    ]
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == "404"
    assert "Link not found" in missing["responseTemplates"]["text/html"]
    assert "DEFAULT_4XX" not in responses  # its status would also rewrite 429 and 413


def test_custom_domains_are_edge_endpoints_only_when_names_are_given():
    _, collection, fragment = template()["Resources"]["Fn::ForEach::BrandedDomains"]
    assert collection == {"Ref": "DomainNames"}
    domain = fragment["CustomDomain&{Domain}"]
    assert domain["Condition"] == "HasCustomDomains"
    assert domain["Properties"]["EndpointConfiguration"] == {"Types": ["EDGE"]}
    assert domain["Properties"]["CertificateArn"] == {"Ref": "CertificateArn"}
    assert template()["Parameters"]["DomainNames"]["Default"] == ""
