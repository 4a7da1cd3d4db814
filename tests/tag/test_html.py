"""The static HTML view: escaped text, one mark per entity, and ``elman tag --format html``."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

from elman.tag.html import colour_class, render_document, render_entities, render_page, stylesheet
from elman.tag.predictor import Entity, TaggedText

ELMAN = [sys.executable, "-m", "elman"]


def tagged(text: str, *entities: Entity) -> TaggedText:
    return TaggedText(text=text, sentences=[], tags=[], entities=list(entities))


def test_colour_class_sums_code_points() -> None:
    # P + E + R = 80 + 69 + 82 = 231 and 231 % 8 = 7. O + R + G = 79 + 82 + 71 = 232, 232 % 8 = 0.
    assert colour_class("PER") == "c7"
    assert colour_class("ORG") == "c0"


def test_entities_marked_in_place() -> None:
    document = tagged(
        "Mira Okafor flew to Lund.",
        Entity("Mira Okafor", "PER", 0, 11, 0.912),
        Entity("Lund", "LOC", 20, 24, 0.5),
    )
    assert render_entities(document) == (
        '<div class="entities">'
        '<mark class="entity c7" data-label="PER" title="PER, confidence 0.91">Mira Okafor</mark>'
        " flew to "
        '<mark class="entity c6" data-label="LOC" title="LOC, confidence 0.50">Lund</mark>'
        ".</div>"
    )


def test_text_is_escaped() -> None:
    text = '<script>alert("x")</script> & Mira'
    document = tagged(text, Entity("Mira", "PER", 31, 35, 1.0))
    rendered = render_entities(document)
    assert "<script>" not in rendered
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; " in rendered


def test_label_is_escaped() -> None:
    document = tagged("Mira", Entity("Mira", 'P"><b>', 0, 4, 1.0))
    rendered = render_entities(document)
    assert "<b>" not in rendered
    assert 'data-label="P&quot;&gt;&lt;b&gt;"' in rendered


def test_entity_text_is_escaped() -> None:
    document = tagged("A&B <Co>", Entity("A&B <Co>", "ORG", 0, 8, 1.0))
    assert ">A&amp;B &lt;Co&gt;</mark>" in render_entities(document)


def test_overlapping_entity_skipped() -> None:
    document = tagged(
        "New York City",
        Entity("New York", "LOC", 0, 8, 1.0),
        Entity("York City", "LOC", 4, 13, 1.0),
    )
    rendered = render_entities(document)
    assert rendered.count("<mark") == 1
    assert rendered.endswith("</mark> City</div>")


def test_text_without_entities() -> None:
    assert render_entities(tagged("a\nb")) == '<div class="entities">a\nb</div>'


def test_source_is_escaped() -> None:
    rendered = render_document("<notes>.txt", tagged(""))
    assert "<h2>&lt;notes&gt;.txt</h2>" in rendered


def test_page_is_complete() -> None:
    page = render_page([("a.txt", tagged("Mira")), ("b.txt", tagged("Lund"))])
    assert page.startswith("<!DOCTYPE html>\n")
    assert page.endswith("</html>\n")
    assert page.count('<section class="document">') == 2
    assert stylesheet() in page


def test_page_blocks_scripts() -> None:
    page = render_page([])
    assert "default-src 'none'; style-src 'unsafe-inline'" in page
    assert "<script" not in page


def test_stylesheet_has_every_colour_class() -> None:
    css = stylesheet()
    for index in range(8):
        assert f".c{index} {{" in css


def test_cli_writes_html(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "news.txt"
    source.write_text("Mara Quist joined <Pellucid> Labs in Oslo.\n", encoding="utf-8")
    output = tmp_path / "news.html"
    result = subprocess.run(
        [*ELMAN, "tag", str(tiny_model), str(source), "--format", "html", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    page = output.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.endswith("</html>\n")
    assert f"<h2>{source}</h2>" in page
    assert "<Pellucid>" not in page
    view = re.search(r'<div class="entities">(.*?)</div>', page, re.DOTALL)
    assert view is not None
    assert html.unescape(re.sub(r"<[^>]*>", "", view[1])) == source.read_text(encoding="utf-8")


def test_cli_html_needs_raw_text(tiny_model: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.conll"
    tokens.write_text("Mara\nQuist\n", encoding="utf-8")
    result = subprocess.run(
        [
            *ELMAN,
            "tag",
            str(tiny_model),
            str(tokens),
            "--format",
            "html",
            "--input-format",
            "tokens",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert "needs raw text" in result.stderr
