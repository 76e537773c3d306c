-- Compacted conversions: Parquet written by the hourly rollup. Same columns as conversions_raw.
-- ${LAKE_BUCKET} is the lake bucket (rebound-<stage>-lake-<account id>): see athena/README.md.
CREATE EXTERNAL TABLE IF NOT EXISTS rebound.conversions (
  `schema`        int                COMMENT 'conversion record version (1)',
  conversion_id   string             COMMENT 'unique per conversion',
  click_id        string             COMMENT 'click it is attributed to (rb_cid), if any',
  ts              string             COMMENT 'when Rebound received it, ISO-8601 UTC',
  domain          string             COMMENT 'short-link domain that received the postback',
  event           string             COMMENT 'lead, purchase or a custom name',
  event_id        string             COMMENT 'merchant dedup id',
  value           double             COMMENT 'monetary value',
  currency        string             COMMENT 'ISO-4217 currency',
  attributed      boolean            COMMENT 'matched to a click',
  campaign        string             COMMENT 'campaign of the attributed click',
  slug            string             COMMENT 'slug of the attributed click',
  event_time      string             COMMENT 'when it happened (merchant), ISO-8601 UTC',
  click_ts        string             COMMENT 'time of the attributed click, ISO-8601 UTC',
  platforms       array<string>      COMMENT 'platforms the conversion event is queued for'
)
COMMENT 'Every conversion (compacted Parquet), partitioned by arrival hour UTC'
PARTITIONED BY (
  dt   string COMMENT 'arrival date UTC, YYYY-MM-DD',
  hour string COMMENT 'arrival hour UTC, 00-23'
)
STORED AS PARQUET
LOCATION 's3://${LAKE_BUCKET}/conversions_parquet/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2025-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://${LAKE_BUCKET}/conversions_parquet/dt=${dt}/hour=${hour}/'
)
