"""What an operator sees: log lines as JSON (``logs``) and CloudWatch metrics as Embedded Metric
Format lines (``metrics``), both written by the entry points in app.py.

Every log line names the click, conversion, event or destination it concerns in a field of its
own (``click_id``, ``conversion_id``, ``platform``, ...), never a visitor's IP, email, phone or
user agent. Every invocation prints at most one metric document per destination, aggregated
(docs/operations.md, "Metrics" and "Alarms: what to do when each fires").

Plain Python (json, logging): the redirect's function imports it at init.
"""
