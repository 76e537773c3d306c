"""Conversion postbacks: ``POST /_/conversions``, signed by the merchant, onto the click stream.

- ``signature``: the ``Rebound-Signature`` header (sign and verify; pure).
- ``postback``: the JSON body, parsed and validated with every field error reported (pure).
- ``record``: the conversion record for the lake and the stream envelope for the dispatcher (pure).
- ``intake``: the AWS glue (domain secret, click index, event-id marker, Kinesis).
"""
