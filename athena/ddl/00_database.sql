-- The Glue database that holds Rebound's lake tables.
CREATE DATABASE IF NOT EXISTS rebound
COMMENT 'Rebound click lake: clicks and conversions (docs/clicks.md)'
