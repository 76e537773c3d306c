"""One hour's stats rows, per dimension, from its compacted Parquet and its platform outcomes.

DuckDB counts; Python only builds the sketches (from DuckDB's sorted distinct visitor lists, so the
sketch bytes never depend on the order rows were read in) and assembles ``Stats`` rows.

What is counted where:

- clicks: in the hour of the click (``ts``), for the link, its campaign, every audience it feeds
  (``audiences.py``), every platform it queued an event for, and the total;
- human clicks: ``is_bot`` false; bot clicks: the rest; unique visitors: distinct ``visitor_id``
  of human clicks; audience members: the same, less visitors who denied consent; an engagement
  tier's members (``min_clicks``, ``exclude_converted``): the visitors who qualified in the hour,
  one per tier event the dispatcher recorded (``<click id>:<tier id>``, any outcome; a visitor
  qualifies once per window, so the window's union counts each once);
- conversions: in the hour they arrived (``ts``), for their link, campaign, audiences and
  platforms; revenue per event and currency (values without a currency are not revenue);
- platform events: in the hour the dispatcher recorded the outcome, for the platform, the short
  link it names (``source_url``), that link's campaign and audiences, and the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from chalicelib.dispatch.tiers import TIER_EVENT_SEPARATOR
from chalicelib.lake.schema import CLICK_COLUMNS, CONVERSION_COLUMNS, sql_empty
from chalicelib.rollup import sketch
from chalicelib.rollup.audiences import Catalog
from chalicelib.rollup.compact import literal
from chalicelib.rollup.metrics import (
    AUDIENCE,
    CAMPAIGN,
    LINK,
    PLATFORM,
    TOTAL,
    Stats,
    sort_key,
)

_HUMAN = "is_bot IS FALSE"
_MEMBER = f"{_HUMAN} AND consent IS DISTINCT FROM 'denied'"
_LINK = "lower(domain) || '/' || lower(slug)"
# One string per (link, campaign, tags) as a click recorded them: the unit audiences are decided for.
_VARIANT = (
    "lower(domain) || chr(30) || lower(slug) || chr(30) || coalesce(campaign, chr(0)) || chr(30) "
    "|| coalesce(array_to_string(list_sort(tags), chr(31)), '')"
)
_OUTCOME_LINK = (
    "lower(nullif(regexp_extract(source_url, '^[A-Za-z]+://([^/?#]+)/', 1), '')) || '/' || "
    "lower(nullif(regexp_extract(source_url, '^[A-Za-z]+://[^/?#]+/([^/?#]+)', 1), ''))"
)


def aggregate(
    con: Any,
    catalog: Catalog,
    *,
    clicks: Sequence[Path] = (),
    conversions: Sequence[Path] = (),
    outcomes: Sequence[Path] = (),
) -> dict[str, Stats]:
    """sk → Stats for one hour. ``clicks``/``conversions``: its compacted Parquet files;
    ``outcomes``: its ``platform-events/`` JSON-lines files."""
    rows: dict[str, Stats] = {}

    def row(dim: str, key: str) -> Stats:
        sk = sort_key(dim, key)
        if sk not in rows:
            rows[sk] = Stats(members=0 if dim == AUDIENCE else None)
        return rows[sk]

    _views(con, clicks, conversions, outcomes)
    _audience_tables(con, catalog)

    click_sources = {
        TOTAL: ("''", "c"),
        LINK: ("link", "c"),
        CAMPAIGN: ("campaign", "c"),
        AUDIENCE: ("audience", "c JOIN click_audiences USING (variant)"),
    }
    for dim, (key, source) in click_sources.items():
        members = dim == AUDIENCE
        sql = (
            f"SELECT {key} AS key, {', '.join(_click_columns('true'))}, "
            + (
                f"count(DISTINCT visitor_id) FILTER ({_MEMBER}), "
                f"list(DISTINCT visitor_id ORDER BY visitor_id) FILTER ({_MEMBER} AND visitor_id IS NOT NULL), "
                if members
                else "NULL, NULL, "
            )
            + ("arg_max(campaign, ts || click_id) " if dim == LINK else "NULL ")
            + f"FROM {source} WHERE {key} IS NOT NULL GROUP BY 1 ORDER BY 1"
        )
        for k, *clicks, nmembers, mlist, campaign in con.execute(sql).fetchall():
            r = row(dim, k)
            _set_clicks(r, clicks)
            if members:
                r.members = nmembers
                r.members_sketch = sketch.build(mlist or ())
            if dim == LINK:
                r.campaign = campaign
    for platform, clicks in _platform_clicks(con).items():
        _set_clicks(row(PLATFORM, platform), clicks)
    for tier, qualified in _tier_members(con, catalog.tiers()).items():
        if qualified or sort_key(AUDIENCE, tier) in rows:
            r = row(AUDIENCE, tier)
            r.members = len(qualified)
            r.members_sketch = sketch.build(qualified)

    campaigns = dict(con.execute("SELECT link, campaign FROM link_campaigns").fetchall())
    conversion_sources = {
        TOTAL: ("''", "v"),
        LINK: ("link", "v"),
        CAMPAIGN: ("campaign", "v"),
        PLATFORM: ("platform", "(SELECT *, unnest(platforms) AS platform FROM v)"),
        AUDIENCE: ("audience", "v JOIN link_audiences USING (link)"),
    }
    for dim, (key, source) in conversion_sources.items():
        sql = (
            f"SELECT {key} AS key, coalesce(event, '(none)') AS event, "  # noqa: S608
            "upper(currency) AS currency, count(*), "
            "sum(CAST(value AS DECIMAL(38, 4))) FILTER (value IS NOT NULL AND currency IS NOT NULL) "
            f"FROM {source} WHERE {key} IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        for k, event, currency, n, revenue in con.execute(sql).fetchall():
            r = row(dim, k)
            r.conversions[event] = r.conversions.get(event, 0) + n
            if currency is not None and revenue is not None:
                by_currency = r.revenue.setdefault(event, {})
                by_currency[currency] = by_currency.get(currency, Decimal(0)) + Decimal(revenue)
            if dim == LINK and r.campaign is None:
                r.campaign = campaigns.get(k)

    outcome_sources = {
        TOTAL: ("''", "o"),
        LINK: ("link", "o"),
        CAMPAIGN: ("campaign", "o LEFT JOIN link_campaigns USING (link)"),
        PLATFORM: ("platform", "o"),
        AUDIENCE: ("audience", "o JOIN link_audiences USING (link)"),
    }
    for dim, (key, source) in outcome_sources.items():
        sql = (
            f"SELECT {key} AS key, coalesce(status, 'unknown'), sum(n) "  # noqa: S608
            f"FROM {source} WHERE {key} IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
        )
        for k, status, n in con.execute(sql).fetchall():
            r = row(dim, k)
            r.platform_events[status] = r.platform_events.get(status, 0) + n
            if dim == LINK and r.campaign is None:
                r.campaign = campaigns.get(k)
    return dict(sorted(rows.items()))


def _platform_clicks(con: Any) -> dict[str, tuple[Any, ...]]:
    """platform → (clicks, human, bots, denied, visitors, sorted distinct visitor list): the click
    columns for every platform a click of the hour names.

    One scan without GROUP BY, one set of filtered aggregates per platform (a handful at most):
    grouping the unnested platforms instead sorts the visitor lists of a few huge groups, several
    times slower. The same rows count as with ``unnest`` (``platforms`` is de-duplicated in ``c``).
    """
    names = sorted(
        {
            p
            for (ps,) in con.execute("SELECT DISTINCT platforms FROM c").fetchall()
            for p in ps or ()
        }
        - {None}
    )
    if not names:
        return {}
    columns = [
        c for name in names for c in _click_columns(f"list_contains(platforms, {literal(name)})")
    ]
    values = con.execute(f"SELECT {', '.join(columns)} FROM c").fetchone()  # noqa: S608
    width = len(columns) // len(names)
    return {name: tuple(values[width * i : width * (i + 1)]) for i, name in enumerate(names)}


def _tier_members(con: Any, tiers: Sequence[str]) -> dict[str, list[str]]:
    """tier → the sorted ids of its events in the hour's outcomes (one per qualified visitor),
    for every tier; empty for a tier without events."""
    out: dict[str, list[str]] = {t: [] for t in tiers}
    if not out:
        return out
    for (event_id,) in con.execute("SELECT event_id FROM tier_events ORDER BY 1").fetchall():
        tier = event_id.rpartition(TIER_EVENT_SEPARATOR)[2]
        if tier in out:
            out[tier].append(event_id)
    return out


def _click_columns(where: str) -> list[str]:
    """The click statistics of the rows ``where`` holds: clicks, human, bots, denied (human),
    visitors, the sorted distinct visitor ids (for the sketch)."""
    return [
        f"count(*) FILTER ({where})",
        f"count(*) FILTER ({where} AND {_HUMAN})",
        f"count(*) FILTER ({where} AND NOT ({_HUMAN}))",
        f"count(*) FILTER ({where} AND {_HUMAN} AND consent = 'denied')",
        f"count(DISTINCT visitor_id) FILTER ({where} AND {_HUMAN})",
        f"list(DISTINCT visitor_id ORDER BY visitor_id) "
        f"FILTER ({where} AND {_HUMAN} AND visitor_id IS NOT NULL)",
    ]


def _set_clicks(r: Stats, values: Sequence[Any]) -> None:
    """A row's click statistics from the values of ``_click_columns``."""
    n, human, bots, denied, visitors, vlist = values
    r.clicks, r.human_clicks, r.bot_clicks, r.denied_clicks = n, human, bots, denied
    r.visitors = visitors
    r.visitors_sketch = sketch.build(vlist or ())


