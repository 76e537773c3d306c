"""After-response on Lambda's own runtime client (awslambdaric, in a process of its own) against
the fake Lambda: init hooks the client's posts (no extension registers), the caller has each 302
before the click's PutRecords is called, and every click is put before the next invocation
starts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench.apigw import rest_event
from bench.fake_lambda import FakeLambda
from bench.stack import CHROME, HOST, SLUG

pytest.importorskip("awslambdaric")
ROOT = Path(__file__).resolve().parents[2]


def test_on_awslambdaric_the_302_comes_before_put_records_and_each_click_before_the_next():
    fake = FakeLambda().start()
    said: list[str] = []
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "AWS_LAMBDA_RUNTIME_API": fake.address,
        "AWS_LAMBDA_FUNCTION_NAME": "rebound-local",
        "REBOUND_PUBLISH_MODE": "after-response",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.redirect.ric_child"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded: the process is killed at the end
            if line.startswith(("PUT ", "INIT ")):
                with fake.cond:
                    said.append(line.split())
                    fake.cond.notify_all()

    def puts() -> list[tuple[float, str]]:
        return [(float(w[1]), w[2]) for w in said if w[0] == "PUT"]

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert fake.wait_ready(60), (fake.state(), said)
        clicks = []
        for n in range(3):
            response = fake.invoke(rest_event(f"/{SLUG}", host=HOST, user_agent=CHROME))
            assert response["statusCode"] == 302, response
            clicks.append(response["headers"]["Location"].split("rb_cid=")[1].split("&")[0])
            assert fake.wait_ready(10), fake.state()
            with fake.cond:  # the line may still be in the pipe: wait (bounded) for the reader
                assert fake.cond.wait_for(lambda n=n: len(puts()) > n, 10), said
    finally:
        proc.kill()
        proc.wait(10)
        fake.close()
    # after-response: init hooked awslambdaric's posts; no extension was needed
    assert ["INIT", "1", "1"] in said
    assert fake.registrations == []
    assert [ids for _, ids in puts()] == clicks  # one PutRecords a click, in order
    for n, (put_at, _) in enumerate(puts()):
        invocation = fake.invocations[n]["id"]
        assert fake.answered_at[invocation] < put_at  # the caller had the 302 first
        if n + 1 < len(fake.invocations):  # ... and the click was put before the next began
            assert put_at < fake.started_at[fake.invocations[n + 1]["id"]]
