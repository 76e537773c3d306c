"""The redirect core stays light: no boto3, botocore or pydantic on its import path."""

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
from chalicelib.redirect import agent, bots, consent, cookies, decision, destination
from chalicelib.redirect import identity, pages, request, rules, visitor
import chalicelib.clicks
from chalicelib.clicks import event, ids
lazy = sorted(m for m in ("ua_parser", "crawleruseragents") if m in sys.modules)
redirect.warm_up()
facts = redirect.RequestFacts.from_request(
    method="GET", host="go.example", path="/x", headers={"User-Agent": "Mozilla/5.0"}
)
site = {"name": "go.example", "consent": {}}
seen = redirect.read_visitor(facts, site, salt=b"s")
redirect.decide(None, site, facts, seen, datetime.now(timezone.utc))
heavy = sorted(m for m in ("boto3", "botocore", "pydantic", "chalice") if m in sys.modules)
print(json.dumps({"heavy": heavy, "lazy": lazy}))
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


def test_the_user_agent_parser_and_bot_list_load_only_when_first_needed():
    assert loaded_modules()["lazy"] == []
