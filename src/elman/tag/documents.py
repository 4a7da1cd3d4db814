"""Read documents for tagging and render the tagged result in the chosen output format."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from elman.data.conll import ConllReader
from elman.errors import DataError
from elman.tag import formats
from elman.tag.html import page_end, page_start, render_document
from elman.tag.predictor import MAX_SENTENCE_TOKENS, TaggedText, Tagger

DOCUMENTS_PER_BATCH = 64
STREAMED_CHARACTERS = MAX_SENTENCE_TOKENS
"""A longer document is tagged alone, in pieces of sentences, so that memory stays bounded.

It equals ``MAX_SENTENCE_TOKENS`` because a text of that many characters cannot hold a longer
sentence, so the batched path and the streamed path cut sentences the same way."""


def read_text(path: Path) -> str:
    """Return a UTF-8 text file's contents; a DataError names the file and the bad byte."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror})", path=path) from error
    return _decode(data, str(path))


def _decode(data: bytes, source: str, first_line: int = 1, encoding: str = "utf-8-sig") -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = first_line + data[: error.start].count(b"\n")
        raise DataError(
            f"invalid UTF-8 at byte {error.start}; convert the file to UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)",
            path=source,
            line=line,
        ) from error


def text_documents(files: Sequence[Path]) -> Iterator[tuple[str, str]]:
    """Yield (source, text): each file whole, or each line of standard input without files."""
    if files:
        for path in files:
            yield str(path), read_text(path)
        return
    # Bytes, decoded here: the text stream would turn invalid UTF-8 into lone surrogates under
    # some locales, which then fail when the output is encoded.
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        for number, line in enumerate(sys.stdin, start=1):
            yield f"<stdin>:{number}", line.rstrip("\r\n")
        return
    for number, raw in enumerate(stream, start=1):
        yield f"<stdin>:{number}", _decode(raw, "<stdin>", number, "utf-8").rstrip("\r\n")


def tag_documents(
    tagger: Tagger,
    files: Sequence[Path],
    output_format: str,
    input_format: str,
    *,
    include_tokens: bool = False,
    nbest: int = 0,
) -> Iterator[str]:
    """Yield the output text in document order, a long document in several pieces.

    ``nbest`` > 0 adds, per sentence, the K best tag sequences and their scores to JSON Lines.
    """
    if nbest and output_format != "jsonl":
        raise DataError(f"--nbest needs --format jsonl, not {output_format}")
    if input_format == "tokens":
        yield from _tag_token_files(tagger, files, output_format, nbest)
        return
    if output_format == "html":
        yield page_start()
    batch: list[tuple[str, str]] = []
    for document in text_documents(files):
        if len(document[1]) > STREAMED_CHARACTERS:
            if batch:
                yield from _render(tagger, batch, output_format, include_tokens, nbest)
                batch = []
            yield from _render_streamed(tagger, document, output_format, include_tokens, nbest)
            continue
        batch.append(document)
        if len(batch) == DOCUMENTS_PER_BATCH:
            yield from _render(tagger, batch, output_format, include_tokens, nbest)
            batch = []
    if batch:
        yield from _render(tagger, batch, output_format, include_tokens, nbest)
    if output_format == "html":
        yield page_end()


def _render(
    tagger: Tagger,
    documents: list[tuple[str, str]],
    output_format: str,
    include_tokens: bool,
    nbest: int,
) -> Iterator[str]:
    tagged = tagger.tag_texts([text for _, text in documents])
    for (source, _), result in zip(documents, tagged, strict=True):
        if output_format == "jsonl":
            alternatives = None
            if nbest:
                alternatives = [
                    tagger.nbest([token.text for token in sentence], nbest)
                    for sentence in result.sentences
                ]
            yield formats.to_jsonl(source, result, tokens=include_tokens, nbest=alternatives)
        elif output_format == "pretty":
            yield formats.to_listing(source, result)
        elif output_format == "html":
            yield render_document(source, result)
        else:
            pairs = [
                ([t.text for t in sentence], tags)
                for sentence, tags in zip(result.sentences, result.tags, strict=True)
            ]
            yield formats.to_conll(pairs) if output_format == "conll" else formats.to_inline(pairs)


def _render_streamed(
    tagger: Tagger,
    document: tuple[str, str],
    output_format: str,
    include_tokens: bool,
    nbest: int,
) -> Iterator[str]:
    """Render one long document from ``Tagger.tag_chunks`` pieces, with the output of ``_render``.

    CoNLL and inline output is written piece by piece, and so is JSON without tokens or n-best
    lists. The other outputs hold the entities of the whole document, because the listing starts
    with their number and JSON puts the tokens after them.
    """
    source, text = document
    if output_format == "jsonl" and not include_tokens and not nbest:
        pieces = (piece.entities for piece in tagger.tag_chunks(text))
        yield from formats.jsonl_pieces(source, pieces)
        return
    entities = []
    sentences = []
    tags = []
    alternatives: list[list[tuple[float, list[str]]]] | None = [] if nbest else None
    for piece in tagger.tag_chunks(text):
        if output_format in ("conll", "inline"):
            pairs = [
                ([t.text for t in sentence], sentence_tags)
                for sentence, sentence_tags in zip(piece.sentences, piece.tags, strict=True)
            ]
            yield formats.to_conll(pairs) if output_format == "conll" else formats.to_inline(pairs)
            continue
        entities.extend(piece.entities)
        if include_tokens:
            # NOTE: the tokens make the record as long as the document, so memory grows with it.
            sentences.extend(piece.sentences)
            tags.extend(piece.tags)
        if alternatives is not None:
            alternatives.extend(
                tagger.nbest([token.text for token in sentence], nbest)
                for sentence in piece.sentences
            )
    if output_format in ("conll", "inline"):
        return
    whole = TaggedText(text, sentences, tags, entities)
    if output_format == "jsonl":
        yield formats.to_jsonl(source, whole, tokens=include_tokens, nbest=alternatives)
    elif output_format == "pretty":
        yield formats.to_listing(source, whole)
    else:
        yield render_document(source, whole)


def _tag_token_files(
    tagger: Tagger, files: Sequence[Path], output_format: str, nbest: int = 0
) -> Iterator[str]:
    if output_format not in ("conll", "inline", "jsonl"):
        raise DataError(f"--format {output_format} needs raw text; use conll, inline or jsonl")
    reader = ConllReader(labelled=False)
    sources = files or [Path("/dev/stdin")]
    for path in sources:
        corpus = reader.read(path)
        tokens = [list(s.tokens) for s in corpus.sentences]
        documents = [s.document for s in corpus.sentences]
        if output_format != "jsonl":
            pairs = list(zip(tokens, tagger.tag_sentences(tokens, documents), strict=True))
            yield formats.to_conll(pairs) if output_format == "conll" else formats.to_inline(pairs)
            continue
        tagged = tagger.tag_sentences_with_confidences(tokens, documents)
        for sentence, (tags, confidences) in zip(tokens, tagged, strict=True):
            alternatives = tagger.nbest(sentence, nbest) if nbest else None
            yield formats.tokens_jsonl(str(path), sentence, tags, confidences, alternatives)
