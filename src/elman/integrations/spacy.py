"""The spaCy pipeline component ``elman_ner``: an elman model that sets ``doc.ents``.

``nlp.add_pipe("elman_ner", config={"model": "path/to/model"})`` loads the model once. The
factory is registered with spaCy through the ``spacy_factories`` entry point of the elman package,
so spaCy finds it without an import. The component tags spaCy's own tokens, skipping whitespace
tokens, sentence by sentence: ``doc.sents`` when the ``Doc`` has sentence boundaries, else the
sentences of ``elman.tag.tokenize.split_sentences``, as ``Tagger.tag_text`` splits raw text. It
replaces any entities that the ``Doc`` already has.

This module imports spaCy but not torch: spaCy imports every registered factory module whenever it
creates a pipeline, so the model code is imported only when the component is created.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from elman.data import scheme as schemes
from elman.data.docbin import doc_sentences

if TYPE_CHECKING:
    from elman.tag.predictor import Tagger

FACTORY = "elman_ner"
DEFAULT_BATCH_SIZE = 64


class ElmanNER:
    """A pipeline component that finds entities with an elman ``Tagger``.

    ``batch_size`` is the number of ``Doc`` objects whose sentences ``pipe`` tags together.
    """

    def __init__(self, name: str, tagger: Tagger, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.name = name
        self.tagger = tagger
        self.batch_size = batch_size

    @property
    def labels(self) -> tuple[str, ...]:
        """The entity types that the model can output, sorted."""
        return tuple(self.tagger.labels)

    def __call__(self, doc: Doc) -> Doc:
        self.set_entities([doc])
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """Tag a stream of ``Doc`` objects, ``batch_size`` of them at a time, in order."""
        for batch in minibatch(docs, size=batch_size or self.batch_size):
            self.set_entities(batch)
            yield from batch

    def set_entities(self, docs: list[Doc]) -> None:
        """Tag the sentences of ``docs`` in one batch and set each ``doc.ents``."""
        sentences = []
        owners = []
        for position, doc in enumerate(docs):
            doc_tokens, indices = doc_sentences(doc)
            offset = 0
            for tokens in doc_tokens:
                sentences.append([token.text for token in tokens])
                owners.append((position, indices[offset : offset + len(tokens)]))
                offset += len(tokens)
        entities: list[list[Span]] = [[] for _ in docs]
        tagged = self.tagger.tag_sentences(sentences) if sentences else []
        for (position, indices), tags in zip(owners, tagged, strict=True):
            doc = docs[position]
            for first, last, label in schemes.to_spans(tags, "iob2"):
                entities[position].append(Span(doc, indices[first], indices[last - 1] + 1, label))
        for doc, spans in zip(docs, entities, strict=True):
            doc.set_ents(spans, default="outside")


@Language.factory(
    FACTORY,
    default_config={"batch_size": DEFAULT_BATCH_SIZE},
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
)
def make_elman_ner(nlp: Language, name: str, model: str, batch_size: int) -> ElmanNER:
    """Create the ``elman_ner`` component from the elman model directory ``model``."""
    from elman.tag.predictor import load

    return ElmanNER(name, load(model), batch_size)
