"""The local stack: the embedded AWS emulation, the same resources as production, the API, a worker.

`make run` runs this in the foreground. State lives as long as the process.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from rebound import target

PROJECT = Path(__file__).resolve().parent.parent
TEMPLATE = PROJECT / "infra" / "template.yaml"
EXAMPLE = PROJECT / "examples" / "links.yaml"
STACK_NAME = "rebound-local"

log = logging.getLogger("rebound.local")


def start_aws(port: int) -> Any:
    """moto's server, in this process, on loopback only."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


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
    import json

    from chalicelib.aws.clients import client

    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(local_template(template)),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": target.LOCAL_STAGE}],
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


def seed_secrets(config: Any) -> list[str]:
    """Give every credential reference of the config a random local value, unless it has one.

    Locally nothing reaches a real platform (dry run), but the values must exist so requests
    can be built exactly and conversion postbacks can be signed (`rebound sign`).
    """
    import secrets as random_secrets

    from chalicelib.aws.clients import client

    refs = set()
    for spec in [d.spec() for d in config.domains] + list(config.platform_specs().values()):
        refs |= {
            v
            for v in spec.values()
            if isinstance(v, str) and v.startswith(("ssm:", "secretsmanager:"))
        }
    created = []
    for ref in sorted(refs):
        kind, _, name = ref.partition(":")
        value = "local-" + random_secrets.token_urlsafe(24)
        try:
            if kind == "ssm":
                client("ssm").put_parameter(
                    Name=name, Value=value, Type="SecureString", Overwrite=False
                )
            else:
                client("secretsmanager").create_secret(Name=name, SecretString=value)
            created.append(ref)
        except Exception as exc:  # already there: keep it
            if "Exists" not in type(exc).__name__ and "Exists" not in str(exc):
                raise
    return created


def apply_file(path: Path, prune: bool = True) -> int:
    """Validate and apply a links file; returns the number of changes written."""
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.config.loader import load_config
    from chalicelib.links.plan import Specs, make_plan
    from chalicelib.links.store import ConfigStore

    config = load_config(path)
    seed_secrets(config)
    store = ConfigStore(client("dynamodb"), Names.from_env().links_table)
    the_plan = make_plan(Specs.from_config(config), store.read_all(), prune=prune)
    store.write(the_plan.writes())
    return len(the_plan.changes)


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


def local_environment(outputs: dict[str, str]) -> None:
    """What the Lambda functions would get from the deployed stage's configuration."""
    os.environ.setdefault("REBOUND_LINK_CACHE_TTL", "1")
    # Platform events go to the dry-run record unless a platform sets its own `endpoint`.
    os.environ.setdefault("REBOUND_PLATFORMS_DRY_RUN", "1")
    os.environ["REBOUND_LAKE_BUCKET"] = outputs["LakeBucketName"]


def run_local_stack(api_port: int | None = None, links_file: Path | None = None) -> None:
    from chalice.config import Config
    from chalice.local import create_local_server

    from chalicelib.aws.clients import client, reset_clients
    from rebound.worker import LocalWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "moto"):  # every emulated AWS call would be logged
        logging.getLogger(noisy).setLevel(logging.WARNING)
    api_port = api_port or int(os.environ.get("REBOUND_PORT", "8000"))
    target.use_local()
    reset_clients()
    if target.local_stack_running():
        raise SystemExit(
            f"port {target.aws_port()} is taken (another local stack?): "
            "stop it or set REBOUND_AWS_PORT"
        )
    aws = start_aws(target.aws_port())
    outputs = provision()
    local_environment(outputs)
    changes = apply_file(links_file or EXAMPLE)

    app_module = load_app()
    worker = LocalWorker(
        app_module, client("kinesis"), target.LOCAL_REGION, sqs=client("sqs"), chores=chores()
    )
    worker.start()
    config = Config.create(
        chalice_stage=target.LOCAL_STAGE, app_name="rebound", project_dir=str(PROJECT)
    )
    server = create_local_server(app_module.app, config, "127.0.0.1", api_port)
    print(
        f"\nRebound local stack is up.\n"
        f"  AWS emulation  {target.local_endpoint()}  (stack {STACK_NAME}, stage {target.LOCAL_STAGE})\n"
        f"  API            http://127.0.0.1:{api_port}\n"
        f"  Links          {links_file or EXAMPLE.relative_to(PROJECT)} applied ({changes} items)\n\n"
        f"Try:\n"
        f"  curl -i http://go.localhost:{api_port}/spring-sale\n"
        f"  curl -i -A 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)' "
        f"http://go.localhost:{api_port}/pricing\n"
        f"  curl -i http://go.localhost:{api_port}/_/health\n"
        f"  .venv/bin/rebound --local plan my-links.yaml\n"
        f"  .venv/bin/rebound --local apply my-links.yaml\n"
        f"  .venv/bin/rebound --local export\n"
        f"  .venv/bin/rebound --local query --saved clicks_per_link\n"
        f"  .venv/bin/rebound --local platform-requests\n"
        f"Ctrl-C stops it.\n",
        flush=True,
    )

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        aws.stop()
        print("Rebound local stack stopped.", flush=True)


def chores() -> list[tuple[float, Any]]:
    """Periodic local jobs besides the app's own schedules (filled in as features land)."""
    return []
