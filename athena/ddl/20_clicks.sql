-- Compacted clicks: Parquet written by the hourly rollup once an hour closes. Same columns as
-- clicks_raw, so a query moves from one to the other by changing the table name.
-- ${LAKE_BUCKET} is the lake bucket (rebound-<stage>-lake-<account id>): see athena/README.md.
CREATE EXTERNAL TABLE IF NOT EXISTS rebound.clicks (
  `schema`        int                COMMENT 'click record version (1)',
  click_id        string             COMMENT 'ULID, time-ordered, unique per click',
  ts              string             COMMENT 'click time, ISO-8601 UTC with milliseconds',
  domain          string             COMMENT 'short-link domain (Host)',
  slug            string             COMMENT 'link slug as configured',
  campaign        string             COMMENT 'link campaign',
  tags            array<string>      COMMENT 'link tags',
  rule            string             COMMENT 'rule or split arm taken',
  status          int                COMMENT 'HTTP status answered',
  destination     string             COMMENT 'URL the visitor was sent to',
  visitor_id      string             COMMENT 'first-party cookie id or daily-salted hash',
  is_bot          boolean            COMMENT 'bot or link-preview fetcher',
  bot_name        string             COMMENT 'which bot, when is_bot',
  country         string             COMMENT 'ISO-3166 alpha-2 country',
  device          string             COMMENT 'ios, android, mobile, tablet or desktop',
  os              string             COMMENT 'operating system family',
  browser         string             COMMENT 'browser family',
  language        string             COMMENT 'primary Accept-Language',
  referrer_host   string             COMMENT 'host of the Referer',
  utm_source      string             COMMENT 'utm_source of the destination',
  utm_medium      string             COMMENT 'utm_medium of the destination',
  utm_campaign    string             COMMENT 'utm_campaign of the destination',
  utm_term        string             COMMENT 'utm_term of the destination',
  utm_content     string             COMMENT 'utm_content of the destination',
  click_ids       map<string,string> COMMENT 'platform click ids (fbclid, gclid, ...)',
  consent         string             COMMENT 'granted, denied or not_required',
  ip_prefix       string             COMMENT 'IPv4 /24 or IPv6 /48, never the full address',
  ua_hash         string             COMMENT 'SHA-256 hex of the user agent',
  platforms       array<string>      COMMENT 'platforms an event was queued for'
)
COMMENT 'Every click (compacted Parquet), partitioned by event hour UTC'
PARTITIONED BY (
  dt   string COMMENT 'event date UTC, YYYY-MM-DD',
  hour string COMMENT 'event hour UTC, 00-23'
)
STORED AS PARQUET
LOCATION 's3://${LAKE_BUCKET}/clicks_parquet/'
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
  'storage.location.template' = 's3://${LAKE_BUCKET}/clicks_parquet/dt=${dt}/hour=${hour}/'
)
