"""Render tagged texts as HTML: the text with each entity highlighted in a colour per label.

The mark-up and the stylesheet are those of the page that ``elman serve`` shows at ``/``: an
entity is ``<mark class="entity cN" data-label="LABEL">text</mark>``, and the stylesheet draws
the label beside it. Every piece of input text is HTML-escaped.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources

from elman.tag.predictor import TaggedText

COLOUR_CLASSES = 8
"""Number of ``.cN`` colour classes in ``style.css``."""

# The static file runs no script; the policy also blocks any script that escaping might miss.
_CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


@cache
def stylesheet() -> str:
    """Return the CSS shared by the served page and the static HTML file."""
    return resources.files("elman.resources").joinpath("web/style.css").read_text("utf-8")


def colour_class(label: str) -> str:
    """Return the colour class of ``label``: ``c`` and the sum of its code points modulo 8.

    ``colourClass`` in ``page.js`` computes the same, so a label has one colour everywhere.
    """
    return f"c{sum(ord(char) for char in label) % COLOUR_CLASSES}"


def render_entities(tagged: TaggedText) -> str:
    """Return a ``<div class="entities">`` with the text and a ``<mark>`` per entity."""
    text = tagged.text
    parts = ['<div class="entities">']
    position = 0
    for entity in sorted(tagged.entities, key=lambda entity: entity.start):
        if entity.start < position:
            continue  # overlapping spans cannot be nested in flat mark-up; keep the first
        label = html.escape(entity.label)
        parts.append(html.escape(text[position : entity.start]))
        parts.append(
            f'<mark class="entity {colour_class(entity.label)}" data-label="{label}" '
            f'title="{label}, confidence {entity.confidence:.2f}">'
            f"{html.escape(text[entity.start : entity.end])}</mark>"
        )
        position = entity.end
    parts.append(html.escape(text[position:]))
    parts.append("</div>")
    return "".join(parts)


def render_document(source: str, tagged: TaggedText) -> str:
    """Return a ``<section>`` with the document's source as its heading and its entities."""
    return (
        f'<section class="document">\n<h2>{html.escape(source)}</h2>\n'
        f"{render_entities(tagged)}\n</section>\n"
    )


def page_start(title: str = "elman: tagged text") -> str:
    """Return the HTML of a standalone page up to the first document."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{stylesheet()}</style>\n"
        f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
    )


def page_end() -> str:
    """Return the HTML that closes a page begun with ``page_start``."""
    return "</body>\n</html>\n"


def render_page(documents: list[tuple[str, TaggedText]], title: str = "elman: tagged text") -> str:
    """Return a standalone HTML page with a section per (source, tagged text) pair."""
    sections = "".join(render_document(source, tagged) for source, tagged in documents)
    return page_start(title) + sections + page_end()
