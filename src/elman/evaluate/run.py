"""Tag an annotated corpus with a model and score the result."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from elman.data.sentence import Corpus
from elman.evaluate.metrics import Scores, score
from elman.tag.predictor import Tagger

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """Scores of a model on a corpus, with the predicted tags and the corpus's OOV rate."""

    scores: Scores
    predicted: list[list[str]]
    oov_rate: float
    unseen_tags: list[str]


def evaluate(tagger: Tagger, corpus: Corpus, *, mode: str = "conlleval") -> Evaluation:
    """Tag every sentence of ``corpus`` and score against its gold tags (IOB2)."""
    tokens = [s.tokens for s in corpus.sentences]
    gold = [list(s.tags or ()) for s in corpus.sentences]
    predicted = tagger.tag_sentences(tokens, [s.document for s in corpus.sentences])
    known = set(tagger.vocab.tags)
    unseen = sorted({tag for tags in gold for tag in tags if tag not in known})
    if unseen:
        logger.warning(
            "%s has tags the model never saw in training, counted as errors: %s",
            corpus.path,
            ", ".join(unseen),
        )
    return Evaluation(
        scores=score(gold, predicted, scheme="iob2", mode=mode),
        predicted=predicted,
        oov_rate=tagger.vocab.oov_rate(tokens),
        unseen_tags=unseen,
    )
