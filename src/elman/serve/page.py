"""The web page at ``/``: a text box, a button, and the text shown back with its entities.

The page is self-contained (inline CSS and script, no fonts or scripts from elsewhere), so it works
without internet access. Its stylesheet is the one ``elman tag --format html`` writes.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources

from elman.tag.html import stylesheet

_BODY = """\
<h1>elman</h1>
<p class="subtitle" id="model-name">Find names and other labelled spans in text.</p>
<form id="tag-form">
<label class="visually-hidden" for="text">Text to tag</label>
<textarea id="text" name="text" rows="7" placeholder="Type or paste a text, e.g. \
Mira Okafor flew to Lund."></textarea>
<div class="actions">
<button type="submit" id="submit">Find entities</button>
<span class="status" id="status" role="status"></span>
</div>
</form>
<div class="entities" id="result" aria-live="polite"></div>
<div class="legend" id="legend"></div>
"""


@cache
def _script() -> str:
    return resources.files("elman.resources").joinpath("web/page.js").read_text("utf-8")


@cache
def page_html() -> str:
    """Return the HTML of the page."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'  # no icon, and no request for /favicon.ico
        f"<title>elman</title>\n<style>\n{stylesheet()}</style>\n</head>\n<body>\n"
        f"{_BODY}<script>\n{_script()}</script>\n</body>\n</html>\n"
    )


@cache
def content_security_policy() -> str:
    """Return the Content-Security-Policy header that allows only the page's own CSS and script.

    The script is allowed by its SHA-256 hash, so no other inline script would run.
    """
    digest = hashlib.sha256(f"\n{_script()}".encode()).digest()
    script_hash = base64.b64encode(digest).decode("ascii")
    return (
        "default-src 'none'; "
        f"script-src 'sha256-{script_hash}'; "
        "style-src 'unsafe-inline'; "
        "connect-src 'self'; "
        "img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
