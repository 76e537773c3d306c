"""The small HTML pages served instead of a redirect: 404 (not found) and 410 (expired)."""

from __future__ import annotations

from html import escape

CONTENT_TYPE = "text/html; charset=utf-8"
# Pages load nothing: no scripts, no images, no frames; only their own inline style.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;color:#222}}h1{{font-size:1.4rem}}p{{color:#555}}</style>
</head>
<body>
<h1>{title}</h1>
<p>{message}</p>
</body>
</html>
"""

_TEXTS = {
    404: (
        "Link not found",
        "There is no link at {where}. Check the address, or ask whoever shared it.",
    ),
    410: ("This link has expired", "The link at {where} is no longer active."),
}


def page(status: int, host: str | None = None, slug: str | None = None) -> str:
    """The page for ``status`` (404 or 410), naming the address that was asked for."""
    title, message = _TEXTS.get(status, _TEXTS[404])
    where = f"{host or ''}/{slug or ''}" if host else "this address"
    return _TEMPLATE.format(title=escape(title), message=escape(message.format(where=where)))
