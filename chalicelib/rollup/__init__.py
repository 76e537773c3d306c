"""The rollup: the lake's hours compacted to Parquet and rolled up into the stats table.

Every run (hourly in production, every minute under the local worker) looks at the open hour and
the last ``LOOKBACK_HOURS`` closed ones, and rolls up each hour whose raw objects changed since it
was last rolled up (new hours, late clicks, platform outcomes):

1. ``compact``: the hour's raw JSON lines → one ZSTD Parquet object under ``clicks_parquet/`` and
   ``conversions_parquet/`` (closed hours only), de-duplicated by ``click_id`` (conversions by
   ``domain`` + ``event_id``), exactly the columns of ``chalicelib.lake.schema``.
2. ``aggregate``: per link, campaign, audience and platform (and in total): clicks, human and
   bot clicks, unique visitors (exact for the hour, plus a HyperLogLog sketch), conversions by
   event, revenue by event and currency, platform events by outcome.
3. ``store``: the hour's rows replace whatever the hour had in the stats table; the day's rows
   are merged again from its hours (sketches merged, never raw data rescanned).

Re-rolling an hour gives byte-identical Parquet and stats items. This package may import duckdb
and datasketches: only the rollup function does; the redirect never imports it.
"""
