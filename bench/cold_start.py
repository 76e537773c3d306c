"""Cold start: what the redirect Lambda imports and initialises before its first redirect, vs
`import boto3, chalice.app`.

Each side runs in a fresh interpreter with ``-X importtime`` and a clean environment, as Lambda
would start it (the stage's names, a region, the function's name, dummy keys as Lambda puts in
the environment; no AWS endpoint, and nothing calls AWS). The figure is the sum of the top-level
cumulative times, less what an empty interpreter (``-c pass``) imports at start-up, median of
several runs interleaved subject/baseline/empty.

The subject is ``import app; app.redirect_handler()``: the handler module, whose body runs
``redirect.warm_up()`` (ua-parser's regexes, the bot patterns), plus what the first request
imports before it can answer (app.py defers boto3 and the redirect handler to it). A cold start pays all of
it, at init or at the first click, so that total is the budgeted figure. ``app.redirect_handler()`` also
creates the boto3 clients; that is not an import and not counted here (the baseline makes no
clients either): the `memory` benchmark times it with the first redirect.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from bench.figures import Budget, Figure, Result, median
from bench.interpreter import last_line, python

NAME = "cold-start"
TITLE = "Cold start: the redirect's imports and init vs import boto3, chalice.app (-X importtime)"
PARAMS: dict[str, dict[str, int]] = {
    "full": {"runs": 15},
    "quick": {"runs": 3},
    "tiny": {"runs": 1},
}
BUDGET = Budget(1.2)
STAGE = "dev"

SUBJECT = "import app; app.redirect_handler()"
# A link whose rules ask for device, os or browser: its first click parses a user agent, which
# loads ua-parser and builds its regex sets (the redirect does not, for other links).
FIRST_PARSE = (
    "import time, app; app.redirect_handler(); from chalicelib.clicks.agent import parse_agent; "
    "t = time.perf_counter(); parse_agent({ua!r}); print((time.perf_counter() - t) * 1e6)"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
BASELINE = "import boto3, chalice.app"
EMPTY = "pass"
# Lambda puts the function's credentials in its environment; dummies here, and nothing calls AWS
# (without them botocore would look further, up to the instance metadata endpoint).
DUMMY_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def lambda_env(function: str = f"rebound-{STAGE}", **extra: str) -> dict[str, str]:
    """The environment a Lambda function of the stage starts with (no endpoint, no credentials:
    nothing at import time may need them)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "REBOUND_STAGE": STAGE,
        "REBOUND_LINK_CACHE_TTL": "30",
    }
    env.update(extra)
    return env


@dataclass(frozen=True)
class ImportReport:
    total_us: int  # sum of top-level cumulative times
    self_us: dict[str, int]  # module -> self time
    top_us: dict[str, int]  # top-level module -> cumulative time
    modules: int


def parse_importtime(stderr: str) -> ImportReport:
    """Read ``-X importtime`` output: ``import time: self [us] | cumulative | imported package``."""
    total, selfs, top, count = 0, {}, {}, 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        head, cumulative, name = line.split("|", 2)
        own = int(head.split(":", 1)[1])
        package = name[1:] if name.startswith(" ") else name
        selfs[package.strip()] = selfs.get(package.strip(), 0) + own
        count += 1
        if not package.startswith(" "):
            total += int(cumulative)
            top[package.strip()] = top.get(package.strip(), 0) + int(cumulative)
    return ImportReport(total, selfs, top, count)


def importtime(code: str, env: dict[str, str]) -> ImportReport:
    return parse_importtime(python("-X", "importtime", "-c", code, env=env).stderr)


def first_parse_us(env: dict[str, str]) -> float:
    """Microseconds the first user-agent parse takes in a fresh redirect process."""
    return float(last_line(python("-c", FIRST_PARSE.format(ua=IPHONE), env=env)))


def run(*, runs: int) -> Result:
    started = time.perf_counter()
    result = Result(NAME, TITLE, params={"runs": runs, "stage": STAGE})
    env = lambda_env(**DUMMY_KEYS)
    samples: dict[str, list[ImportReport]] = {"subject": [], "baseline": [], "empty": []}
    order = [("subject", SUBJECT), ("baseline", BASELINE), ("empty", EMPTY)]
    parses = []
    for i in range(runs):
        for key, code in order if i % 2 == 0 else reversed(order):
            samples[key].append(importtime(code, env))
        parses.append(first_parse_us(env))

    subject = samples["subject"]
    empty = median([r.total_us for r in samples["empty"]])
    base = median([r.total_us for r in samples["baseline"]]) - empty
    whole = median([r.total_us for r in subject]) - empty
    import_app = median([r.top_us.get("app", 0) for r in subject])
    init = median([r.self_us.get("app", 0) for r in subject])
    deferred = median([r.total_us - r.top_us.get("app", 0) for r in subject]) - empty
    ms = 1 / 1000
    base_name = f"`{BASELINE}`"
    result.figures += [
        Figure(
            "redirect Lambda: imports + init before its first redirect",
            whole * ms,
            "ms",
            base * ms,
            base_name,
            BUDGET,
            note=f"`{SUBJECT}`: app.py with its warm-up, and the imports of the first request",
        ),
        Figure(
            "import app alone (boto3 deferred to the first request)",
            import_app * ms,
            "ms",
            base * ms,
            base_name,
            note="what Lambda's init phase runs: imports + app.py's body",
        ),
        Figure(
            "of which app.py's init: redirect.warm_up()",
            init * ms,
            "ms",
            note="self time of `app`: building ua-parser's regex sets and the bot patterns",
        ),
        Figure(
            "of which imports (app.py's and the first request's)",
            (whole - init) * ms,
            "ms",
            base * ms,
            base_name,
            note="boto3, chalice, chalicelib, ua-parser, the crawler list",
        ),
        Figure(
            "imports the first request adds (boto3, the redirect handler)",
            deferred * ms,
            "ms",
            note="imported by app.redirect_handler(), not by `import app`",
        ),
        Figure(
            "first click on a link with device/os/browser rules: ua-parser",
            median(parses) * ms,
            "ms",
            note="loading ua-parser and building its regex sets, once per container; links "
            "without such rules never pay it (the archiver parses for the lake)",
        ),
    ]
    result.notes.append(
        f"Lambda environment: AWS_LAMBDA_FUNCTION_NAME=rebound-{STAGE}, REBOUND_STAGE={STAGE}; "
        f"empty interpreter's start-up imports ({empty * ms:.1f} ms) subtracted from both; "
        f"{subject[0].modules} modules imported by `{SUBJECT}`, "
        f"{samples['baseline'][0].modules} by `{BASELINE}`. The budget compares everything a "
        "cold start imports and initialises before its first redirect; `import app` alone "
        "leaves boto3 to the first request, so it is not the budgeted figure."
    )
    result.seconds = time.perf_counter() - started
    return result
