-- Unique human visitors per campaign and link.
-- visitor_id is a first-party cookie where consent allows, else a hash whose salt rotates daily:
-- over several days, those visitors count once a day.
SELECT
  coalesce(campaign, '(none)') AS campaign,
  domain,
  slug,
  count(DISTINCT visitor_id) AS unique_visitors,
  count(DISTINCT click_id) AS human_clicks,
  round(
    CAST(count(DISTINCT click_id) AS DOUBLE) / nullif(count(DISTINCT visitor_id), 0),
    2
  ) AS clicks_per_visitor
FROM clicks_raw
WHERE NOT is_bot
GROUP BY coalesce(campaign, '(none)'), domain, slug
ORDER BY unique_visitors DESC, campaign, domain, slug
