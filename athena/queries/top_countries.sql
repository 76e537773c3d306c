-- Human clicks and unique visitors per country (ISO-3166 alpha-2; '??' when unknown).
SELECT
  coalesce(country, '??') AS country,
  count(DISTINCT click_id) AS human_clicks,
  count(DISTINCT visitor_id) AS unique_visitors,
  round(
    100 * CAST(count(DISTINCT click_id) AS DOUBLE) / sum(count(DISTINCT click_id)) OVER (),
    1
  ) AS pct
FROM clicks_raw
WHERE NOT is_bot
GROUP BY coalesce(country, '??')
ORDER BY human_clicks DESC, country
LIMIT 50
