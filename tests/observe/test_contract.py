"""One table of metrics (chalicelib/observe/metrics.py): the template's alarms and dashboard name
only metrics from it, with its dimensions; docs/operations.md lists exactly it; every function
writes JSON logs. Plain reading of the files, no AWS."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.observe.metrics import METRICS, NAMESPACE
from tests.infra.templates import (
    PROJECT,
    app_functions,
    cfn_name,
    local_app,
    of_type,
    resources,
)

QUERY = re.compile(
    r"SELECT SUM\((\w+)\) FROM SCHEMA\((\w+), (\w+), Stage\) WHERE Stage = '\$\{Stage\}' GROUP BY (\w+)"
)


def queries(text: str) -> list[tuple[str, str, str, str]]:
    return QUERY.findall(text)


def test_alarms_on_rebound_metrics_name_metrics_of_the_table_with_its_dimensions():
    named = []
    for name, alarm in of_type("AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if props.get("Namespace") == NAMESPACE:
            assert props["MetricName"] in METRICS, name
            assert props["Dimensions"] == [{"Name": "Stage", "Value": {"Ref": "Stage"}}], name
            assert METRICS[props["MetricName"]].by == (), name
            named.append(props["MetricName"])
        for query in props.get("Metrics", []):
            ((metric, namespace, dimension, group),) = queries(query["Expression"]["Fn::Sub"])
            assert (namespace, group) == (NAMESPACE, dimension)
            assert METRICS[metric].by == (dimension,), name
            named.append(metric)
    assert {"EventsDeadLettered", "ClicksToFallback", "RollupLagSeconds"} <= set(named)


def test_the_dashboard_shows_every_metric_of_the_table_by_its_dimensions():
    body = resources()["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    shown = set()
    for widget in widgets:
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], dict):  # a Metrics Insights query
                ((metric, namespace, dimension, group),) = queries(
                    line[0]["expression"].replace("'x'", "'${Stage}'")
                )
                assert METRICS[metric].by == (dimension,) and group == dimension
                assert namespace == NAMESPACE
                shown.add(metric)
            elif line[0] == NAMESPACE or (line[0] == "." and shown):
                metric = line[1]
                if line[0] == NAMESPACE:
                    assert line[2:4] == ["Stage", "x"]
                assert METRICS[metric].by == (), metric
                shown.add(metric)
    assert shown == set(METRICS)


def test_docs_list_exactly_the_metrics_of_the_table_with_their_dimension_and_unit():
    text = (PROJECT / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| *(`\w+`)? *\| (\w+) \|", text, re.MULTILINE)
    documented = {name: (dim.strip("`"), unit) for name, dim, unit in rows}
    assert documented == {m.name: ("".join(m.by), m.unit) for m in METRICS.values()}


@pytest.fixture(scope="module")
def app():
    return local_app()


def test_every_function_writes_json_logs(app):
    r = resources()
    for function in app_functions(app):
        config = r[cfn_name(function)]["Properties"].get("LoggingConfig")
        assert config == {
            "LogFormat": "JSON",
            "ApplicationLogLevel": "INFO",
            "SystemLogLevel": "INFO",
        }, function