def counts(rows: dict[str, Stats]) -> dict[str, int]:
    """Rows behind the hour's stats: clicks, conversions, platform events (the total row's)."""
    total = rows.get(sort_key(TOTAL, "")) or Stats()
    return {
        "clicks": total.clicks,
        "conversions": sum(total.conversions.values()),
        "platform_events": sum(total.platform_events.values()),
    }


def _files(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(literal(str(p)) for p in paths) + "]"


def _views(
    con: Any, clicks: Sequence[Path], conversions: Sequence[Path], outcomes: Sequence[Path]
) -> None:
    source = f"read_parquet({_files(clicks)})" if clicks else f"({sql_empty(CLICK_COLUMNS)})"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW c AS SELECT lower(domain) AS domain, slug, "  # noqa: S608
        f"{_LINK} AS link, campaign, tags, is_bot, consent, visitor_id, ts, click_id, "
        f"list_distinct(platforms) AS platforms, {_VARIANT} AS variant FROM {source}"
    )
    if conversions:
        source = f"read_parquet({_files(conversions)})"
    else:
        source = f"({sql_empty(CONVERSION_COLUMNS)})"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW v AS SELECT lower(domain) AS domain, "  # noqa: S608
        f"{_LINK} AS link, campaign, event, value, currency, "
        f"list_distinct(platforms) AS platforms FROM {source}"
    )
    # The engagement tiers' events (page views whose id is <click id>:<tier id>), once each.
    tier_source = "(SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS kind WHERE false)"
    if outcomes:
        tier_source = (
            f"read_json({_files(outcomes)}, format = 'newline_delimited', compression = 'gzip', "
            "columns = {'event_id': 'VARCHAR', 'kind': 'VARCHAR'}, ignore_errors = true)"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE tier_events AS SELECT DISTINCT event_id "  # noqa: S608
        f"FROM {tier_source} WHERE kind = 'page_view' "
        f"AND contains(event_id, {literal(TIER_EVENT_SEPARATOR)})"
    )
    if outcomes:
        source = (
            "(SELECT DISTINCT platform, event_id, status, source_url FROM read_json("  # noqa: S608
            f"{_files(outcomes)}, "
            "format = 'newline_delimited', compression = 'gzip', columns = {'platform': 'VARCHAR', "
            "'event_id': 'VARCHAR', 'status': 'VARCHAR', 'source_url': 'VARCHAR'}, "
            "ignore_errors = true))"
        )
    else:
        source = (
            "(SELECT NULL::VARCHAR AS platform, NULL::VARCHAR AS event_id, "
            "NULL::VARCHAR AS status, NULL::VARCHAR AS source_url WHERE false)"
        )
    # One row per (platform, event, outcome): a retried dispatcher batch records the same again.
    # Counted per short link first, so the link is parsed once per link, not once per event.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE o AS SELECT platform, status, "  # noqa: S608
        f"{_OUTCOME_LINK} AS link, n FROM (SELECT platform, status, source_url, count(*) AS n "
        f"FROM {source} GROUP BY ALL)"
    )


