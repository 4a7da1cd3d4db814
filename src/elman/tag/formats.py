"""Writers for tagged documents: JSON Lines, CoNLL columns, inline marks and a plain listing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence

from elman.errors import DataError
from elman.tag.predictor import Entity, TaggedText


def to_jsonl(
    source: str,
    tagged: TaggedText,
    *,
    tokens: bool = False,
    nbest: list[list[tuple[float, list[str]]]] | None = None,
) -> str:
    """Return one JSON line: the document's source and its entities (and tokens when asked).

    ``nbest`` contains, per sentence, (score, tags) alternatives, written under ``"nbest"``.
    """
    record: dict[str, object] = {
        "source": source,
        "entities": [entity.to_dict() for entity in tagged.entities],
    }
    if tokens:
        record["tokens"] = [
            {"text": token.text, "start": token.start, "end": token.end, "tag": tag}
            for sentence, tags in zip(tagged.sentences, tagged.tags, strict=True)
            for token, tag in zip(sentence, tags, strict=True)
        ]
    if nbest is not None:
        record["nbest"] = [_alternatives(sentence) for sentence in nbest]
    return json.dumps(record, ensure_ascii=False) + "\n"


def jsonl_pieces(source: str, entity_pieces: Iterable[Sequence[Entity]]) -> Iterator[str]:
    """Yield the ``to_jsonl`` record of a document without tokens and n-best lists, in pieces.

    ``entity_pieces`` yields the document's entities in consecutive groups, so that the record
    is written without holding all of them. The pieces, joined, equal ``to_jsonl``'s output.
    """
    empty = json.dumps({"source": source, "entities": []}, ensure_ascii=False)
    yield empty[: -len("]}")]
    separator = ""
    for entities in entity_pieces:
        if not entities:
            continue
        yield separator + ", ".join(json.dumps(e.to_dict(), ensure_ascii=False) for e in entities)
        separator = ", "
    yield "]}\n"


def conll_line(fields: Sequence[str]) -> str:
    """Join columns with single spaces, as conlleval reads them.

    A field that is empty or contains whitespace cannot be written so, and raises DataError.
    """
    for field in fields:
        if not field or any(ch.isspace() for ch in field):
            raise DataError(
                f"token {field!r} is empty or contains whitespace and cannot be written as a "
                "space-separated CoNLL column; conlleval would misread it. Replace the whitespace "
                "in the input tokens (for example with '_')"
            )
    return " ".join(fields) + "\n"


def to_conll(tagged_sentences: Sequence[tuple[Sequence[str], Sequence[str]]]) -> str:
    """Token and tag columns, a blank line after each sentence."""
    lines: list[str] = []
    for tokens, tags in tagged_sentences:
        lines.extend(conll_line((token, tag)) for token, tag in zip(tokens, tags, strict=True))
        lines.append("\n")
    return "".join(lines)


def to_inline(tagged_sentences: Sequence[tuple[Sequence[str], Sequence[str]]]) -> str:
    """Return one line per sentence, each tagged token followed by its tag in brackets."""
    lines = []
    for tokens, tags in tagged_sentences:
        words = [
            token if tag == "O" else f"{token} [{tag}]"
            for token, tag in zip(tokens, tags, strict=True)
        ]
        lines.append(" ".join(words) + "\n")
    return "".join(lines)


def to_listing(source: str, tagged: TaggedText) -> str:
    """Return a human-readable list of the entities found: text, label and character offsets."""
    lines = [f"{source}: {len(tagged.entities)} entities"]
    for entity in tagged.entities:
        lines.append(
            f"  {entity.label:<6} {entity.start:>6}-{entity.end:<6} {entity.text}"
            f"  ({entity.confidence:.2f})"
        )
    return "\n".join(lines) + "\n"


def tokens_jsonl(
    source: str,
    tokens: Sequence[str],
    tags: Sequence[str],
    confidences: Sequence[float],
    nbest: list[tuple[float, list[str]]] | None = None,
) -> str:
    """Return one JSON line for a pre-tokenised sentence.

    Its ``text`` is the tokens joined by single spaces, and entity offsets are character offsets
    into that text, as for raw-text input. An entity's confidence is the mean of its tokens'
    ``confidences``; ``nbest`` holds the sentence's (score, tags) alternatives.
    """
    from elman.data.scheme import to_spans

    starts = []
    position = 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    text = " ".join(tokens)
    entities = []
    for first, last, label in to_spans(tags, "iob2"):
        start, end = starts[first], starts[last - 1] + len(tokens[last - 1])
        confidence = sum(confidences[first:last]) / (last - first)
        entities.append(
            {
                "text": text[start:end],
                "label": label,
                "start": start,
                "end": end,
                "confidence": round(confidence, 4),
            }
        )
    record: dict[str, object] = {
        "source": source,
        "text": text,
        "tags": list(tags),
        "entities": entities,
    }
    if nbest is not None:
        record["nbest"] = _alternatives(nbest)
    return json.dumps(record, ensure_ascii=False) + "\n"


def _alternatives(nbest: list[tuple[float, list[str]]]) -> list[dict[str, object]]:
    return [{"score": round(score, 4), "tags": tags} for score, tags in nbest]
