"""One execution environment on Lambda's own Python runtime client: awslambdaric's bootstrap loop
(the one Lambda's python3.12+ runtimes run) against the fake Lambda whose address is in
``AWS_LAMBDA_RUNTIME_API``, app.py imported as its handler module, moto in-process behind.
Each Kinesis write is a line on the real stdout, ``PUT <perf_counter> <click ids>``, said before
the write (perf_counter is CLOCK_MONOTONIC, the same clock in every process of the machine).

Run by tests/redirect/test_after_response_ric.py: ``python -m tests.redirect.ric_child``."""

from __future__ import annotations

import os
import sys
from typing import Any


def say(line: str) -> None:
    os.write(sys.__stdout__.fileno(), f"{line}\n".encode())


class SaidKinesis:
    def __init__(self, real: Any):
        self.real = real

    def put_records(self, **kw: Any) -> Any:
        import json
        import time

        ids = ",".join(json.loads(r["Data"])["click"]["click_id"] for r in kw["Records"])
        say(f"PUT {time.perf_counter()} {ids}")
        return self.real.put_records(**kw)

    def put_record(self, **kw: Any) -> Any:
        return self.put_records(Records=[kw])


def main() -> None:
    from awslambdaric import bootstrap
    from awslambdaric.lambda_runtime_client import LambdaRuntimeClient

    from bench.stack import moto_stack

    with moto_stack():
        import app  # the handler module, as bootstrap.run would import it: its init registers

        handler = app.redirect_handler()
        handler.publisher.kinesis = SaidKinesis(handler.publisher.kinesis)
        from chalicelib.clicks import after_response

        hooked = isinstance(after_response._started, after_response.RuntimeHook)
        say(f"INIT {int(app.PUBLISH_AFTER_RESPONSE)} {int(hooked)}")
        bootstrap.run("app.app", LambdaRuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"]))


if __name__ == "__main__":
    main()
