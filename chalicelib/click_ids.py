"""The ad platforms' click ids, spelled exactly as they appear in query strings: the one list.

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
)
