"""The HTTP API through FastAPI's TestClient, and a real ``elman serve`` process for body limits."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from elman.errors import ConfigError
from elman.serve.app import REQUEST_ID_HEADER, create_app, get_settings, get_tagger
from elman.serve.settings import MODEL_VARIABLE, ServeSettings
from elman.tag.predictor import TaggedText, Tagger

SMALL_LIMITS = ServeSettings(max_body_bytes=2000, max_texts=3, max_text_chars=100)


@pytest.fixture(scope="module")
def app(model_dir: Path) -> FastAPI:
    application = create_app(model_dir)
    application.dependency_overrides[get_settings] = lambda: SMALL_LIMITS
    return application


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def tag(client: TestClient, body: Any) -> Any:  # starlette 1.x returns an httpx2 response
    return client.post("/v1/tag", json=body)


def entity_dicts(tagged: TaggedText) -> list[dict[str, object]]:
    return [entity.to_dict() for entity in tagged.entities]


class CountingTagger:
    """Stands in for the tagger and counts how often the model would run."""

    def __init__(self, tagger: Tagger, error: Exception | None = None):
        self.tagger = tagger
        self.error = error
        self.calls = 0

    def tag_texts(self, texts: list[str]) -> list[TaggedText]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.tagger.tag_texts(texts)


# Endpoints


def test_health(client: TestClient, model_dir: Path) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model": model_dir.name}


def test_model_info(client: TestClient, tagger: Tagger) -> None:
    response = client.get("/v1/model")
    assert response.status_code == 200
    info = response.json()
    assert info["labels"] == tagger.labels
    assert info["tags"] == list(tagger.vocab.tags)
    assert info["scheme"] == "iob2"
    assert info["model"]["hidden"] == 32
    assert info["scores"] == tagger.saved.scores


def test_openapi_documents_tag_body(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    body = document["paths"]["/v1/tag"]["post"]["requestBody"]["content"]["application/json"]
    references = [option["$ref"] for option in body["schema"]["anyOf"]]
    assert references == ["#/components/schemas/TextRequest", "#/components/schemas/TextsRequest"]
    assert "text" in document["components"]["schemas"]["TextRequest"]["properties"]
    assert "TagResponse" in document["components"]["schemas"]


def test_docs_page(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_index_page_is_self_contained(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<textarea" in response.text
    assert "http://" not in response.text
    assert "https://" not in response.text
    assert "<script src" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_request_ids_differ(client: TestClient) -> None:
    first = client.get("/health").headers[REQUEST_ID_HEADER]
    second = client.get("/health").headers[REQUEST_ID_HEADER]
    assert len(first) == 32
    assert first != second


# Tagging


def test_tag_text_matches_tagger(client: TestClient, tagger: Tagger, model_dir: Path) -> None:
    text = "Mira Okafor flew to Lund."
    response = tag(client, {"text": text})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == model_dir.name
    assert body["results"] == [{"entities": entity_dicts(tagger.tag_text(text))}]


def test_tag_texts_keep_order(client: TestClient, tagger: Tagger) -> None:
    texts = ["Brightwave hired Tomas Ruiz.", "", "Anna Berg met John Smith in Paris."]
    response = tag(client, {"texts": texts})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [result["entities"] for result in results] == [
        entity_dicts(tagger.tag_text(text)) for text in texts
    ]


def test_empty_texts_list(client: TestClient) -> None:
    response = tag(client, {"texts": []})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_tokens_on_request(client: TestClient) -> None:
    response = tag(client, {"text": "Mira flew.", "tokens": True})
    tokens = response.json()["results"][0]["tokens"]
    assert [(t["text"], t["start"], t["end"]) for t in tokens] == [
        ("Mira", 0, 4),
        ("flew", 5, 9),
        (".", 9, 10),
    ]
    assert all(isinstance(t["tag"], str) for t in tokens)


def test_tokens_absent_by_default(client: TestClient) -> None:
    result = tag(client, {"text": "Mira flew."}).json()["results"][0]
    assert "tokens" not in result


def test_offsets_count_code_points(client: TestClient) -> None:
    # The emoji is one code point but two UTF-16 code units: "Mira" starts at offset 2.
    text = "😀 Mira Okafor flew to Lund."
    result = tag(client, {"text": text, "tokens": True}).json()["results"][0]
    assert result["tokens"][1] == {
        "text": "Mira",
        "start": 2,
        "end": 6,
        "tag": result["tokens"][1]["tag"],
    }
    for entity in result["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]


def test_confidence_in_unit_interval(client: TestClient) -> None:
    text = "Mira Okafor flew to Lund. Brightwave hired Tomas Ruiz in Oslo."
    entities = tag(client, {"text": text}).json()["results"][0]["entities"]
    assert entities
    for entity in entities:
        assert 0.0 <= entity["confidence"] <= 1.0


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", []),
        ("   \n\t", []),
        ("|*!*|", [("|", 0, 1), ("*", 1, 2), ("!", 2, 3), ("*", 3, 4), ("|", 4, 5)]),
        (":-)", [(":", 0, 1), ("-", 1, 2), (")", 2, 3)]),
    ],
)
def test_texts_without_names(
    client: TestClient, text: str, tokens: list[tuple[str, int, int]]
) -> None:
    response = tag(client, {"text": text, "tokens": True})
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["entities"] == []
    assert [(t["text"], t["start"], t["end"]) for t in result["tokens"]] == tokens


# Invalid requests


@pytest.mark.parametrize("body", [{}, {"text": None}, {"text": 5}], ids=["empty", "null", "int"])
def test_invalid_text_names_field(client: TestClient, body: dict[str, object]) -> None:
    response = tag(client, body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "text"]


def test_non_json_body(client: TestClient) -> None:
    response = client.post("/v1/tag", content=b"Mira Okafor flew to Lund.")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_invalid_utf8_body(client: TestClient) -> None:
    response = client.post("/v1/tag", content=b'{"text": "\xff"}')
    assert response.status_code == 422
    assert "UTF-8" in response.json()["detail"][0]["msg"]


@pytest.fixture()
def default_limits(app: FastAPI) -> Iterator[None]:
    app.dependency_overrides[get_settings] = lambda: ServeSettings()
    yield
    app.dependency_overrides[get_settings] = lambda: SMALL_LIMITS


def test_deeply_nested_json(client: TestClient, default_limits: None) -> None:
    response = client.post("/v1/tag", content=b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_huge_integer(client: TestClient, default_limits: None) -> None:
    # Python refuses to convert integer literals of more than 4300 digits.
    response = client.post("/v1/tag", content=b'{"text": ' + b"9" * 5000 + b"}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_json_array_body(client: TestClient) -> None:
    response = tag(client, ["Mira"])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_text_and_texts_together(client: TestClient) -> None:
    response = tag(client, {"text": "a", "texts": ["b"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "texts"]


def test_non_string_in_texts(client: TestClient) -> None:
    response = tag(client, {"texts": ["a", 3]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "texts", 1]


def test_tokens_must_be_boolean(client: TestClient) -> None:
    response = tag(client, {"text": "a", "tokens": "yes"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tokens"]


def test_unknown_field(client: TestClient) -> None:
    response = tag(client, {"text": "a", "lang": "en"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "lang"]


def test_lone_surrogate(client: TestClient) -> None:
    response = client.post("/v1/tag", content=b'{"text": "Mira \\ud800"}')
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "text"]


# Limits


@pytest.fixture()
def counting_tagger(app: FastAPI, tagger: Tagger) -> Iterator[CountingTagger]:
    spy = CountingTagger(tagger)
    app.dependency_overrides[get_tagger] = lambda: spy
    yield spy
    del app.dependency_overrides[get_tagger]


def test_body_over_limit(client: TestClient, counting_tagger: CountingTagger) -> None:
    response = client.post("/v1/tag", content=b'{"text": "' + b"a" * 2000 + b'"}')
    assert response.status_code == 413
    assert "ELMAN_MAX_BODY_BYTES=2000" in response.json()["detail"]
    assert counting_tagger.calls == 0


def test_chunked_body_over_limit(client: TestClient, counting_tagger: CountingTagger) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(30):
            yield b"a" * 100
        yield b'"}'

    response = client.post("/v1/tag", content=chunks())
    assert response.status_code == 413
    assert "ELMAN_MAX_BODY_BYTES=2000" in response.json()["detail"]
    assert counting_tagger.calls == 0


def test_body_at_limit(client: TestClient) -> None:
    body = b'{"texts": ["' + b"a" * 50 + b'"]}'
    body += b" " * (2000 - len(body))
    response = client.post("/v1/tag", content=body)
    assert response.status_code == 200


def test_too_many_texts(client: TestClient, counting_tagger: CountingTagger) -> None:
    response = tag(client, {"texts": ["a", "b", "c", "d"]})
    assert response.status_code == 413
    assert "ELMAN_MAX_TEXTS=3" in response.json()["detail"]
    assert counting_tagger.calls == 0


def test_text_over_char_limit(client: TestClient, counting_tagger: CountingTagger) -> None:
    response = tag(client, {"text": "a" * 101})
    assert response.status_code == 413
    assert "ELMAN_MAX_TEXT_CHARS=100" in response.json()["detail"]
    assert counting_tagger.calls == 0


def test_second_text_over_char_limit(client: TestClient) -> None:
    response = tag(client, {"texts": ["a", "b" * 101]})
    assert response.status_code == 413
    assert "texts[1]" in response.json()["detail"]


def test_text_at_char_limit(client: TestClient) -> None:
    # 100 code points, although 200 UTF-16 code units.
    response = tag(client, {"text": "😀" * 100})
    assert response.status_code == 200


# Errors


def test_bug_gives_500_with_request_id(
    app: FastAPI, tagger: Tagger, caplog: pytest.LogCaptureFixture
) -> None:
    app.dependency_overrides[get_tagger] = lambda: CountingTagger(tagger, RuntimeError("secret"))
    try:
        with (
            TestClient(app, raise_server_exceptions=False) as failing_client,
            caplog.at_level(logging.ERROR, logger="elman.serve.app"),
        ):
            response = tag(failing_client, {"text": "Mira"})
    finally:
        del app.dependency_overrides[get_tagger]
    request_id = response.headers[REQUEST_ID_HEADER]
    assert response.status_code == 500
    assert "secret" not in response.text
    assert request_id in response.json()["detail"]
    assert any(request_id in record.getMessage() for record in caplog.records)


# App factory and settings


def test_factory_reads_model_from_environment(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_VARIABLE, str(model_dir))
    with TestClient(create_app()) as factory_client:
        assert factory_client.get("/health").json()["model"] == model_dir.name


def test_factory_without_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_VARIABLE, raising=False)
    with pytest.raises(ConfigError, match=MODEL_VARIABLE):
        create_app()


def test_settings_defaults() -> None:
    settings = ServeSettings.from_env({})
    assert settings.max_body_bytes == 1_048_576
    assert settings.max_texts == 64
    assert settings.max_text_chars == 100_000


def test_settings_from_environment() -> None:
    settings = ServeSettings.from_env({"ELMAN_MAX_TEXTS": "8", "ELMAN_MAX_TEXT_CHARS": " 500 "})
    assert settings.max_texts == 8
    assert settings.max_text_chars == 500


@pytest.mark.parametrize("value", ["many", "0", "-3", "1.5"])
def test_invalid_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="ELMAN_MAX_TEXTS"):
        ServeSettings.from_env({"ELMAN_MAX_TEXTS": value})


# A real server


def test_server_rejects_20_mib_body(server_url: str) -> None:
    assert httpx.get(f"{server_url}/health", timeout=10).status_code == 200
    body = b'{"text": "' + b"a" * (20 * 1024 * 1024) + b'"}'
    response = httpx.post(f"{server_url}/v1/tag", content=body, timeout=60)
    assert response.status_code == 413
    assert "ELMAN_MAX_BODY_BYTES=1048576" in response.json()["detail"]
    assert httpx.get(f"{server_url}/health", timeout=10).status_code == 200


def test_server_rejects_20_mib_chunked_body(server_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"a" * (1024 * 1024)

    response = httpx.post(f"{server_url}/v1/tag", content=chunks(), timeout=60)
    assert response.status_code == 413
    assert httpx.get(f"{server_url}/health", timeout=10).status_code == 200


def test_server_tags_text(server_url: str, tagger: Tagger) -> None:
    text = "Mira Okafor flew to Lund."
    response = httpx.post(f"{server_url}/v1/tag", json={"text": text}, timeout=30)
    assert response.status_code == 200
    assert response.json()["results"][0]["entities"] == entity_dicts(tagger.tag_text(text))
