"""Rebound's AWS plumbing: resource names per stage (``names``), the boto3 clients
(``clients``), and what every caller of a batch API needs (``calls``)."""
