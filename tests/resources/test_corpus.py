"""Checks of the corpus shipped in ``elman`` and of the script that builds it."""

from __future__ import annotations

import importlib.util
import itertools
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from elman.data.readers import read_corpus

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIR = REPO / "src" / "elman" / "resources" / "corpus"
BUILD_SCRIPT = REPO / "tools" / "build_corpus.py"
SOURCE_DIR = REPO / "tools" / "corpus_src"
SAMPLE = REPO / "src" / "elman" / "resources" / "sample.txt"
SPLITS = ("train", "dev", "test")
TYPES = ("PER", "ORG", "LOC", "MISC")
VALID_TAGS = {"O"} | {f"{prefix}-{label}" for prefix in "BI" for label in TYPES}

# One (token, tag) pair per line of a sentence.
ConllSentence = list[tuple[str, str]]


def load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_corpus", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # The dataclass decorator looks the module up in sys.modules to resolve annotations.
    sys.modules["build_corpus"] = module
    spec.loader.exec_module(module)
    return module


def read_split(split: str) -> list[ConllSentence]:
    text = (CORPUS_DIR / f"{split}.conll").read_bytes().decode("utf-8")
    sentences: list[ConllSentence] = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        sentence = []
        for line in block.split("\n"):
            token, tag = line.split(" ")
            sentence.append((token, tag))
        sentences.append(sentence)
    return sentences


def readme_sentence_counts() -> dict[str, int]:
    readme = (CORPUS_DIR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (train|dev|test) \| ([\d,]+) \|", readme, flags=re.MULTILINE)
    return {split: int(count.replace(",", "")) for split, count in rows}


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[ConllSentence]]:
    return {split: read_split(split) for split in SPLITS}


@pytest.fixture(scope="module")
def build_corpus() -> ModuleType:
    return load_build_script()


# --- File format ---


@pytest.mark.parametrize("split", SPLITS)
def test_lines_have_token_and_tag(split: str) -> None:
    text = (CORPUS_DIR / f"{split}.conll").read_text(encoding="utf-8")
    malformed = [line for line in text.split("\n") if line and len(line.split(" ")) != 2]
    assert malformed == []


@pytest.mark.parametrize("split", SPLITS)
def test_file_ends_with_newline(split: str) -> None:
    assert (CORPUS_DIR / f"{split}.conll").read_bytes().endswith(b"\n")


@pytest.mark.parametrize("split", SPLITS)
def test_lf_line_endings(split: str) -> None:
    assert b"\r" not in (CORPUS_DIR / f"{split}.conll").read_bytes()


@pytest.mark.parametrize("split", SPLITS)
def test_no_docstart(split: str) -> None:
    assert b"-DOCSTART-" not in (CORPUS_DIR / f"{split}.conll").read_bytes()


def test_tokens_contain_no_whitespace(corpus: dict[str, list[ConllSentence]]) -> None:
    bad = [
        token
        for sentences in corpus.values()
        for sentence in sentences
        for token, _ in sentence
        if not token or any(char.isspace() for char in token)
    ]
    assert bad == []


# --- Tags ---


def test_tags_are_iob2_of_four_types(corpus: dict[str, list[ConllSentence]]) -> None:
    tags = {tag for sentences in corpus.values() for sentence in sentences for _, tag in sentence}
    assert tags <= VALID_TAGS


def test_inside_tag_continues_same_type(corpus: dict[str, list[ConllSentence]]) -> None:
    broken = []
    for sentences in corpus.values():
        for sentence in sentences:
            previous = "O"
            for token, tag in sentence:
                if tag.startswith("I-") and previous[2:] != tag[2:]:
                    broken.append((token, previous, tag))
                previous = tag
    assert broken == []


@pytest.mark.parametrize("split", SPLITS)
def test_every_type_in_every_split(split: str, corpus: dict[str, list[ConllSentence]]) -> None:
    labels = {tag[2:] for sentence in corpus[split] for _, tag in sentence if tag != "O"}
    assert labels == set(TYPES)


def test_project_reader_accepts_corpus(corpus: dict[str, list[ConllSentence]]) -> None:
    for split in SPLITS:
        read = read_corpus(f"builtin:{split}")
        assert len(read) == len(corpus[split])
        assert read.scheme == "iob2"
        assert read.violations == 0


# --- Sizes and content ---


def test_readme_states_every_split() -> None:
    assert set(readme_sentence_counts()) == set(SPLITS)


