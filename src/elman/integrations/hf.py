"""Hugging Face ``datasets``: token-classification datasets as elman corpora, and training on them.

A dataset row has a list of tokens and a list of tags, as in the ``conll2003`` or ``wnut_17``
datasets. Tags are integers with names from the ``ClassLabel`` feature of the tags column, or
strings. Nothing is downloaded here: load or build the dataset first, for example with
``datasets.load_dataset`` or ``datasets.Dataset.from_dict``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasets import ClassLabel, Dataset, Features, Value
from datasets import Sequence as SequenceFeature

from elman.data.readers import ParseResult, RawSentence, build_corpus
from elman.data.sentence import Corpus
from elman.errors import DataError

if TYPE_CHECKING:
    from elman.store import SavedModel

logger = logging.getLogger(__name__)

BATCH_ROWS = 1000


def tag_names(dataset: Any, tags_column: str) -> list[str] | None:
    """Return the ``ClassLabel`` names of a tags column, or None when it has none."""
    features = getattr(dataset, "features", None)
    if not features or tags_column not in features:
        return None
    inner = getattr(features[tags_column], "feature", None)
    return list(inner.names) if isinstance(inner, ClassLabel) else None


def _rows(dataset: Any, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Yield the values of ``columns`` row by row, reading a ``Dataset`` in batches."""
    if isinstance(dataset, Dataset):
        for batch in dataset.select_columns(list(columns)).iter(batch_size=BATCH_ROWS):
            yield from zip(*(batch[column] for column in columns), strict=True)
        return
    for row in dataset:
        yield tuple(row[column] for column in columns)


def _check_columns(dataset: Any, columns: Sequence[str], name: str) -> None:
    # DatasetDict and IterableDatasetDict are dicts of splits.
    if isinstance(dataset, Mapping):
        splits = ", ".join(map(str, dataset))
        raise DataError(
            f"expected one split of a dataset, found a dataset dictionary with the splits "
            f"{splits}; pass one of them, such as dataset['train']",
            path=name,
        )
    available = getattr(dataset, "column_names", None)
    if available is None:
        return
    for column in columns:
        if column not in available:
            raise DataError(
                f"no column {column!r}; the dataset has {', '.join(available)}. Set "
                "tokens_column and tags_column to the columns of tokens and tags",
                path=name,
            )


def dataset_name(dataset: Any) -> str:
    """Return a name for a dataset in messages: its builder name and split when known."""
    info = getattr(dataset, "info", None)
    base = getattr(info, "dataset_name", None) or "dataset"
    split = getattr(dataset, "split", None)
    return f"{base}[{split}]" if split else base


def corpus_from_dataset(
    dataset: Any,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    *,
    scheme: str = "auto",
    label_names: Sequence[str] | None = None,
    name: str | None = None,
) -> Corpus:
    """Return a ``Corpus`` with the tokens and tags of each row of ``dataset``.

    Integer tags are named by ``label_names``, else by the ``ClassLabel`` of the tags column.
    ``scheme`` is the tag scheme of the names (``"auto"`` detects it), and the corpus tags are
    IOB2 as for every reader. Rows without tokens are skipped. Errors name ``name`` (default:
    the dataset's name and split) and the 1-based row.
    """
    name = name or dataset_name(dataset)
    _check_columns(dataset, (tokens_column, tags_column), name)
    names = list(label_names) if label_names is not None else tag_names(dataset, tags_column)
    sentences: list[RawSentence] = []
    empty = 0
    for index, (tokens, tags) in enumerate(_rows(dataset, (tokens_column, tags_column))):
        row = index + 1
        if not tokens:
            empty += 1
            continue
        words = _tokens(tokens, row, name)
        labels = _tags(tags, names, len(words), tags_column, row, name)
        sentences.append(RawSentence(words, labels, row, line_step=0))
    if empty:
        logger.warning("%s: skipped %d row(s) without tokens", name, empty)
    if not sentences:
        raise DataError("no rows with tokens; the dataset is empty", path=name)
    return build_corpus(ParseResult(sentences), Path(name), scheme=scheme, strict=True)


def _tokens(tokens: Any, row: int, name: str) -> tuple[str, ...]:
    if not all(isinstance(token, str) and token for token in tokens):
        raise DataError(
            f"invalid tokens {tokens!r}: every token must be a non-empty string",
            path=name,
            line=row,
        )
    return tuple(tokens)


