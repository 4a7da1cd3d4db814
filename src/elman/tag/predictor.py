"""A trained model ready to tag: tokens to tags, and raw text to entities with offsets.

Used by the Python API (``elman.load``), the command line and the HTTP service alike. A ``Tagger``
keeps no per-call state, so one instance may serve concurrent calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TypeVar

import torch

from elman.data import scheme
from elman.data.batch import Batch, encode_batch, length_batches
from elman.errors import ModelError
from elman.model.consistency import harmonize_corpus
from elman.model.decode import nbest
from elman.model.inference import Decoded, decode_in_documents
from elman.store import SavedModel, load_model
from elman.tag.tokenize import Token, iter_sentences, tokenize_document

SENTENCES_PER_CHUNK = 1024
"""Sentences that ``Tagger.tag_chunks`` tags and yields at a time."""
MAX_SENTENCE_TOKENS = 10_000
"""Length at which ``Tagger.tag_chunks`` cuts a sentence, so that text without sentence ends
(a log, a table) is tagged in bounded memory. Real sentences are far shorter."""
MAX_BATCH_TOKENS = 8_192
"""Bound on rows times padded length of one batch. A longer sentence forms a batch alone."""

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Entity:
    """A labelled span of a text: ``text == document[start:end]``.

    ``confidence`` is the mean, over the entity's tokens, of the probability the model gives to the
    chosen tag (softmax, or CRF marginals).
    """

    text: str
    label: str
    start: int
    end: int
    confidence: float

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "confidence": round(self.confidence, 4),
        }


@dataclass(frozen=True)
class TaggedText:
    """A text with its sentences, their tokens, one IOB2 tag per token, and the entities."""

    text: str
    sentences: list[list[Token]]
    tags: list[list[str]]
    entities: list[Entity]


class Tagger:
    """Tags tokens or raw text with a loaded model.

    ``workers`` > 1 tags that many batches at the same time in threads (PyTorch releases the
    interpreter lock while it computes). With one PyTorch thread each (``torch.set_num_threads(1)``)
    this uses several cores better than one batch at a time on several threads, because the
    matrices of one recurrent step are too small to split well.
    """

    def __init__(
        self,
        saved: SavedModel,
        *,
        batch_size: int = 1024,
        backend: str = "torch",
        onnx_file: str | Path | None = None,
        workers: int = 1,
    ):
        if workers < 1:
            raise ModelError(f"invalid workers={workers}: expected 1 or more")
        self.saved = saved
        self.model = saved.model.eval()
        self.vocab = saved.vocab
        self.batch_size = batch_size
        self.backend = backend
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._emissions: Callable[[Batch], torch.Tensor] = self.model.emissions
        if backend == "onnx":
            from elman.export.onnx import ONNX_FILE, OnnxEmissions, model_digest

            if onnx_file is not None:
                source = Path(onnx_file)
            elif saved.path is not None:
                source = saved.path / ONNX_FILE
            else:
                raise ModelError("the onnx backend needs a model directory or an ONNX file")
            self._emissions = OnnxEmissions(source, digest=model_digest(saved), model=saved.path)
        elif backend != "torch":
            raise ModelError(f"unknown backend {backend!r}; expected torch or onnx")

    @property
    def labels(self) -> list[str]:
        """Entity types the model can output, sorted."""
        return sorted({scheme.split_tag(tag)[1] for tag in self.vocab.tags if tag != "O"})

    def __call__(self, text: str) -> list[Entity]:
        return self.tag_text(text).entities

    def tag_tokens(self, tokens: Sequence[str]) -> list[str]:
        """Return one IOB2 tag per token; an empty list for no tokens."""
        return self.tag_sentences([tokens])[0]

    def tag_sentences(
        self, sentences: Sequence[Sequence[str]], documents: Sequence[int] | None = None
    ) -> list[list[str]]:
        """Return the IOB2 tags of each sentence, in input order.

        ``documents`` numbers each sentence's document, for a model with document-level label
        consistency. Without it all ``sentences`` form one document.
        """
        _check_documents(sentences, documents)
        predicted = self._predict(sentences, confidences=False, documents=documents)
        return [tags for tags, _ in predicted]

    def tag_sentences_with_confidences(
        self, sentences: Sequence[Sequence[str]], documents: Sequence[int] | None = None
    ) -> list[tuple[list[str], list[float]]]:
        """Return each sentence's IOB2 tags and the probability of each tag, in input order.

        The probabilities are those behind ``Entity.confidence``; ``documents`` is as in
        ``tag_sentences``.
        """
        _check_documents(sentences, documents)
        return self._predict(sentences, confidences=True, documents=documents)

    def nbest(self, tokens: Sequence[str], k: int) -> list[tuple[float, list[str]]]:
        """Return the ``k`` best tag sequences of one sentence with their scores, best first.

        Scores are log-probabilities under the softmax output (with the scheme's forbidden
        transitions excluded), or unnormalised CRF path scores under the CRF output.
        """
        if not tokens:
            return [(0.0, [])]
        chars = self.model.config.char_encoder != "none"
        with torch.inference_mode():
            batch = encode_batch(self.vocab, [tokens], chars=chars)
            scores = self._emissions(batch)[0]  # (time, num_tags)
            if self.model.crf is None:
                scores = torch.log_softmax(scores, dim=-1)
            start, transitions, end = self.model.decoding_scores()
            best = nbest(scores, start, transitions, end, k)
        return [(score, [self.vocab.tags[i] for i in path]) for score, path in best]

    def tag_text(self, text: str) -> TaggedText:
        """Split ``text`` into sentences and tokens, tag them, and collect the entities."""
        return self.tag_texts([text])[0]

    def tag_texts(self, texts: Iterable[str]) -> list[TaggedText]:
        """Tag several texts, batching their sentences together."""
        documents = [(text, tokenize_document(text)) for text in texts]
        flat = [[t.text for t in sentence] for _, sentences in documents for sentence in sentences]
        numbers = [n for n, (_, sentences) in enumerate(documents) for _ in sentences]
        predictions = iter(self._predict(flat, documents=numbers))
        return [_collect(text, sentences, predictions) for text, sentences in documents]

    def tag_chunks(
        self, text: str, sentences_per_chunk: int = SENTENCES_PER_CHUNK
    ) -> Iterator[TaggedText]:
        """Tag ``text`` piece by piece, yielding a ``TaggedText`` per run of consecutive sentences.

        Each piece has the whole ``text``, which its offsets index, and up to
        ``sentences_per_chunk`` sentences with their tags and entities. Memory grows with the
        length of a piece, not of ``text``. A sentence is cut after ``MAX_SENTENCE_TOKENS``
        tokens. Text without longer sentences gets the sentences, tags and entity spans that
        ``tag_text(text)`` gives it.

        NOTE: document-level label consistency works on one piece at a time, so a name is not
        relabelled from a mention in another piece.
        """
        sentences = iter_sentences(text, MAX_SENTENCE_TOKENS)
        while chunk := list(islice(sentences, sentences_per_chunk)):
            predictions = iter(self._predict([[token.text for token in s] for s in chunk]))
            yield _collect(text, chunk, predictions)

    def _predict(
        self,
        sentences: Sequence[Sequence[str]],
        *,
        confidences: bool = True,
        documents: Sequence[int] | None = None,
    ) -> list[tuple[list[str], list[float]]]:
        """Return (tags, confidence of each tag) per sentence, in input order.

        Without ``confidences`` the lists of confidences are empty, which saves a pass over the
        scores (and the CRF's forward-backward) when only tags are wanted. ``documents`` is as in
        ``tag_sentences``.
        """
        names = self.vocab.tags
        if self.model.config.document_consistency:
            decoded = self._decode_documents(sentences, confidences, documents)
            tags = [[names[i] for i in path] for path, _ in decoded]
            tags = harmonize_corpus(sentences, tags, documents)
        else:
            decoded = self._map_parts(
                sentences, lambda rows: self._predict_batch(rows, confidences), ([], None)
            )
            tags = [[names[i] for i in path] for path, _ in decoded]
        if not confidences:
            return [(sentence_tags, []) for sentence_tags in tags]
        ids = {name: i for i, name in enumerate(names)}
        results: list[tuple[list[str], list[float]]] = []
        for sentence_tags, (_, probs) in zip(tags, decoded, strict=True):
            if probs is None or not sentence_tags:
                results.append((sentence_tags, []))
                continue
            chosen = torch.tensor([ids[tag] for tag in sentence_tags], dtype=torch.long)
            results.append(
                (sentence_tags, probs.gather(1, chosen.unsqueeze(1)).squeeze(1).tolist())
            )
        return results

    def _decode_documents(
        self,
        sentences: Sequence[Sequence[str]],
        confidences: bool,
        documents: Sequence[int] | None,
    ) -> list[Decoded]:
        """Score every sentence, then decode each document's sentences together."""
        empty = torch.zeros(0, len(self.vocab.tags))
        scores = self._map_parts(sentences, self._row_scores, empty)
        return decode_in_documents(
            self.model, sentences, scores, documents, confidences=confidences
        )

    def _map_parts(
        self,
        sentences: Sequence[Sequence[str]],
        function: Callable[[list[Sequence[str]]], list[Row]],
        empty: Row,
    ) -> list[Row]:
        """Apply ``function`` to length-sorted batches of the sentences; return rows in input order.

        An empty sentence gets ``empty``.
        """
        results: list[Row] = [empty for _ in sentences]
        lengths = [len(tokens) for tokens in sentences]
        parts = [
            part
            for indices in length_batches(lengths, self.batch_size, shuffle=False)
            for part in _bounded_batches([i for i in indices if lengths[i] > 0], lengths)
        ]

        def tag_part(part: list[int]) -> list[Row]:
            # inference_mode is per thread, so each worker enters it itself.
            with torch.inference_mode():
                return function([sentences[i] for i in part])

        if self.workers > 1 and len(parts) > 1:
            tagged = self._worker_pool().map(tag_part, parts)
        else:
            tagged = map(tag_part, parts)
        for part, rows in zip(parts, tagged, strict=True):
            for index, row in zip(part, rows, strict=True):
                results[index] = row
        return results

    def _worker_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="elman-tag")
            return self._pool

    def _predict_batch(
        self, sentences: Sequence[Sequence[str]], confidences: bool
    ) -> list[Decoded]:
        chars = self.model.config.char_encoder != "none"
        batch = encode_batch(self.vocab, sentences, chars=chars)
        scores = self._emissions(batch)  # (batch, time, num_tags)
        paths = self.model.decode(scores, batch.mask)
        if not confidences:
            return [(path, None) for path in paths]
        probs = self.model.tag_probabilities(scores, batch.mask)  # (batch, time, num_tags)
        return [(path, probs[row, : len(path)]) for row, path in enumerate(paths)]

    def _row_scores(self, sentences: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        chars = self.model.config.char_encoder != "none"
        batch = encode_batch(self.vocab, sentences, chars=chars)
        scores = self._emissions(batch)  # (batch, time, num_tags)
        return [scores[row, : len(tokens)] for row, tokens in enumerate(sentences)]


def _check_documents(sentences: Sequence[Sequence[str]], documents: Sequence[int] | None) -> None:
    if documents is not None and len(documents) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(documents)} document numbers")


