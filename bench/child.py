"""A redirect process, started fresh by the memory benchmark: ``python -m bench.child``.

``subject``: imports app.py as the redirect Lambda would (warm-up included) and serves redirects
through the Lambda handler. ``baseline``: the bare Chalice function of bench/baseline_app.py,
with its clients created at import as a typical Chalice app does. AWS is whatever the
environment names (a moto server on loopback), unless ``--moto`` puts moto in this process.
Prints one JSON line: times in seconds, peak RSS in KiB at each step.
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def peak_rss_kib() -> int:
    """This process's peak RSS in KiB: VmHWM, else ru_maxrss.

    On Linux ru_maxrss survives fork and exec: a child started by a big parent (this benchmark,
    with moto loaded) reports the parent's peak until it outgrows it. VmHWM belongs to the
    process's own address space, which exec replaces.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=["subject", "baseline"])
    parser.add_argument("--redirects", type=int, default=1000)
    parser.add_argument("--moto", action="store_true", help="moto in this process")
    args = parser.parse_args()
    out: dict[str, float] = {"start_rss": peak_rss_kib()}

    if args.moto:
        from moto import mock_aws

        from bench.stack import apply_links
        from infra.provision import local_environment, provision

        mock_aws().start()
        local_environment(provision())
        apply_links()
        out["moto_rss"] = peak_rss_kib()

    from bench.apigw import LambdaContext, rest_event
    from bench.stack import CHROME, HOST, SLUG

    t0 = time.perf_counter()
    if args.side == "subject":
        import app  # the redirect Lambda's handler module: imports + warm-up

        handler, prepare = app.app, app.redirect_handler
    else:
        from bench.baseline_app import baseline_app
        from chalicelib.aws.clients import client
        from chalicelib.aws.names import Names

        names = Names.from_env()
        handler = baseline_app(
            dynamodb=client("dynamodb", hot=True),
            kinesis=client("kinesis", hot=True),
            links_table=names.links_table,
            stream=names.clicks_stream,
            record=b'{"kind":"click"}' * 40,
            cached=True,
        )
        prepare = None
    out["import_s"] = time.perf_counter() - t0
    out["import_rss"] = peak_rss_kib()

    event = rest_event(f"/{SLUG}", host=HOST, user_agent=CHROME, query="fbclid=IwAR2xYz")
    context = LambdaContext()
    t0 = time.perf_counter()
    if prepare is not None:
        prepare()  # what the first request does first: boto3 and the clients
    out["clients_s"] = time.perf_counter() - t0
    out["clients_rss"] = peak_rss_kib()
    response = handler(event, context)
    out["first_s"] = time.perf_counter() - t0
    if response["statusCode"] != 302:
        raise SystemExit(f"expected a 302, got {response}")
    out["first_rss"] = peak_rss_kib()

    latencies = []
    for _ in range(args.redirects):
        t0 = time.perf_counter()
        response = handler(event, context)
        latencies.append(time.perf_counter() - t0)
        if response["statusCode"] != 302:
            raise SystemExit(f"expected a 302, got {response}")
    latencies.sort()
    out["median_s"] = latencies[len(latencies) // 2] if latencies else 0.0
    out["end_rss"] = peak_rss_kib()
    out["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
