"""Server-side events to ad platforms: hashing, the neutral event, one adapter per platform.

The dispatcher builds ``PlatformEvent``s, asks ``registry.adapter(name).build_requests`` for the
exact HTTP requests, sends them with ``http.send_with_retries`` and the adapter's ``classify``.
"""
