"""The redirect core stays light: no boto3, botocore or pydantic on its import path, and the
user-agent parser only for links whose rules need it."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import json, sys
from datetime import datetime, timezone
import chalicelib.redirect as redirect
from chalicelib.redirect import bots, consent, cookies, decision, destination
from chalicelib.redirect import identity, pages, request, rules, visitor
import chalicelib.clicks
from chalicelib.clicks import agent, event, ids
from tests.redirect.factories import link, CHROME, CLICK_ID

def loaded(*names):
    return sorted(m for m in names if m in sys.modules)

report = {"at_import": loaded("ua_parser", "crawleruseragents", "ahocorasick")}
redirect.warm_up()
report["after_warm_up"] = loaded("ua_parser", "crawleruseragents", "ahocorasick")
now = datetime.now(timezone.utc)
facts = redirect.RequestFacts.from_request(
    method="GET", host="go.example", path="/spring-sale", headers={"User-Agent": CHROME}
)
plain = link()
seen = redirect.read_visitor(facts, plain["site"], salt=b"s")
chosen = redirect.decide(plain, plain["site"], facts, seen, now, click_id=CLICK_ID)
click = event.build_click(chosen, facts, seen, plain, click_id=CLICK_ID, now=now)
report["plain_link"] = loaded("ua_parser")
report["plain_click"] = [click["device"], click["os"], click["browser"]]
ruled = link(rules=[{"when": {"device": ["ios"]}, "url": "https://apps.apple.com/app/id1"}])
seen = redirect.read_visitor(facts, ruled["site"], salt=b"s")
chosen = redirect.decide(ruled, ruled["site"], facts, seen, now, click_id=CLICK_ID)
click = event.build_click(chosen, facts, seen, ruled, click_id=CLICK_ID, now=now)
report["device_rule"] = loaded("ua_parser")
report["ruled_click"] = [click["device"], click["os"], click["browser"]]
report["heavy"] = loaded("boto3", "botocore", "pydantic", "chalice")
print(json.dumps(report))
"""


@cache
def loaded_modules() -> dict[str, list[str]]:
    """Run the core in a fresh interpreter; report which modules it had loaded."""
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_and_running_the_redirect_core_loads_no_aws_sdk_or_pydantic():
    assert loaded_modules()["heavy"] == []


def test_the_bot_list_loads_at_warm_up_and_not_at_import():
    assert loaded_modules()["at_import"] == []
    assert loaded_modules()["after_warm_up"] == ["ahocorasick", "crawleruseragents"]


def test_a_link_without_device_os_or_browser_rules_never_loads_the_user_agent_parser():
    assert loaded_modules()["plain_link"] == []
    # left for the archiver to fill in from the envelope
    assert loaded_modules()["plain_click"] == [None, None, None]


def test_a_link_with_a_device_rule_parses_the_user_agent_and_records_what_it_found():
    assert loaded_modules()["device_rule"] == ["ua_parser"]
    assert loaded_modules()["ruled_click"] == ["desktop", "Windows", "Chrome"]


INIT = """
import json, sys
import app
print(json.dumps({"handler": app.redirect_handler.cache_info().currsize, "ua_parser": "ua_parser" in sys.modules,
                  "bots": "crawleruseragents" in sys.modules}))
"""


def lambda_init(initialization_type: str, function: str = "rebound-dev") -> dict:
    """What app.py's import (Lambda's init phase) prepared, in a fresh interpreter."""
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",  # clients are made, never called
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type,
        "REBOUND_STAGE": "dev",
    }
    result = subprocess.run(
        [sys.executable, "-c", INIT], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_an_on_demand_init_builds_the_bot_matcher_and_leaves_the_rest_to_the_first_click():
    assert lambda_init("on-demand") == {"handler": 0, "ua_parser": False, "bots": True}


def test_a_provisioned_init_also_makes_the_clients_and_loads_the_user_agent_parser():
    assert lambda_init("provisioned-concurrency") == {"handler": 1, "ua_parser": True, "bots": True}


def test_other_functions_of_the_app_prepare_nothing_of_the_redirect():
    prepared = lambda_init("provisioned-concurrency", function="rebound-dev-archiver")
    assert prepared == {"handler": 0, "ua_parser": False, "bots": False}