@pytest.mark.parametrize("split", SPLITS)
def test_split_at_least_readme_size(split: str, corpus: dict[str, list[ConllSentence]]) -> None:
    assert len(corpus[split]) >= readme_sentence_counts()[split]


def test_at_least_1200_sentences(corpus: dict[str, list[ConllSentence]]) -> None:
    assert sum(len(sentences) for sentences in corpus.values()) >= 1200


def test_sentence_lengths_3_to_40(corpus: dict[str, list[ConllSentence]]) -> None:
    lengths = {len(sentence) for sentences in corpus.values() for sentence in sentences}
    assert min(lengths) >= 3
    assert max(lengths) <= 40


def test_dev_and_test_not_in_train(corpus: dict[str, list[ConllSentence]]) -> None:
    train = {tuple(sentence) for sentence in corpus["train"]}
    held_out = [tuple(sentence) for split in ("dev", "test") for sentence in corpus[split]]
    assert [sentence for sentence in held_out if sentence in train] == []


def test_no_data_blogger_in_corpus(corpus: dict[str, list[ConllSentence]]) -> None:
    # The demo checks that a model tags this name it has never seen.
    found = [
        sentence
        for sentences in corpus.values()
        for sentence in sentences
        for (first, _), (second, _) in itertools.pairwise(sentence)
        if (first.lower(), second.lower()) == ("data", "blogger")
    ]
    assert found == []


def test_no_capitalised_data_or_blogger(corpus: dict[str, list[ConllSentence]]) -> None:
    tokens = {
        token for sentences in corpus.values() for sentence in sentences for token, _ in sentence
    }
    assert "Data" not in tokens
    assert "Blogger" not in tokens


def test_no_data_blogger_in_sources() -> None:
    for path in sorted(SOURCE_DIR.glob("*.txt")):
        assert "data blogger" not in path.read_text(encoding="utf-8").lower(), path.name


def test_sample_contains_data_blogger() -> None:
    assert "Hi, I am Data Blogger. How are you?" in SAMPLE.read_text(encoding="utf-8")


# --- Build script ---


def test_build_regenerates_identical_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--output", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for split in SPLITS:
        built = (tmp_path / f"{split}.conll").read_bytes()
        assert built == (CORPUS_DIR / f"{split}.conll").read_bytes(), split


def test_readme_table_matches_build(build_corpus: ModuleType) -> None:
    table = build_corpus.format_stats(build_corpus.build(SOURCE_DIR))
    assert table in (CORPUS_DIR / "README.md").read_text(encoding="utf-8")


def test_markup_becomes_iob2(build_corpus: ModuleType) -> None:
    sentence = build_corpus.annotate(
        "[Mara Quist](PER) didn't join [Pellucid Labs](ORG)'s team.", Path("x.txt"), 1
    )
    assert sentence.tokens == (
        "Mara", "Quist", "did", "n't", "join", "Pellucid", "Labs", "'s", "team", ".",
    )  # fmt: skip
    assert sentence.tags == ("B-PER", "I-PER", "O", "O", "O", "B-ORG", "I-ORG", "O", "O", "O")


def test_entity_inside_token_rejected(build_corpus: ModuleType) -> None:
    with pytest.raises(build_corpus.SourceError, match=r"x\.txt:7: entity 'Oslo' does not"):
        build_corpus.annotate("The [Oslo](LOC)-based firm grew.", Path("x.txt"), 7)


def test_stray_bracket_rejected(build_corpus: ModuleType) -> None:
    with pytest.raises(build_corpus.SourceError, match=r"stray '\['"):
        build_corpus.annotate("Ask [Mara Quist](PERSON) today.", Path("x.txt"), 2)


def test_short_sentence_rejected(build_corpus: ModuleType) -> None:
    with pytest.raises(build_corpus.SourceError, match="2 tokens, expected 3 to 40"):
        build_corpus.annotate("Thanks!", Path("x.txt"), 3)


def test_duplicate_sentence_rejected(build_corpus: ModuleType, tmp_path: Path) -> None:
    for style in build_corpus.STYLES:
        (tmp_path / f"{style}.txt").write_text("# header\nWe met in [Oslo](LOC).\n")
    with pytest.raises(build_corpus.SourceError, match=r"email\.txt:2: duplicate of news\.txt:2"):
        build_corpus.build(tmp_path)


def test_split_rule(build_corpus: ModuleType) -> None:
    splits = [build_corpus.split_of(index) for index in range(20)]
    assert splits.count("dev") == 2
    assert splits.count("test") == 2
    assert splits[8:10] == ["dev", "test"]
    assert splits[18:20] == ["dev", "test"]
