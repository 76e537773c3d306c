-- Human clicks per referring site ('(direct)' when the browser sent no Referer).
SELECT
  coalesce(referrer_host, '(direct)') AS referrer_host,
  count(DISTINCT click_id) AS human_clicks,
  count(DISTINCT visitor_id) AS unique_visitors,
  round(
    100 * CAST(count(DISTINCT click_id) AS DOUBLE) / sum(count(DISTINCT click_id)) OVER (),
    1
  ) AS pct
FROM clicks_raw
WHERE NOT is_bot
GROUP BY coalesce(referrer_host, '(direct)')
ORDER BY human_clicks DESC, referrer_host
LIMIT 50
