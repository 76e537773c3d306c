"""Rebound's stack on an emulated AWS account, from infra/template.yaml: what the local stack
(`rebound local`), the tests' `aws` fixture and the benchmarks all stand up.

- `provision()`: the template's stores (tables, stream, bucket, queues) created by CloudFormation;
- `local_environment()`: what the Lambda functions would get from the deployed stage's settings;
- `load_app()`: app.py imported as the module `app`, as the Lambda runtime imports it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from chalicelib.aws.names import LOCAL_STAGE

PROJECT = Path(__file__).resolve().parent.parent
TEMPLATE = PROJECT / "infra" / "template.yaml"
STACK_NAME = "rebound-local"


# What the local stack creates from the production template: the stores the code talks to.
# Functions, API, Glue/Athena, alarms and the dashboard are production-only (moto's
# CloudFormation does not create most of them, and locally `rebound local` plays their part).
LOCAL_RESOURCE_TYPES = frozenset(
    {"AWS::DynamoDB::Table", "AWS::Kinesis::Stream", "AWS::S3::Bucket", "AWS::SQS::Queue"}
)
_PSEUDO_PARAMETERS = frozenset(
    {"AWS::AccountId", "AWS::Partition", "AWS::Region", "AWS::StackName", "AWS::URLSuffix"}
)
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")  # ${Name} or ${Name.Attr}, not ${!literal}


def local_template(template: Path = TEMPLATE) -> dict[str, Any]:
    """The production template cut down to LOCAL_RESOURCE_TYPES, with only the parameters,
    conditions and outputs those resources use. Resources that only patch what Chalice
    generates (no Type), Fn::ForEach blocks, Rules and the Transform are left out."""
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(template.read_text(encoding="utf-8"))
    resources = {
        name: body
        for name, body in doc["Resources"].items()
        if isinstance(body, dict) and body.get("Type") in LOCAL_RESOURCE_TYPES
    }
    parameters = doc.get("Parameters", {})
    conditions = doc.get("Conditions", {})
    kept_conditions: dict[str, Any] = {}
    pending = [c for body in resources.values() for c in _condition_names(body)]
    while pending:
        name = pending.pop()
        if name not in kept_conditions:
            kept_conditions[name] = conditions[name]
            pending.extend(_condition_names(conditions[name]))
    known = set(resources) | set(parameters) | _PSEUDO_PARAMETERS
    outputs = {  # those that name a kept resource and nothing else
        key: out
        for key, out in doc.get("Outputs", {}).items()
        if not key.startswith("Fn::")
        and "Condition" not in out
        and set(resources) & _names_used(out)
        and _names_used(out) <= known
    }
    used = set().union(*(_names_used(x) for x in [*resources.values(), *kept_conditions.values()]))
    return {
        "AWSTemplateFormatVersion": doc.get("AWSTemplateFormatVersion", "2010-09-09"),
        "Description": "Rebound local stack (from infra/template.yaml)",
        "Parameters": {k: v for k, v in parameters.items() if k in used},
        "Conditions": kept_conditions,
        "Resources": resources,
        "Outputs": outputs,
    }


def _condition_names(node: Any) -> set[str]:
    """Conditions a template fragment names (a resource's Condition, Fn::If, Condition:)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Condition" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::If" and isinstance(value, list) and value:
                found.add(value[0])
                found |= _condition_names(value[1:])
            else:
                found |= _condition_names(value)
    elif isinstance(node, list):
        for value in node:
            found |= _condition_names(value)
    return found


def _names_used(node: Any) -> set[str]:
    """Logical ids and parameters a fragment refers to (Ref, Fn::GetAtt, Fn::Sub variables)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {v.split(".")[0] for v in _SUB_VARIABLE.findall(text)}
                if isinstance(value, list):
                    found -= set(value[1])
                    found |= _names_used(value[1])
            else:
                found |= _names_used(value)
    elif isinstance(node, list):
        for value in node:
            found |= _names_used(value)
    return found


def provision(template: Path = TEMPLATE) -> dict[str, str]:
    """Create the stack from the production template (Stage=local); return its outputs."""
    from chalicelib.aws.clients import client

    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(local_template(template)),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": LOCAL_STAGE}],
    )
    deadline = time.monotonic() + 60
    while True:
        stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if status.endswith("FAILED") or "ROLLBACK" in status or time.monotonic() > deadline:
            raise RuntimeError(f"local stack provisioning ended in {status}")
        time.sleep(0.2)


def local_environment(outputs: dict[str, str]) -> None:
    """What the Lambda functions would get from the deployed stage's configuration."""
    os.environ.setdefault("REBOUND_LINK_CACHE_TTL", "1")
    # Platform events go to the dry-run record unless a platform sets its own `endpoint`.
    os.environ.setdefault("REBOUND_PLATFORMS_DRY_RUN", "1")
    os.environ["REBOUND_LAKE_BUCKET"] = outputs["LakeBucketName"]


def load_app() -> ModuleType:
    """Import the project's app.py (routes and event handlers) as the module `app`."""
    if "app" in sys.modules and getattr(sys.modules["app"], "__file__", "") == str(
        PROJECT / "app.py"
    ):
        return sys.modules["app"]
    spec = importlib.util.spec_from_file_location("app", PROJECT / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module
