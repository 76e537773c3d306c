"""Reading infra/template.yaml and the .chalice policy files the way CloudFormation would."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

PROJECT = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT / "infra" / "template.yaml"
CHALICE = PROJECT / ".chalice"

ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"


@cache
def template() -> dict[str, Any]:
    return YAML(typ="safe").load(TEMPLATE.read_text(encoding="utf-8"))


def resources() -> dict[str, Any]:
    return {k: v for k, v in template()["Resources"].items() if not k.startswith("Fn::")}


def of_type(kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources().items() if v.get("Type") == kind}


@cache
def chalice_config() -> dict[str, Any]:
    return json.loads((CHALICE / "config.json").read_text(encoding="utf-8"))


def policy(function: str) -> dict[str, Any]:
    name = chalice_config()["lambda_functions"][function]["iam_policy_file"]
    return json.loads((CHALICE / name).read_text(encoding="utf-8"))


def substitute(value: Any, stage: str, region: str = REGION, account: str = ACCOUNT) -> Any:
    """Resolve the Fn::Sub strings of a policy for one stage, region and account."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        known = {
            "Stage": stage,
            "AWS::Partition": "aws",
            "AWS::Region": region,
            "AWS::AccountId": account,
        }

        def one(match: re.Match[str]) -> str:
            return known[match.group(1)]

        return re.sub(r"\$\{([^}]+)\}", one, value["Fn::Sub"])
    if isinstance(value, dict):
        return {k: substitute(v, stage, region, account) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, stage, region, account) for v in value]
    return value


def statements(function: str, stage: str = "local") -> list[dict[str, Any]]:
    """The function's policy statements, resolved, with Action and Resource always lists."""
    out = []
    for st in substitute(policy(function)["Statement"], stage):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        found = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        out.append({**st, "Action": actions, "Resource": found})
    return out


def app_functions(app: Any) -> set[str]:
    """Chalice's name of every Lambda function the app defines."""
    names = {s.name for s in app.event_sources}
    if app.routes:
        names.add("api_handler")
    return names


def cfn_name(function: str) -> str:
    """The logical id `chalice package` gives a function (api_handler -> APIHandler)."""
    if function == "api_handler":
        return "APIHandler"
    return "".join(part.capitalize() for part in re.split(r"[-_]", function))


def local_app() -> Any:
    """app.py's Chalice app, imported in the environment the `aws` fixture gives the other
    tests: app.py reads resource names at import, and the module stays cached for the session."""
    import os

    from infra.provision import load_app

    env = {"REBOUND_STAGE": "local", "REBOUND_LAKE_BUCKET": f"rebound-local-lake-{ACCOUNT}"}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return load_app().app
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
