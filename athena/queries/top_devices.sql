-- Human clicks per device, operating system and browser.
SELECT
  coalesce(device, 'unknown') AS device,
  coalesce(os, 'unknown') AS os,
  coalesce(browser, 'unknown') AS browser,
  count(DISTINCT click_id) AS human_clicks,
  round(
    100 * CAST(count(DISTINCT click_id) AS DOUBLE) / sum(count(DISTINCT click_id)) OVER (),
    1
  ) AS pct
FROM clicks_raw
WHERE NOT is_bot
GROUP BY coalesce(device, 'unknown'), coalesce(os, 'unknown'), coalesce(browser, 'unknown')
ORDER BY human_clicks DESC, device, os, browser
LIMIT 50
