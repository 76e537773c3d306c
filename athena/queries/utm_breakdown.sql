-- Human clicks and unique visitors per UTM source, medium and campaign of the destination.
SELECT
  coalesce(utm_source, '(none)') AS utm_source,
  coalesce(utm_medium, '(none)') AS utm_medium,
  coalesce(utm_campaign, '(none)') AS utm_campaign,
  count(DISTINCT click_id) AS human_clicks,
  count(DISTINCT visitor_id) AS unique_visitors
FROM clicks_raw
WHERE NOT is_bot
GROUP BY
  coalesce(utm_source, '(none)'),
  coalesce(utm_medium, '(none)'),
  coalesce(utm_campaign, '(none)')
ORDER BY human_clicks DESC, utm_source, utm_medium, utm_campaign
