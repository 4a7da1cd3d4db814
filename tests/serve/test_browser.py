"""The web page at / in headless Chromium, against a real ``elman serve`` process.

Needs the Debian package ``chromium`` (/usr/bin/chromium) and the ``playwright`` Python package;
Playwright's own browser download is not used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from elman.tag.html import colour_class
from elman.tag.predictor import Tagger

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SENTENCE = "Mira Okafor flew to Lund."
PERSON = "Mira Okafor"

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is absent: install the Debian package chromium", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is absent: pip install playwright"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def outside_requests() -> list[str]:
    """URLs that the page requested from anywhere but the server."""
    return []


@pytest.fixture()
def page(browser: Any, server_url: str, outside_requests: list[str]) -> Iterator[Any]:
    """The page at /; requests to anywhere but the server are aborted and recorded."""
    context = browser.new_context()
    tab = context.new_page()
    server = urlsplit(server_url).netloc

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).netloc == server:
            request_route.continue_()
        else:
            outside_requests.append(url)
            request_route.abort()

    tab.route("**/*", route)
    tab.goto(f"{server_url}/")
    yield tab
    context.close()


def test_page_highlights_person(page: Any, tagger: Tagger) -> None:
    expected = [e.text for e in tagger.tag_text(SENTENCE).entities if e.label == "PER"]
    assert expected == [PERSON], "the test model no longer tags the person; train it longer"

    page.fill("#text", SENTENCE)
    page.click("#submit")
    person = page.locator('#result mark.entity[data-label="PER"]')
    person.first.wait_for(timeout=30_000)
    assert person.all_text_contents() == [PERSON]
    assert person.first.get_attribute("class") == f"entity {colour_class('PER')}"
    assert page.locator("#result").text_content() == SENTENCE


def test_page_shows_markup_as_text(page: Any) -> None:
    text = '<img src="x" onerror="document.title=1"> Mira Okafor & <b>Lund</b>'
    page.fill("#text", text)
    page.click("#submit")
    page.locator("#status").filter(has_text="entit").wait_for(timeout=30_000)
    assert page.locator("#result img").count() == 0
    assert page.locator("#result b").count() == 0
    assert page.locator("#result").text_content() == text


def test_page_shows_limit_error(page: Any) -> None:
    page.fill("#text", "a" * 100_001)
    page.click("#submit")
    status = page.locator("#status.error")
    status.wait_for(timeout=30_000)
    assert "ELMAN_MAX_TEXT_CHARS=100000" in status.text_content()


def test_page_loads_nothing_from_elsewhere(page: Any, outside_requests: list[str]) -> None:
    page.fill("#text", SENTENCE)
    page.click("#submit")
    page.locator("#result mark.entity").first.wait_for(timeout=30_000)
    assert outside_requests == []