def _audience_tables(con: Any, catalog: Catalog) -> None:
    """click_audiences(variant, audience), link_audiences(link, audience), link_campaigns(link,
    campaign): the config's verdicts for what this hour's rows name."""
    latest: dict[str, tuple[str, str | None, list[str]]] = {}
    click_audiences: list[tuple[str, str]] = []
    variants = con.execute(
        "SELECT variant, any_value(domain), any_value(slug), any_value(campaign), "
        "any_value(list_sort(tags)), any_value(link), max(ts || click_id) "
        "FROM c WHERE variant IS NOT NULL GROUP BY variant ORDER BY variant"
    ).fetchall()
    for variant, domain, slug, campaign, tags, link, last in variants:
        for audience in catalog.audiences_for(domain, slug, campaign, tags):
            click_audiences.append((variant, audience))
        if link not in latest or last > latest[link][0]:
            latest[link] = (last, campaign, list(tags or []))

    link_audiences: list[tuple[str, str]] = []
    link_campaigns: list[tuple[str, str | None]] = []
    named = con.execute(
        "SELECT link FROM c WHERE link IS NOT NULL UNION SELECT link FROM v WHERE link IS NOT NULL "
        "UNION SELECT link FROM o WHERE link IS NOT NULL ORDER BY 1"
    ).fetchall()
    for (link,) in named:
        if link in latest:
            _, campaign, tags = latest[link]
        else:
            campaign, tags = catalog.link_attributes(link) or (None, [])
        domain, _, slug = link.partition("/")
        link_campaigns.append((link, campaign))
        link_audiences.extend(
            (link, a) for a in catalog.audiences_for(domain, slug, campaign, tags)
        )

    for name, columns, values in (
        ("click_audiences", "variant VARCHAR, audience VARCHAR", click_audiences),
        ("link_audiences", "link VARCHAR, audience VARCHAR", link_audiences),
        ("link_campaigns", "link VARCHAR, campaign VARCHAR", link_campaigns),
    ):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({columns})")
        if values:
            con.executemany(f"INSERT INTO {name} VALUES (?, ?)", values)  # noqa: S608
