"""Request and response bodies of the HTTP service, and the parsing of a tag request.

The service reads the request body itself, so that it can stop at the size limit before the whole
body has arrived. ``parse_tag_request`` then does what FastAPI does for a declared body: decode the
JSON, validate it, and raise ``RequestValidationError`` (status 422) whose ``loc`` names the field.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from elman.tag.predictor import Entity, TaggedText


def _reject_surrogates(text: str) -> str:
    # A lone surrogate (from a JSON escape such as "\ud800") is not a Unicode scalar value and
    # cannot be encoded as UTF-8, so the response that echoes it could not be written.
    for index, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            raise ValueError(
                f"unpaired surrogate U+{ord(char):04X} at index {index}; send valid Unicode"
            )
    return text


Text = Annotated[str, AfterValidator(_reject_surrogates)]


class TextRequest(BaseModel):
    """Tag one text."""

    model_config = ConfigDict(strict=True, extra="forbid")

    text: Text = Field(description="The text to tag; offsets in the response index into it.")
    tokens: bool = Field(False, description="Also return the tokens with their IOB2 tags.")


class TextsRequest(BaseModel):
    """Tag several texts in one request; the results keep their order."""

    model_config = ConfigDict(strict=True, extra="forbid")

    texts: list[Text] = Field(description="The texts to tag.")
    tokens: bool = Field(False, description="Also return the tokens with their IOB2 tags.")


TagRequest = TextRequest | TextsRequest
TAG_REQUEST_ADAPTER: TypeAdapter[TagRequest] = TypeAdapter(TagRequest)


class EntityOut(BaseModel):
    """A labelled span: ``text == input[start:end]``, offsets in Unicode code points."""

    text: str
    label: str
    start: int = Field(description="Offset of the first character, counted in code points.")
    end: int = Field(description="Offset one past the last character (half-open span).")
    confidence: float = Field(
        ge=0.0, le=1.0, description="Mean probability of the chosen tags over the span."
    )


class TokenOut(BaseModel):
    """A token, its code point offsets and its IOB2 tag."""

    text: str
    start: int
    end: int
    tag: str


class TagResult(BaseModel):
    """The entities of one text; ``tokens`` only when the request set ``"tokens": true``."""

    entities: list[EntityOut]
    tokens: list[TokenOut] | None = None


class TagResponse(BaseModel):
    """One result per text, in request order, and the name of the model that tagged them."""

    results: list[TagResult]
    model: str


class ModelInfo(BaseModel):
    """The loaded model: its labels, its settings and the scores recorded when it was trained."""

    name: str
    labels: list[str]
    tags: list[str]
    scheme: str
    model: dict[str, Any]
    train: dict[str, Any]
    scores: dict[str, Any]


class Health(BaseModel):
    """The service is up and its model is loaded."""

    status: str
    model: str


class Problem(BaseModel):
    """An error response: a one-line message."""

    detail: str


class InvalidField(BaseModel):
    """One validation error: ``loc`` is the path to the field, starting with ``"body"``."""

    type: str
    loc: list[str | int]
    msg: str


class InvalidRequest(BaseModel):
    """The response to an invalid request body (status 422)."""

    detail: list[InvalidField]


def parse_tag_request(body: bytes) -> TextRequest | TextsRequest:
    """Decode and validate a tag request body, or raise ``RequestValidationError``."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        raise _invalid(("body", error.pos), "json_invalid", f"invalid JSON: {error.msg}") from None
    except UnicodeDecodeError as error:
        message = f"invalid UTF-8 at byte {error.start}; send the JSON body encoded as UTF-8"
        raise _invalid(("body", error.start), "json_invalid", message) from None
    except (ValueError, RecursionError) as error:
        # An integer literal of more than 4300 digits, or arrays or objects nested too deeply.
        message = f"invalid JSON: {type(error).__name__}: {error}"
        raise _invalid(("body",), "json_invalid", message) from None

    if not isinstance(data, dict):
        message = 'expected a JSON object such as {"text": "..."} or {"texts": ["...", "..."]}'
        raise _invalid(("body",), "model_type", message)
    if "text" in data and "texts" in data:
        message = 'send either "text" (one string) or "texts" (a list of strings), not both'
        raise _invalid(("body", "texts"), "extra_forbidden", message)

    model: type[TextRequest | TextsRequest] = TextsRequest if "texts" in data else TextRequest
    if model is TextRequest and "text" not in data:
        message = 'Field required: send "text" (one string) or "texts" (a list of strings)'
        raise _invalid(("body", "text"), "missing", message)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = [
            {"type": item["type"], "loc": ("body", *item["loc"]), "msg": item["msg"]}
            for item in error.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


def _invalid(loc: tuple[str | int, ...], kind: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message}])


def result_to_dict(tagged: TaggedText, *, tokens: bool) -> dict[str, Any]:
    """Build the ``TagResult`` of one tagged text as plain JSON data."""
    result: dict[str, Any] = {"entities": [_entity_dict(entity) for entity in tagged.entities]}
    if tokens:
        result["tokens"] = [
            {"text": token.text, "start": token.start, "end": token.end, "tag": tag}
            for sentence, tags in zip(tagged.sentences, tagged.tags, strict=True)
            for token, tag in zip(sentence, tags, strict=True)
        ]
    return result


def _entity_dict(entity: Entity) -> dict[str, Any]:
    record = entity.to_dict()
    # A mean of float32 probabilities can end a hair above 1.
    record["confidence"] = min(1.0, max(0.0, round(entity.confidence, 4)))
    return record


def request_body_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the OpenAPI schema of the request body and the component schemas it refers to."""
    schema = TAG_REQUEST_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs", {})
    return schema, components
