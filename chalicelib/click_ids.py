"""The ad platforms' click ids and the email tools' subscriber ids, spelled exactly as they
appear in query strings: the one list.

The redirect reads them from the query whatever their case (``redirect.request``), forwards them
byte for byte and keeps them out of the destination's own parameters (``redirect.destination``);
the click records them (a value that is an e-mail address or a dialled number as ``<redacted>``,
``clicks.text``); the platform modules send each back to its platform. A plain module, so the
redirect never imports platform code.
"""

PLATFORM_CLICK_IDS = (
    "fbclid",  # Meta
    "gclid",  # Google
    "gbraid",  # Google (iOS app campaigns)
    "wbraid",  # Google (iOS web)
    "ttclid",  # TikTok
    "li_fat_id",  # LinkedIn
    "epik",  # Pinterest
    "ScCid",  # Snapchat
    "rdt_cid",  # Reddit
    "twclid",  # X (Twitter)
    "_kx",  # Klaviyo: the subscriber an email link was sent to
    "mc_eid",  # Mailchimp: the member an email link was sent to (unique_email_id)
)

# Destinations that get a click-time event only when the click carries this parameter (LinkedIn
# matches clicks on its click id only; an email tool can name a subscriber only by its own id),
# and those that never get one (email tools without such an id: a click names nobody to them).
CLICK_EVENT_NEEDS: dict[str, str | None] = {
    "linkedin": "li_fat_id",
    "klaviyo": "_kx",
    "mailchimp": "mc_eid",
    "omnisend": None,
    "brevo": None,
    "kit": None,
    "activecampaign": None,
    "hubspot": None,
}
