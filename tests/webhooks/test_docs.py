"""The verification code docs/webhooks.md gives receivers (Python, and Node.js where ``node`` is
installed) accepts a real delivery and refuses a changed body, a wrong secret and a stale one."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.platforms.event import PlatformEvent
from chalicelib.webhooks.destination import PLATFORM

from .receiver import SECRET

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def block(language: str) -> str:
    [code] = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return code


def delivery(at: float) -> tuple[str, bytes]:
    event = PlatformEvent(
        kind="lead", event_id="lead-1", event_time=datetime.fromtimestamp(at, UTC)
    )
    settings = {"id": "crm", "url": "https://hooks.example.com/", "events": ["lead"]}
    [request], _ = PLATFORM.build_requests(
        [event], settings, {"secret": SECRET}, datetime.fromtimestamp(at, UTC)
    )
    return request.headers["Rebound-Signature"], request.data()


CASES = [  # (what changed, expected)
    ("nothing", True),
    ("body", False),
    ("secret", False),
    ("stale", False),
]


def variant(what: str) -> tuple[str, bytes, str]:
    header, raw = delivery(time.time() - (301 if what == "stale" else 0))
    if what == "body":
        raw = raw.replace(b'"lead-1"', b'"lead-2"')
    return header, raw, ("another-secret" if what == "secret" else SECRET)


@pytest.mark.parametrize(("what", "expected"), CASES)
def test_the_documented_python_verifier(what, expected):
    scope: dict = {}
    exec(compile(block("python"), str(DOC), "exec"), scope)  # noqa: S102 - our own docs
    header, raw, secret = variant(what)
    assert scope["verify"](header, raw, secret) is expected


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_documented_node_verifier():
    cases = []
    for what, expected in CASES:
        header, raw, secret = variant(what)
        cases.append({"header": header, "body": raw.decode(), "secret": secret, "want": expected})
    harness = block("js") + (
        f"\nconst cases = {json.dumps(cases)};\n"
        "console.log(JSON.stringify(cases.map("
        "(c) => verify(c.header, Buffer.from(c.body), c.secret) === c.want)));\n"
    )
    out = subprocess.run(
        [shutil.which("node") or "node", "--input-type=module", "-"],
        input=harness,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(out.stdout) == [True] * len(CASES)
