"""Log lines: the local formatter writes the shape of Lambda's JSON application logs, ids as
fields; ``configure`` installs it only off Lambda and only when asked."""

from __future__ import annotations

import json
import logging
import sys

from chalicelib.observe.logs import JsonFormatter, configure


def record(**extra) -> logging.LogRecord:
    r = logging.LogRecord(
        "chalicelib.x", logging.WARNING, __file__, 1, "click %s failed", ("C1",), None
    )
    for key, value in extra.items():
        setattr(r, key, value)
    return r


def test_a_line_is_the_runtimes_shape_with_the_extra_ids_as_keys():
    line = json.loads(JsonFormatter().format(record(click_id="C1", aws_request_id="req-1")))
    assert line["level"] == "WARNING" and line["message"] == "click C1 failed"
    assert line["logger"] == "chalicelib.x" and line["requestId"] == "req-1"
    assert line["click_id"] == "C1"
    assert line["timestamp"].endswith("Z") and len(line["timestamp"]) == len(
        "2026-12-07T10:00:00.000Z"
    )
    assert not {"args", "msg", "levelno", "pathname", "aws_request_id"} & set(line)


def test_an_exception_is_its_type_message_and_trace():
    try:
        raise ValueError("bad hour")
    except ValueError:
        r = record()
        r.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(r))
    assert (line["errorType"], line["errorMessage"]) == ("ValueError", "bad hour")
    assert line["stackTrace"]


def test_configure_acts_only_off_lambda_and_when_asked():
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        assert configure({}) is False
        assert configure({"REBOUND_LOG_FORMAT": "json", "AWS_LAMBDA_FUNCTION_NAME": "f"}) is False
        assert root.handlers == before
        assert configure({"REBOUND_LOG_FORMAT": "json"}) is True
        assert configure({"REBOUND_LOG_FORMAT": "json"}) is True  # once
        added = [h for h in root.handlers if h not in before]
        assert len(added) == 1 and isinstance(added[0].formatter, JsonFormatter)
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
        root.setLevel(level)
