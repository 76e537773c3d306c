"""Server-side events to ad platforms: hashing, the neutral event, one module per platform.

The dispatcher builds ``PlatformEvent``s, asks ``registry.platform(name).build_requests`` for the
exact HTTP requests, sends them with ``http.send_with_retries`` and the platform's ``classify``.
Every platform fills in the same frame (``platform.Platform``); ``payload`` spells the values.
"""
