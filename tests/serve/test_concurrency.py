"""Concurrent requests share one model: each text gets the same response whatever runs beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from elman.serve.app import create_app
from elman.tag.predictor import Tagger

TEXTS = [
    "Mira Okafor flew to Lund.",
    "Brightwave hired Tomas Ruiz.",
    "Anna Berg met John Smith in Paris.",
    "The Oslo office of Kestrel Freight closed on Monday.",
    "Priya Castellan said the bank would grow.",
    "Rotterdam beat Hamburg 2-1 on Sunday.",
    "Ines Arrabal joined the Green Party.",
    "Nothing to see here.",
]
REPEATS = 4


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(model_dir)) as test_client:
        yield test_client


def expected_result(tagger: Tagger, text: str) -> dict[str, Any]:
    """The result of a direct, in-process call, in the form the service returns."""
    tagged = tagger.tag_text(text)
    tokens = [
        {"text": token.text, "start": token.start, "end": token.end, "tag": tag}
        for sentence, tags in zip(tagged.sentences, tagged.tags, strict=True)
        for token, tag in zip(sentence, tags, strict=True)
    ]
    return {"entities": [entity.to_dict() for entity in tagged.entities], "tokens": tokens}


def run_concurrently(post: Callable[[str], Any]) -> list[tuple[str, Any]]:
    requests = [text for text in TEXTS for _ in range(REPEATS)]
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        responses = list(pool.map(post, requests))
    return list(zip(requests, responses, strict=True))


def test_concurrent_requests_match_direct_calls(client: TestClient, tagger: Tagger) -> None:
    def post(text: str) -> Any:
        return client.post("/v1/tag", json={"text": text, "tokens": True})

    answers = run_concurrently(post)
    answers += [(text, post(text)) for text in reversed(TEXTS)]
    for text, response in answers:
        assert response.status_code == 200, text
        assert response.json()["results"] == [expected_result(tagger, text)], text


def test_concurrent_requests_to_server(server_url: str, tagger: Tagger) -> None:
    def post(text: str) -> httpx.Response:
        return httpx.post(f"{server_url}/v1/tag", json={"text": text, "tokens": True}, timeout=60)

    for text, response in run_concurrently(post):
        assert response.status_code == 200, text
        assert response.json()["results"] == [expected_result(tagger, text)], text


def test_previous_request_leaves_no_trace(client: TestClient) -> None:
    first, second = TEXTS[0], TEXTS[1]

    def post(text: str) -> Any:
        return client.post("/v1/tag", json={"text": text, "tokens": True}).json()

    alone = post(second)
    post(first)
    after_first = post(second)
    assert after_first == alone


def spans(result: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    return [(e["text"], e["label"], e["start"], e["end"]) for e in result["entities"]]


def test_batch_matches_single_requests(client: TestClient) -> None:
    # Spans only: a batch pads sentences to one length, and matrix products over a different
    # batch size may round differently in the last bits of the confidence.
    batch = client.post("/v1/tag", json={"texts": TEXTS}).json()["results"]
    singles = [client.post("/v1/tag", json={"text": t}).json()["results"][0] for t in TEXTS]
    assert [spans(result) for result in batch] == [spans(result) for result in singles]