def _bounded_batches(indices: list[int], lengths: Sequence[int]) -> Iterator[list[int]]:
    """Split a length-sorted batch so that rows times the longest row stay in MAX_BATCH_TOKENS."""
    part: list[int] = []
    for index in indices:
        if part and (len(part) + 1) * lengths[index] > MAX_BATCH_TOKENS:
            yield part
            part = []
        part.append(index)
    if part:
        yield part


def _collect(
    text: str,
    sentences: list[list[Token]],
    predictions: Iterator[tuple[list[str], list[float]]],
) -> TaggedText:
    """Take the next prediction for each sentence and build the ``TaggedText`` of ``text``."""
    tags, entities = [], []
    for sentence in sentences:
        sentence_tags, confidences = next(predictions)
        tags.append(sentence_tags)
        entities.extend(_entities(text, sentence, sentence_tags, confidences))
    return TaggedText(text, sentences, tags, entities)


def _entities(
    text: str, sentence: list[Token], tags: list[str], confidences: list[float]
) -> list[Entity]:
    entities = []
    for start, end, label in scheme.to_spans(tags, "iob2"):
        first, last = sentence[start], sentence[end - 1]
        confidence = sum(confidences[start:end]) / (end - start)
        entities.append(
            Entity(text[first.start : last.end], label, first.start, last.end, confidence)
        )
    return entities


def load(
    path: str | Path,
    *,
    backend: str = "torch",
    onnx_file: str | Path | None = None,
    workers: int = 1,
) -> Tagger:
    """Load a model directory written by ``elman train`` and return a ``Tagger``.

    ``backend`` "onnx" computes scores with onnxruntime from the directory's ``model.onnx``
    (written by ``elman export``), or from ``onnx_file`` when given. ``workers`` is the number
    of batches tagged at the same time (see ``Tagger``).
    """
    return Tagger(load_model(path), backend=backend, onnx_file=onnx_file, workers=workers)
