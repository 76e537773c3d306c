-- Human and bot clicks per link, with the share of bots.
-- Bots and link-preview fetchers are redirected but never counted as human clicks nor sent to
-- ad platforms.
SELECT
  domain,
  slug,
  count(DISTINCT click_id) AS clicks,
  count(DISTINCT CASE WHEN NOT is_bot THEN click_id END) AS human_clicks,
  count(DISTINCT CASE WHEN is_bot THEN click_id END) AS bot_clicks,
  round(
    100 * CAST(count(DISTINCT CASE WHEN is_bot THEN click_id END) AS DOUBLE)
    / count(DISTINCT click_id),
    1
  ) AS bot_pct
FROM clicks_raw
GROUP BY domain, slug
ORDER BY clicks DESC, domain, slug
