"""`rebound`: links as code, the local stack, and the lake, from the command line.

Exit codes: 0 success, 1 a user error (the message names the file, line and field), 2 a usage error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from chalicelib.platforms import registry
from rebound import target

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(click.ClickException):
    """A problem with what the user gave us: printed plainly, exit 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        err.print(f"[red]error:[/red] {self.message}", markup=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--local", "local", is_flag=True, help="Work on the running local stack (make run).")
@click.option("--stage", default=None, help="Stage whose resources to use (default: dev).")
@click.pass_context
def main(ctx: click.Context, local: bool, stage: str | None) -> None:
    """Rebound: retargeting links on AWS serverless."""
    if local and ctx.invoked_subcommand != "local":
        target.use_local()
        if not target.local_stack_running():
            raise UserError(
                f"no local stack is listening on {target.local_endpoint()}: "
                "start it with `make run` (or `rebound local`) in another terminal"
            )
    if stage:
        os.environ["REBOUND_STAGE"] = stage


def _load(file: str):
    """The config, validated for the target stage: secrets its functions may read, endpoint
    overrides only where the stage permits them."""
    from chalicelib.aws.names import Names
    from chalicelib.config.loader import ConfigError, load_config
    from chalicelib.platforms.endpoints import stage_allows_endpoints

    stage = Names.from_env().stage
    try:
        return load_config(file, stage=stage, allow_endpoints=stage_allows_endpoints(stage))
    except ConfigError as exc:
        for line in str(exc).splitlines():
            err.print(line, markup=False)
        n = len(exc.issues)
        raise UserError(f"{file}: {n} error{'s' * (n != 1)}, nothing was changed") from None


def _store():
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from chalicelib.links.store import ConfigStore

    return ConfigStore(client("dynamodb"), Names.from_env().links_table)


def _read_live(store) -> dict:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return store.read_all()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise UserError(
                f"table {store.table} does not exist: is the stack deployed for this stage "
                f"({os.environ.get('REBOUND_STAGE', 'dev')})?"
            ) from None
        raise UserError(f"reading {store.table}: {exc}") from None
    except BotoCoreError as exc:
        raise UserError(f"cannot reach AWS: {exc}") from None


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a config file; print every error as FILE:LINE:COL field: message."""
    config = _load(file)
    out.print(
        f"{file}: ok ({len(config.domains)} domains, {len(config.links)} links, "
        f"{len(config.audiences)} audiences, {len(config.platform_specs())} platforms)"
    )


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prune", is_flag=True, help="Also plan deleting what FILE does not name.")
def plan(file: str, prune: bool) -> None:
    """Show what `apply` would change (after finishing an interrupted apply, if any)."""
    from chalicelib.links.plan import Specs, make_plan

    config = _load(file)
    store = _store()
    live = _read_live(store)
    journal, progress = _pending(store, live)
    if journal is not None:
        _report_pending(journal, progress, store.clock())
    projected = progress.projected(live) if progress else live
    _show_plan(make_plan(Specs.from_config(config), projected, prune=prune), file, journal)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prune", is_flag=True, help="Delete links (and other entries) not in FILE.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def apply(file: str, prune: bool, yes: bool) -> None:
    """Apply a config: all or nothing, refusing concurrent edits.

    An apply that was interrupted is finished first (or rolled back, when someone changed what
    it still had to write); this file's changes are planned against the result.
    """
    from chalicelib.links.plan import Specs, make_plan
    from chalicelib.links.store import ApplyInProgressError, ConcurrentChangeError

    config = _load(file)  # validated in full before anything is written
    store = _store()
    live = _read_live(store)
    journal, progress = _pending(store, live)
    if journal is not None:
        if not journal.stale(store.clock()):
            raise UserError(str(ApplyInProgressError(journal)))
        _report_pending(journal, progress, store.clock())
    projected = progress.projected(live) if progress else live
    the_plan = make_plan(Specs.from_config(config), projected, prune=prune)
    _show_plan(the_plan, file, journal)
    if the_plan.empty and journal is None:
        return
    if not yes:
        _confirm()
    try:
        if journal is not None:
            finished, total = store.recover(journal)
            out.print(
                f"Finished the interrupted apply: {finished} remaining of {total} writes done."
            )
        if not the_plan.empty:
            _seed_local_secrets(config)
            store.write(the_plan.writes(), source=_source(file))
    except (ConcurrentChangeError, ApplyInProgressError) as exc:
        raise UserError(str(exc)) from None
    except _aws_errors() as exc:
        raise UserError(_failed_apply(store, exc)) from None
    if not the_plan.empty:
        out.print(
            f"[green]Applied[/green]: {the_plan.count('create')} created, "
            f"{the_plan.count('update')} updated, {the_plan.count('delete')} deleted."
        )


def _seed_local_secrets(config) -> None:
    """On the local stack, a new credential reference gets a random local value, as the stack's
    own start does (rebound.local.seed_secrets): a new domain's postbacks can be signed at once."""
    if os.environ.get("REBOUND_STAGE") != target.LOCAL_STAGE or not target.local_stack_running():
        return
    from rebound.local import seed_secrets

    created = seed_secrets(config)
    if created:
        out.print(f"Seeded {len(created)} local secret(s): {', '.join(created)}")


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _source(file: str) -> str:
    """What the journal says about who applies what, for the next person who finds it."""
    import getpass
    import socket

    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no user name in this environment: the file alone will do
        return file
    return f"{file} by {who}"


def _pending(store, live: dict):
    """The journal of a running or interrupted apply and where it stands, or (None, None)."""
    try:
        journal = store.journal()
    except _aws_errors() as exc:
        raise UserError(f"reading {store.table}: {exc}") from None
    if journal is None:
        return None, None
    return journal, journal.progress(live)


def _when(epoch: float) -> str:
    from chalicelib.links.store import utc

    return utc(epoch)


def _report_pending(journal, progress, now: float) -> None:
    from chalicelib.links.journal import LOCK_TIMEOUT_SECONDS

    what = journal.source or f"plan {journal.plan_id}"
    if journal.writes is None:
        out.print(
            f"[yellow]An apply ({what}) was interrupted before it wrote anything; "
            "the next apply clears its lock.[/yellow]",
            markup=True,
        )
        return
    done = f"{len(progress.done)} of {progress.total} writes done"
    if not journal.stale(now):
        out.print(
            f"[yellow]Another apply is in progress, or was interrupted less than "
            f"{LOCK_TIMEOUT_SECONDS:.0f} s ago ({what}, started {_when(journal.started_at)}): "
            f"{done}. If nothing is running, apply again after "
            f"{_when(journal.updated_at + LOCK_TIMEOUT_SECONDS)} to finish it; this plan assumes "
            "it finishes.[/yellow]",
            markup=True,
        )
    elif progress.finishable:
        out.print(
            f"[yellow]An apply was interrupted at {_when(journal.updated_at)}: {done} ({what}, "
            "plan " + journal.plan_id + "); the next apply finishes it before its own changes, "
            "and this plan is against the result.[/yellow]",
            markup=True,
        )
    else:
        changed = ", ".join(w.pk for w in progress.changed)
        out.print(
            f"[yellow]An apply was interrupted at {_when(journal.updated_at)}: {done} ({what}, "
            f"plan {journal.plan_id}); it cannot be finished because {changed} changed since, so "
            "the next apply rolls it back, and this plan is against the result.[/yellow]",
            markup=True,
        )


def _failed_apply(store, exc: Exception) -> str:
    try:
        left = store.journal()
    except Exception:  # AWS is still failing: assume the worst, say what to do
        left = True
    if left is None:
        return f"AWS refused the apply ({exc}); it was rolled back: nothing was changed"
    return (
        f"AWS failed during the apply ({exc}) and it could not be rolled back; "
        "`rebound plan` shows where it stopped, and the next apply finishes it"
    )


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file.")
def export(output: str | None) -> None:
    """Write the live config as YAML (round-trips with apply)."""
    from chalicelib.config.loader import dump_config_yaml
    from chalicelib.links.plan import Specs

    specs = Specs.from_live(_read_live(_store()))
    text = dump_config_yaml(
        specs.domains, specs.platforms, specs.audiences, specs.links, specs.webhooks
    )
    if output:
        Path(output).write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the config file (for editors)."""
    from chalicelib.config.loader import config_schema

    click.echo(json.dumps(config_schema(), indent=2))


@main.command()
@click.argument("sql", required=False)
@click.option("--saved", help="Run a saved query from athena/queries/ by name.")
@click.option("--list", "list_", is_flag=True, help="List the saved queries.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--no-sync", is_flag=True, help="Query the local cache without syncing the lake.")
def query(sql: str | None, saved: str | None, list_: bool, fmt: str, no_sync: bool) -> None:
    """DuckDB over the lake: the local twin of Athena (same tables, same saved queries)."""
    from rebound import query as lake_query

    if list_:
        for q in lake_query.list_saved():
            out.print(f"{q.name:<20} {q.description}", markup=False)
        return
    if bool(sql) == bool(saved):
        raise click.UsageError("give either SQL or --saved NAME (not both)")
    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names

    try:
        with lake_query.progress_bar() as progress:
            text = lake_query.run_query(
                sql,
                saved,
                s3_client=client("s3"),
                bucket=Names.from_env().lake_bucket_name(),
                fmt=fmt,
                sync=not no_sync,
                progress=progress,
            )
    except lake_query.QueryError as exc:
        raise UserError(str(exc)) from None
    click.echo(text, nl=False)


@main.command("platform-requests")
@click.option(
    "--platform",
    type=click.Choice(registry.NAMES),
)
@click.option("--last", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the full requests as JSON.")
def platform_requests(platform: str | None, last: int, as_json: bool) -> None:
    """Requests recorded for the platforms (dry run), newest last."""
    from rich.table import Table

    from chalicelib.aws.clients import client
    from chalicelib.aws.names import Names
    from rebound.requests_log import recent_requests

    found = recent_requests(client("s3"), Names.from_env().lake_bucket_name(), platform, last)
    if as_json:
        click.echo(json.dumps(found, indent=2, sort_keys=True))
        return
    if not found:
        out.print("No platform requests recorded yet.")
        return
    table = Table("time", "platform", "request", "events", "first event")
    for r in found:
        body = r.get("body") if isinstance(r.get("body"), dict) else {}
        data = body.get("data") or body.get("events") or body.get("elements") or []
        first = data[0] if isinstance(data, list) and data else {}
        name = first.get("event_name") or first.get("event") or first.get("name") or ""
        table.add_row(
            r["ts"], r["platform"], f"{r['method']} {r['url']}", str(len(r["event_ids"])), str(name)
        )
    out.print(table)


@main.command()
@click.option("--domain", required=True, help="The domain the postback goes to (its secret signs).")
@click.option(
    "--t", "timestamp", type=int, default=None, help="Unix time to sign at (default now)."
)
@click.argument("body_file", type=click.File("rb"))
def sign(domain: str, timestamp: int | None, body_file) -> None:
    """Print the Rebound-Signature header value for a conversion postback body (BODY_FILE, - for stdin)."""
    from botocore.exceptions import BotoCoreError

    from rebound.sign import SignError, header_for_domain

    body = body_file.read()
    if len(body) > 64 * 1024:
        raise UserError(f"{body_file.name}: {len(body):,} bytes; a postback body is at most 64 KiB")
    try:
        click.echo(header_for_domain(domain, body, t=timestamp))
    except SignError as exc:
        raise UserError(str(exc)) from None
    except BotoCoreError as exc:
        raise UserError(f"reading the domain's secret: {exc}") from None


@main.command()
@click.option("--port", type=int, default=None, help="API port (default $REBOUND_PORT or 8000).")
def local(port: int | None) -> None:
    """Run the local stack in the foreground (what `make run` runs)."""
    from rebound.local import run_local_stack

    run_local_stack(api_port=port)


def _confirm() -> None:
    if not sys.stdin.isatty():
        raise click.UsageError("not a terminal: pass --yes to apply without confirmation")
    click.confirm("Apply these changes?", abort=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "(unset)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _show_plan(the_plan, file: str, pending: Any = None) -> None:
    if the_plan.empty and pending is not None:
        out.print(f"No changes besides that: the live config will then match {file}.")
        return
    if the_plan.empty:
        out.print(f"No changes: the live config already matches {file}.")
        return
    marks = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}
    for c in the_plan.changes:
        mark, color = marks[c.action]
        out.print(f"[{color}]{mark} {c.kind} {c.label}[/{color}]", markup=True)
        if c.action == "create" and c.kind == "link":
            out.print(f"    url: {c.after['spec']['url']}", markup=False)
        for d in c.diffs:
            out.print(f"    {d.path}: {_fmt(d.before)} → {_fmt(d.after)}", markup=False)
    out.print(
        f"Plan: {the_plan.count('create')} to create, {the_plan.count('update')} to update, "
        f"{the_plan.count('delete')} to delete."
    )


# --- Statistics (chalicelib/rollup/report.py; text and page: rebound/stats.py, report.py) ---


@main.command()
@click.option(
    "--hour",
    "hours",
    multiple=True,
    metavar="YYYY-MM-DDTHH",
    help="Hour to roll up (UTC); repeatable. Always rolled up again.",
)
@click.option(
    "--since", metavar="DURATION", help="Every hour of the last 48h, 7d, ...: a backfill."
)
@click.option("--force", is_flag=True, help="Also hours whose lake objects have not changed.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def rollup(hours: tuple[str, ...], since: str | None, force: bool, as_json: bool) -> None:
    """Run the rollup now (idempotent): Parquet compaction and statistics for the recent hours."""
    from botocore.exceptions import BotoCoreError, ClientError
    from rich.progress import Progress
    from rich.table import Table

    from chalicelib.rollup.report import StatsError, parse_since
    from rebound import stats as rb_stats

    if hours and since:
        raise click.UsageError("give --hour or --since, not both")
    if since is not None:
        try:
            parse_since(since, rb_stats.utc_now())
        except StatsError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("rolling up", total=None)
        try:
            report = rb_stats.run_rollup(
                hours=hours or None,
                since=since,
                force=force or bool(hours),
                progress=lambda result: bar.update(task, advance=1, description=result.hour),
            )
        except StatsError as exc:
            raise UserError(str(exc)) from None
        except (BotoCoreError, ClientError) as exc:
            raise UserError(f"rolling up: {exc}") from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    table = Table("hour", "status", "clicks", "conversions", "platform events", "parquet", "s")
    for h in report.hours:
        if h.status in ("empty", "unchanged") and not hours:
            continue
        table.add_row(
            h.hour,
            h.status + (f" ({h.note})" if h.note else ""),
            f"{h.clicks:,}",
            f"{h.conversions:,}",
            f"{h.platform_events:,}",
            "yes" if h.compacted else "no",
            f"{h.seconds:.1f}",
        )
    if table.rows:
        out.print(table)
    summary = report.summary()
    out.print(
        f"{len(summary['rolled'])} hours rolled up, {summary['unchanged']} unchanged"
        + (f", days updated: {', '.join(report.days)}" if report.days else "")
        + (f", [red]{len(summary['failed'])} failed[/red]" if summary["failed"] else "")
    )
    if summary["failed"]:
        raise SystemExit(1)


@main.command()
@click.option("--link", metavar="DOMAIN/SLUG", help="One link.")
@click.option("--campaign", help="One campaign (and its links).")
@click.option("--audience", help="One audience (and the links that feed it).")
@click.option("--since", default="7d", show_default=True, help="Window: 48h, 7d, 30d, 2w ...")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON, for scripts.")
@click.option(
    "--html", "html_file", type=click.Path(dir_okay=False), help="Write a page with charts."
)
def stats(
    link: str | None,
    campaign: str | None,
    audience: str | None,
    since: str,
    as_json: bool,
    html_file: str | None,
) -> None:
    """Clicks, visitors, funnels, audience sizes and platform events, from the rollup."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.rollup.report import StatsError, collect, parse_since
    from rebound import stats as rb_stats

    now = rb_stats.utc_now()
    try:
        window = parse_since(since, now)
    except StatsError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    try:
        report = collect(
            rb_stats.stats_store(),
            rb_stats.live_catalog(),
            window,
            link=link,
            campaign=campaign,
            audience=audience,
            now=now,
        )
    except StatsError as exc:
        raise UserError(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        raise UserError(f"reading the statistics: {exc}") from None
    if html_file:
        from rebound.report import render_html

        try:
            Path(html_file).write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {html_file}: {exc.strerror or exc}") from None
        err.print(f"wrote {html_file}", markup=False)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif not html_file:
        rb_stats.render_text(report, out)


if __name__ == "__main__":  # pragma: no cover
    main()
