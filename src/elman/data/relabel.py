"""Rename the entity types of a corpus, so that a corpus annotated with other labels can join
the training data of another.

A type map is written ``FROM=TO`` pairs separated by commas, for example
``PER=person,LOC=location,ORG=O,MISC=O``. ``TO`` is a type of the main training corpus, or ``O``
to drop the spans of type ``FROM``. ``*=TO`` applies to every type that the map does not name.
Without ``*``, a type that the map does not name keeps its name, and must then be a type of the
main training corpus.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import replace

from elman.data.sentence import Corpus
from elman.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

OUTSIDE = "O"
OTHERS = "*"


def parse_type_map(text: str, *, setting: str = "train.extra_types") -> dict[str, str]:
    """Return the map written as ``FROM=TO,FROM=TO``; an empty text is an empty map."""
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        source, equals, target = (side.strip() for side in item.partition("="))
        if not equals or not source or not target or "=" in target:
            raise ConfigError(
                f"{setting}: {item!r} is not FROM=TO; write pairs such as PER=person,MISC=O"
            )
        if target != OUTSIDE and target.startswith(("B-", "I-")):
            raise ConfigError(
                f"{setting}: {item!r} names a tag; write entity types without B- or I-"
            )
        if source in mapping:
            raise ConfigError(f"{setting}: the type {source!r} is mapped twice")
        mapping[source] = target
    return mapping


def relabel_corpus(corpus: Corpus, mapping: dict[str, str], known: Collection[str]) -> Corpus:
    """Return a copy of ``corpus`` with its entity types renamed by ``mapping``.

    ``known`` contains the entity types of the main training corpus. A type that ends up outside
    ``known`` (and is not ``O``) is an error naming the corpus and the types to map.
    """
    types = corpus_entity_types(corpus)
    renamed = {name: _target(name, mapping) for name in types}
    unknown = sorted(name for name, target in renamed.items() if target not in (*known, OUTSIDE))
    if unknown:
        raise DataError(
            f"entity types {', '.join(unknown)} are not types of the training corpus "
            f"({', '.join(sorted(known)) or 'none'}); map each of them in train.extra_types "
            f"to one of those types or to O, for example {unknown[0]}=O",
            path=corpus.path,
        )
    sentences = [
        replace(sentence, tags=tuple(_rename(tag, renamed) for tag in sentence.tags))
        if sentence.tags is not None
        else sentence
        for sentence in corpus.sentences
    ]
    _log_mapping(corpus, renamed)
    return replace(corpus, sentences=sentences)


def entity_types(tags: Iterable[Iterable[str]]) -> set[str]:
    """Return the entity types that the IOB2 tag sequences ``tags`` use."""
    return {tag[2:] for row in tags for tag in row if tag != OUTSIDE}


def corpus_entity_types(corpus: Corpus) -> set[str]:
    """Return the entity types that the sentences of ``corpus`` use."""
    return entity_types(sentence.tags or () for sentence in corpus.sentences)


def _target(name: str, mapping: dict[str, str]) -> str:
    return mapping.get(name, mapping.get(OTHERS, name))


def _rename(tag: str, renamed: dict[str, str]) -> str:
    if tag == OUTSIDE:
        return tag
    target = renamed[tag[2:]]
    return OUTSIDE if target == OUTSIDE else f"{tag[:2]}{target}"


def _log_mapping(corpus: Corpus, renamed: dict[str, str]) -> None:
    counts: Counter[str] = Counter(
        tag[2:]
        for sentence in corpus.sentences
        for tag in sentence.tags or ()
        if tag.startswith("B-")
    )
    pairs = ", ".join(f"{name} -> {renamed[name]} ({counts[name]})" for name in sorted(renamed))
    logger.info("%s: entity types renamed: %s", corpus.path, pairs or "none")
