"""Signed deliveries of clicks and conversions to any other system (docs/webhooks.md)."""
