"""Cold start: what `import app` costs the redirect Lambda, vs `import boto3, chalice.app`.

Each import runs in a fresh interpreter with ``-X importtime`` and a clean environment, as Lambda
would start it (the stage's names, a region, the function's name; no AWS endpoint, no keys).
The figure is the sum of the top-level cumulative times, less what an empty interpreter
(``-c pass``) imports at start-up, median of several runs interleaved subject/baseline/empty.

``import app`` in the redirect Lambda also runs ``redirect.warm_up()`` (ua-parser's regexes, the
bot patterns): that is app.py's own body, the ``self`` time of ``app`` in the same report, and is
counted separately from the imports. What app.py defers (boto3 and the clients: first request)
is measured by the `memory` benchmark's first redirect.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Budget, Figure, Result, median

NAME = "cold-start"
TITLE = "Cold start: import app vs import boto3, chalice.app (-X importtime)"
PARAMS: dict[str, dict[str, int]] = {"full": {"runs": 9}, "quick": {"runs": 3}, "tiny": {"runs": 1}}
BUDGET = Budget(1.2)
PROJECT = Path(__file__).resolve().parent.parent
STAGE = "dev"

SUBJECT = "import app"
BASELINE = "import boto3, chalice.app"
EMPTY = "pass"


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
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "REBOUND_STAGE": STAGE,
        "REBOUND_LINK_CACHE_TTL": "30",
    }
    env.update(extra)
    return env


@dataclass(frozen=True)
class ImportReport:
    total_us: int  # sum of top-level cumulative times
    self_us: dict[str, int]  # module -> self time
    modules: int


def parse_importtime(stderr: str) -> ImportReport:
    """Read ``-X importtime`` output: ``import time: self [us] | cumulative | imported package``."""
    total, selfs, count = 0, {}, 0
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
    return ImportReport(total, selfs, count)


def importtime(code: str, env: dict[str, str]) -> ImportReport:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"python -c {code!r} failed:\n{proc.stderr[-2000:]}")
    return parse_importtime(proc.stderr)


def run(*, runs: int) -> Result:
    started = time.perf_counter()
    result = Result(NAME, TITLE, params={"runs": runs, "stage": STAGE})
    env = lambda_env()
    samples: dict[str, list[ImportReport]] = {"subject": [], "baseline": [], "empty": []}
    order = [("subject", SUBJECT), ("baseline", BASELINE), ("empty", EMPTY)]
    for i in range(runs):
        for key, code in order if i % 2 == 0 else reversed(order):
            samples[key].append(importtime(code, env))

    empty = median([r.total_us for r in samples["empty"]])
    base = median([r.total_us for r in samples["baseline"]]) - empty
    app_self = [r.self_us.get("app", 0) for r in samples["subject"]]
    imports = median([r.total_us - r.self_us.get("app", 0) for r in samples["subject"]]) - empty
    init = median(app_self)
    whole = median([r.total_us for r in samples["subject"]]) - empty
    base_name = f"`{BASELINE}`"
    result.figures += [
        Figure(
            "import app: imports (all but app.py's own body)",
            imports / 1000,
            "ms",
            base / 1000,
            base_name,
            BUDGET,
            note="ua-parser and the bot list included (warm_up imports them)",
        ),
        Figure(
            "import app: init work in app.py's body (redirect.warm_up())",
            init / 1000,
            "ms",
            base / 1000,
            base_name,
            note="self time of `app`: compiling ua-parser's regexes and the bot patterns",
        ),
        Figure(
            "import app: everything (imports + init)", whole / 1000, "ms", base / 1000, base_name
        ),
    ]
    deferred = [m for m in ("boto3", "botocore") if m not in samples["subject"][0].self_us]
    result.notes.append(
        f"Lambda environment: AWS_LAMBDA_FUNCTION_NAME=rebound-{STAGE}, REBOUND_STAGE={STAGE}; "
        f"empty interpreter's start-up imports ({empty / 1000:.1f} ms) subtracted from both; "
        f"{samples['subject'][0].modules} modules imported by `{SUBJECT}`, "
        f"{samples['baseline'][0].modules} by `{BASELINE}`."
    )
    if deferred:
        result.notes.append(
            f"`{SUBJECT}` does not import {' or '.join(deferred)}: the clients are created at the "
            "first request (see the memory benchmark's first redirect)."
        )
    result.seconds = time.perf_counter() - started
    return result
