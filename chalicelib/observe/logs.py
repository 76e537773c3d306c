"""Log lines as JSON objects, one a line.

On Lambda the functions run with the template's ``LoggingConfig: {LogFormat: JSON}``: the Python
runtime's own handler on the root logger writes each record as JSON with ``timestamp``,
``level``, ``message``, ``logger``, ``requestId`` and every key passed with ``extra=`` (the
runtime interface client's ``JsonFormatter``; docs/operations.md, "Logs"). Nothing is imported
for it. Elsewhere (the local stack, tests) ``JsonFormatter`` here writes the same shape, and
``configure`` installs it where ``REBOUND_LOG_FORMAT=json`` asks.

The ids a line concerns go in ``extra=`` under these names, so that a CloudWatch Logs Insights
query can filter on them (``filter click_id = "..."``): ``click_id``, ``conversion_id``,
``event_id``, ``platform``, ``sequence_number``, ``partition_key`` (the click or conversion id a
record is put on the stream with), ``domain``, ``hour``. Never an IP, an email, a phone number,
a user agent, a request body, or an exception's message that may echo one of them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has (and those the Lambda runtime adds): not "extra" fields.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "aws_request_id",
    "tenant_id",
    "_frame_type",
    "taskName",
}


_TIME = "%Y-%m-%dT%H:%M:%S.%f"  # cut to milliseconds, then Z, as the runtime writes it


class JsonFormatter(logging.Formatter):
    """The shape of Lambda's JSON application logs, for where Lambda does not write them."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).strftime(_TIME)[:-3] + "Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        request_id = getattr(record, "aws_request_id", None)
        if request_id:
            line["requestId"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            line["errorType"] = record.exc_info[0].__name__
            line["errorMessage"] = str(record.exc_info[1])
            line["stackTrace"] = traceback.format_tb(record.exc_info[2])
        line.update(
            (k, v) for k, v in record.__dict__.items() if k not in _RESERVED and k not in line
        )
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(env: Any = None) -> bool:
    """Outside Lambda, with ``REBOUND_LOG_FORMAT=json``: the root logger writes JSON lines to
    stderr at INFO. Returns whether it did (on Lambda the runtime's handler does it)."""
    env = os.environ if env is None else env
    if env.get("AWS_LAMBDA_FUNCTION_NAME") or (env.get("REBOUND_LOG_FORMAT") or "") != "json":
        return False
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return True
