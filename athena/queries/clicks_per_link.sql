-- Clicks per link per day (UTC): all, human and bot clicks, and unique human visitors.
SELECT
  dt,
  domain,
  slug,
  count(DISTINCT click_id) AS clicks,
  count(DISTINCT CASE WHEN NOT is_bot THEN click_id END) AS human_clicks,
  count(DISTINCT CASE WHEN is_bot THEN click_id END) AS bot_clicks,
  count(DISTINCT CASE WHEN NOT is_bot THEN visitor_id END) AS unique_visitors
FROM clicks_raw
GROUP BY dt, domain, slug
ORDER BY dt DESC, clicks DESC, domain, slug