def _tags(
    tags: Any, names: list[str] | None, count: int, column: str, row: int, name: str
) -> tuple[str, ...]:
    values = list(tags)
    if len(values) != count:
        raise DataError(
            f"{count} tokens but {len(values)} tags; each token needs one tag",
            path=name,
            line=row,
        )
    if all(isinstance(value, str) for value in values):
        return tuple(values)
    if names is None:
        raise DataError(
            f"the {column!r} column contains integers but has no ClassLabel feature to name them; "
            "pass label_names=[...] in the order of the integers, or cast the column to "
            "Sequence(ClassLabel(names=[...]))",
            path=name,
        )
    bad = [
        v
        for v in values
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < len(names)
    ]
    if bad:
        # A negative value such as -100 marks a position that a subword model ignores.
        raise DataError(
            f"tag value {bad[0]!r} is not an index into the {len(names)} tag names; the "
            "dataset must have one tag per token, not per subword",
            path=name,
            line=row,
        )
    return tuple(names[value] for value in values)


def dataset_from_corpus(
    corpus: Corpus, tokens_column: str = "tokens", tags_column: str = "ner_tags"
) -> Dataset:
    """Return a ``Dataset`` with the tokens and IOB2 tags of ``corpus``, tags as a ClassLabel.

    The tag names are ``O`` followed by the other tags, sorted. Unlabelled sentences are an
    error, because every row needs tags.
    """
    tags = sorted({tag for s in corpus.sentences for tag in s.tags or ()} - {"O"})
    names = ["O", *tags]
    index = {tag: position for position, tag in enumerate(names)}
    rows_tokens = []
    rows_tags = []
    for sentence in corpus.sentences:
        if sentence.tags is None:
            raise DataError(
                f"the sentence on line {sentence.line} has no tags; every row needs tags",
                path=corpus.path,
            )
        rows_tokens.append(list(sentence.tokens))
        rows_tags.append([index[tag] for tag in sentence.tags])
    features = Features(
        {
            tokens_column: SequenceFeature(Value("string")),
            tags_column: SequenceFeature(ClassLabel(names=names)),
        }
    )
    return Dataset.from_dict({tokens_column: rows_tokens, tags_column: rows_tags}, features)


def train_from_dataset(
    train: Any,
    dev: Any | None,
    output: str | Path,
    *,
    test: Any | None = None,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    label_names: Sequence[str] | None = None,
    preset: str | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> SavedModel:
    """Train a model on dataset splits and save it to ``output``, as ``elman train`` does.

    ``preset``, ``config``, ``overrides`` (``"model.hidden=64"``) and ``seed`` set the model and
    training settings as on the command line. A run trained from datasets cannot be resumed
    with ``elman train --resume``, because the checkpoint cannot name the data. ``output`` must
    not contain an earlier run unless ``overwrite`` is set, as with ``elman train --overwrite``.
    """
    # Imported here because they pull in torch.
    from elman.settings import load_settings, with_seed
    from elman.train.members import train_members
    from elman.train.output import claimed_output
    from elman.train.progress import ProgressBar
    from elman.train.run import RunSpec, train_model

    def convert(dataset: Any, split: str) -> Corpus:
        named = dataset_name(dataset)
        return corpus_from_dataset(
            dataset,
            tokens_column,
            tags_column,
            label_names=label_names,
            name=named if "[" in named else f"{named}[{split}]",
        )

    model_config, train_config = load_settings(
        preset=preset, config_file=config, overrides=list(overrides)
    )
    train_config = with_seed(train_config, seed)
    train_corpus = convert(train, "train")
    dev_corpus = None if dev is None else convert(dev, "dev")
    test_corpus = None if test is None else convert(test, "test")
    spec = RunSpec(
        train=train_corpus.path,
        dev=None if dev_corpus is None else dev_corpus.path,
        output=str(output),
        test=None if test_corpus is None else test_corpus.path,
    )
    corpora = (train_corpus, dev_corpus, test_corpus)
    with claimed_output(spec, model_config, train_config, overwrite, corpora):
        if model_config.members > 1:
            return train_members(spec, model_config, train_config, corpora=corpora)
        return train_model(
            spec,
            model_config,
            train_config,
            consumers=[ProgressBar(enabled=None if progress else False)],
            corpora=corpora,
        )
