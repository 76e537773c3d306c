"""The ad platforms' click ids, spelled exactly as they appear in query strings.

Shared by the redirect (which forwards them byte-for-byte and records them) and the platform
adapters (which send them back); a plain module so neither has to import the other.
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
)
