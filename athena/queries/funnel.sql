-- Funnel per campaign: clicks → human clicks → unique visitors → leads → purchases.
-- A conversion counts for the campaign of the click it is attributed to (rb_cid), else for its
-- own campaign, else '(none)'. Conversions count once per event_id.
WITH click_counts AS (
  SELECT
    coalesce(campaign, '(none)') AS campaign,
    count(DISTINCT click_id) AS clicks,
    count(DISTINCT CASE WHEN NOT is_bot THEN click_id END) AS human_clicks,
    count(DISTINCT CASE WHEN NOT is_bot THEN visitor_id END) AS unique_visitors
  FROM clicks_raw
  GROUP BY coalesce(campaign, '(none)')
),
click_campaigns AS (
  SELECT click_id, max(campaign) AS campaign
  FROM clicks_raw
  GROUP BY click_id
),
conversion_counts AS (
  SELECT
    coalesce(k.campaign, v.campaign, '(none)') AS campaign,
    count(DISTINCT CASE WHEN v.event = 'lead' THEN coalesce(v.event_id, v.conversion_id) END)
      AS leads,
    count(DISTINCT CASE WHEN v.event = 'purchase' THEN coalesce(v.event_id, v.conversion_id) END)
      AS purchases
  FROM conversions_raw AS v
  LEFT JOIN click_campaigns AS k ON k.click_id = v.click_id
  GROUP BY coalesce(k.campaign, v.campaign, '(none)')
)
SELECT
  coalesce(c.campaign, v.campaign) AS campaign,
  coalesce(c.clicks, 0) AS clicks,
  coalesce(c.human_clicks, 0) AS human_clicks,
  coalesce(c.unique_visitors, 0) AS unique_visitors,
  coalesce(v.leads, 0) AS leads,
  coalesce(v.purchases, 0) AS purchases,
  round(
    100 * CAST(coalesce(v.purchases, 0) AS DOUBLE) / nullif(c.unique_visitors, 0),
    2
  ) AS purchase_pct
FROM click_counts AS c
FULL OUTER JOIN conversion_counts AS v ON v.campaign = c.campaign
ORDER BY clicks DESC, campaign
