"""spaCy DocBin files (``.spacy``), the training data format of spaCy v3: reader and writer.

Reading takes the tokens, ``doc.ents`` and the sentence boundaries of each ``Doc``. A ``Doc``
without sentence boundaries is split with ``elman.tag.tokenize.split_sentences``, and one without
entity annotation (no token has an IOB value) is unlabelled. Whitespace tokens are dropped. The
intent of a sentence is the category with the highest score in ``doc.cats``. Writing makes one
``Doc`` per record of a corpus that was read with its text (span files, DocBin), else one per
sentence, with the sentence boundaries, the entities, the intent as ``doc.cats`` and the
document number in ``doc.user_data``.

spaCy is an optional dependency (``pip install 'elman[spacy]'``), imported on first use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elman import atomic
from elman.data import spans
from elman.data.readers import ParseResult, Reader, register
from elman.data.sentence import Corpus
from elman.errors import DataError, ElmanError
from elman.tag.tokenize import Token, split_sentences

if TYPE_CHECKING:
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

logger = logging.getLogger(__name__)

SUFFIX = ".spacy"
# The key in ``doc.user_data`` that keeps the 0-based document number of an elman sentence.
DOCUMENT_KEY = "elman_document"
INSTALL_HINT = "install it with: pip install 'elman[spacy]'"


def require_spacy() -> None:
    """Raise ElmanError with the install command when spaCy cannot be imported."""
    try:
        import spacy  # noqa: F401
    except ImportError as exc:
        raise ElmanError(
            f"spaCy is needed for .spacy files but is not installed ({exc}); {INSTALL_HINT}"
        ) from None


def read_docs(path: Path) -> list[Doc]:
    """Return the ``Doc`` objects of a DocBin file, on a blank vocabulary."""
    require_spacy()
    import srsly
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror}", path=path) from None
    try:
        doc_bin = DocBin().from_bytes(data)
    except Exception as exc:
        # DocBin raises zlib, msgpack and ValueError errors, depending on the damage.
        raise DataError(
            f"not a spaCy DocBin file ({type(exc).__name__}: {exc}); write one with "
            "spacy.tokens.DocBin.to_disk or elman convert",
            path=path,
        ) from None
    # get_docs would unpack each Doc's user data with its own msgpack call, which costs about a
    # millisecond (srsly looks up its extension entry points on each call). Equal user data is
    # common here (the document number of each sentence), so each distinct value is unpacked once.
    packed_user_data = doc_bin.user_data
    doc_bin.user_data = []
    docs = list(doc_bin.get_docs(Vocab()))
    unpacked: dict[bytes, dict[Any, Any]] = {}
    for doc, packed in zip(docs, packed_user_data, strict=False):
        if packed:
            if packed not in unpacked:
                unpacked[packed] = srsly.msgpack_loads(packed, use_list=False)
            doc.user_data.update(unpacked[packed])
    return docs


def doc_sentences(doc: Doc) -> tuple[list[list[Token]], list[int]]:
    """Return the sentences of a ``Doc`` as elman tokens and the spaCy index of each token.

    Whitespace tokens are dropped. The sentences are ``doc.sents`` when the ``Doc`` has
    sentence boundaries, else those of ``split_sentences``.
    """
    tokens: list[Token] = []
    indices: list[int] = []
    starts: list[int] = []
    has_sentences = doc.has_annotation("SENT_START")
    for token in doc:
        if spans.is_separator(token.text):
            continue
        if has_sentences and token.is_sent_start:
            starts.append(len(tokens))
        tokens.append(Token(token.text, token.idx, token.idx + len(token.text)))
        indices.append(token.i)
    if not tokens:
        return [], indices
    if not has_sentences:
        return split_sentences(tokens, doc.text), indices
    bounds = sorted({0, *starts})
    ends = [*bounds[1:], len(tokens)]
    return [tokens[begin:end] for begin, end in zip(bounds, ends, strict=True)], indices


def doc_entities(doc: Doc) -> list[spans.CharSpan] | None:
    """Return ``doc.ents`` as character spans, or None when the ``Doc`` has no NER annotation."""
    if not doc.has_annotation("ENT_IOB"):
        return None
    return [spans.CharSpan(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def doc_intent(doc: Doc) -> str | None:
    """Return the category with the highest score in ``doc.cats``, or None without categories."""
    if not doc.cats:
        return None
    return max(doc.cats.items(), key=lambda item: item[1])[0]


@register
class DocBinReader(Reader):
    """Reader of spaCy DocBin files (``.spacy``): tokens, sentences and ``doc.ents``.

    Entity boundaries come from spaCy's tokens, so ``on_misaligned`` matters only where a
    whitespace token starts or ends an entity. The tags are always IOB2, so ``scheme`` has no
    effect here.
    """

    name = "spacy"
    description = "a spaCy DocBin file (.spacy) with entities in doc.ents"

    def __init__(
        self, *, scheme: str = "auto", strict: bool = True, on_misaligned: str = "error"
    ) -> None:
        super().__init__(scheme=scheme, strict=strict)
        self.on_misaligned = spans.check_mode(on_misaligned)

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() == SUFFIX

    def parse(self, path: Path) -> ParseResult:
        return self._parse(path)[0]

    def read(self, path: Path) -> spans.TextCorpus:
        parsed, sources = self._parse(path)
        return spans.text_corpus(parsed, sources, path)

    def _parse(self, path: Path) -> tuple[ParseResult, list[spans.SourceText]]:
        builder = spans.CorpusBuilder(path, self.on_misaligned)
        skipped: list[int] = []
        previous_key: Any = None
        for index, doc in enumerate(read_docs(path)):
            key = doc.user_data.get(DOCUMENT_KEY)
            sentences, _ = doc_sentences(doc)
            try:
                builder.add(
                    doc.text,
                    sentences,
                    doc_entities(doc),
                    # A DocBin has no lines, so errors name the 1-based number of the Doc.
                    line=index + 1,
                    number=index + 1,
                    intent=doc_intent(doc),
                    same_document=key is not None and key == previous_key,
                )
            except DataError:
                if self.strict:
                    raise
                skipped.append(index + 1)
            previous_key = key
        builder.log_summary()
        return builder.result(skipped), builder.sources


def record_doc(vocab: Vocab, record: spans.TextRecord) -> Doc:
    """Build the ``Doc`` of one record, with ``doc.text == record.text``.

    Whitespace that is not a single space after a token becomes a whitespace token, as
    spaCy's tokenizer makes them.
    """
    from spacy.tokens import Doc

    words: list[str] = []
    spaces: list[bool] = []
    sent_starts: list[bool | int | None] = []
    tags: list[str] = []
    position = 0
    for sentence, offsets in zip(record.sentences, record.offsets, strict=True):
        sentence_tags = sentence.tags or ("O",) * len(sentence)
        for index, ((start, end), tag) in enumerate(zip(offsets, sentence_tags, strict=True)):
            gap = record.text[position:start]
            inside = tag.startswith("I-")
            _add_gap(words, spaces, sent_starts, tags, gap, tag if inside else "O")
            words.append(record.text[start:end])
            spaces.append(False)
            sent_starts.append(index == 0)
            tags.append(tag)
            position = end
    _add_gap(words, spaces, sent_starts, tags, record.text[position:], "O")
    if words and not sent_starts[0]:
        # Leading whitespace belongs to the first sentence, which spaCy starts at token 0.
        sent_starts[sent_starts.index(True)] = False
        sent_starts[0] = True

    labelled = any(sentence.tags is not None for sentence in record.sentences)
    return Doc(
        vocab, words=words, spaces=spaces, sent_starts=sent_starts, ents=tags if labelled else None
    )


def _add_gap(
    words: list[str],
    spaces: list[bool],
    sent_starts: list[bool | int | None],
    tags: list[str],
    gap: str,
    tag: str,
) -> None:
    """Add the text between two tokens: a trailing space of the last word, or a new word."""
    if not gap:
        return
    if words and gap[0] == " " and not spaces[-1]:
        spaces[-1] = True
        gap = gap[1:]
    if gap:
        words.append(gap)
        spaces.append(False)
        sent_starts.append(False)
        tags.append(tag)


def corpus_docs(corpus: Corpus, vocab: Vocab) -> list[Doc]:
    """Return the ``Doc`` objects that ``write_docbin`` stores for ``corpus``."""
    docs = []
    for record in spans.text_records(corpus):
        doc = record_doc(vocab, record)
        first = record.sentences[0]
        if first.intent is not None:
            doc.cats = {first.intent: 1.0}
        doc.user_data[DOCUMENT_KEY] = first.document
        docs.append(doc)
    return docs


def write_docbin(corpus: Corpus, path: str | Path) -> None:
    """Write ``corpus`` to a spaCy DocBin file, atomically."""
    require_spacy()
    import srsly
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    docs = corpus_docs(corpus, Vocab())
    doc_bin = DocBin(docs=docs)
    # As in read_docs: packing the user data of each Doc separately costs about a millisecond
    # per Doc, so each distinct value is packed once and the list is set directly.
    packed: dict[Any, bytes] = {}
    for doc in docs:
        key = doc.user_data[DOCUMENT_KEY]
        if key not in packed:
            packed[key] = srsly.msgpack_dumps(dict(doc.user_data))
    doc_bin.user_data = [packed[doc.user_data[DOCUMENT_KEY]] for doc in docs]
    doc_bin.store_user_data = True
    atomic.write_bytes(path, doc_bin.to_bytes())
