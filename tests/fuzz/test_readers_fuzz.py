"""Random bytes and random column layouts fed to the corpus readers, the cache and the scorer."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import typer
from hypothesis import given
from hypothesis import strategies as st

from elman import cli
from elman.data import scheme as schemes
from elman.data.cache import load_cached
from elman.data.readers import read_corpus
from elman.data.sentence import Corpus
from elman.evaluate.metrics import read_score_file, score
from tests.fuzz import RANDOM_TAGS, VALID_TAGS, encode, fuzz_settings, outcome, texts

FIELD_SEPARATORS = st.sampled_from([" ", "\t", "  ", " \t", "\t\t", "\u00a0", "\u3000"])
LINE_ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])
BLANK_LINES = st.sampled_from(["", " ", "\t", "  \t ", "\u00a0"])
DOCSTART_LINES = st.sampled_from(
    ["-DOCSTART- -X- O O", "-DOCSTART-", " -DOCSTART-\tO", "-DOCSTART-x"]
)


@st.composite
def column_lines(draw: st.DrawFn, tags: st.SearchStrategy[str] = RANDOM_TAGS) -> list[str]:
    """Lines of a column file: mostly ``columns`` fields, some blank, DOCSTART or off by one."""
    columns = draw(st.integers(min_value=1, max_value=4))
    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        kind = draw(st.sampled_from(["data", "data", "data", "blank", "docstart", "ragged"]))
        if kind == "blank":
            lines.append(draw(BLANK_LINES))
            continue
        if kind == "docstart":
            lines.append(draw(DOCSTART_LINES))
            continue
        width = max(columns + (draw(st.sampled_from([-1, 1])) if kind == "ragged" else 0), 1)
        fields = [draw(st.one_of(texts(3), st.sampled_from(["Oslo", "Bergen", "."])))]
        if width > 1:
            fields += draw(st.lists(texts(2), min_size=width - 2, max_size=width - 2))
            fields.append(draw(tags))
        lines.append(draw(FIELD_SEPARATORS).join(fields))
    return lines


@st.composite
def column_files(draw: st.DrawFn, tags: st.SearchStrategy[str] = RANDOM_TAGS) -> bytes:
    """Bytes of a column file, sometimes with a BOM, mixed line ends or random bytes."""
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return draw(st.binary(max_size=200))
    lines = draw(column_lines(tags))
    ending = draw(LINE_ENDINGS)
    text = ending.join(lines) + draw(st.sampled_from(["", ending]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    return encode(text)


def _check_corpus(corpus: Corpus) -> None:
    assert corpus.scheme in schemes.SCHEMES
    assert corpus.skipped_lines == sorted(corpus.skipped_lines)
    for sentence in corpus.sentences:
        assert sentence.tokens
        assert all(sentence.tokens)
        if sentence.tags is not None:
            assert len(sentence.tags) == len(sentence.tokens)
            for tag in sentence.tags:
                schemes.check_tag(tag, "iob2")


@fuzz_settings(scale=1.0)
@given(data=column_files())
def test_conll_reader_any_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.conll"
        path.write_bytes(data)
        for sep in ("auto", "space", "tab"):
            for strict in (True, False):
                corpus = outcome(read_corpus, path, format="conll", sep=sep, strict=strict)
                if corpus is not None:
                    _check_corpus(corpus)
            unlabelled = outcome(read_corpus, path, format="conll", sep=sep, labelled=False)
            if unlabelled is not None:
                assert all(sentence.tags is None for sentence in unlabelled.sentences)


@fuzz_settings(scale=1.0)
@given(data=column_files(VALID_TAGS), scheme=st.sampled_from(["auto", *schemes.SCHEMES]))
def test_conll_reader_valid_tags(data: bytes, scheme: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.conll"
        path.write_bytes(data)
        for strict in (True, False):
            corpus = outcome(read_corpus, path, format="conll", scheme=scheme, strict=strict)
            if corpus is not None:
                _check_corpus(corpus)


@fuzz_settings(scale=0.5)
@given(data=column_files(VALID_TAGS))
def test_cache_gives_same_corpus(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.conll"
        path.write_bytes(data)
        settings: dict[str, object] = {"sep": "auto", "strict": False}
        direct = outcome(read_corpus, path, format="conll", sep="auto", strict=False)
        cache = Path(folder) / "cache"
        for _ in range(2):  # the first call stores the entry, the second loads it
            cached = outcome(load_cached, path, "conll", settings, cache_dir=cache)
            assert cached == direct


@st.composite
def parallel_files(draw: st.DrawFn) -> dict[str, bytes]:
    """The files of a parallel corpus folder, with line counts that sometimes disagree."""
    sentences = draw(st.integers(min_value=0, max_value=6))
    token_lines = []
    tag_lines = []
    for _ in range(sentences):
        tokens = draw(st.lists(texts(2), max_size=4))
        token_lines.append(" ".join(tokens))
        count = max(len(tokens) + draw(st.sampled_from([0, 0, 0, -1, 1])), 0)
        tag_lines.append(" ".join(draw(st.lists(RANDOM_TAGS, min_size=count, max_size=count))))
    if draw(st.booleans()):
        tag_lines = tag_lines[: draw(st.integers(min_value=0, max_value=sentences))]
    ending = draw(LINE_ENDINGS)
    files = {
        "seq.in": encode(ending.join(token_lines)),
        "seq.out": encode(ending.join(tag_lines)),
    }
    if draw(st.booleans()):
        intents = draw(st.lists(st.one_of(texts(2), st.just("book_flight")), max_size=sentences))
        files["label"] = encode("\n".join(intents))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        files[draw(st.sampled_from(sorted(files)))] = draw(st.binary(max_size=60))
    return files


@fuzz_settings(scale=1.0)
@given(files=parallel_files())
def test_parallel_reader_any_files(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            (Path(folder) / name).write_bytes(data)
        for strict in (True, False):
            corpus = outcome(read_corpus, folder, format="parallel", strict=strict)
            if corpus is not None:
                _check_corpus(corpus)


@st.composite
def score_files(draw: st.DrawFn, tags: st.SearchStrategy[str] = RANDOM_TAGS) -> bytes:
    """A conlleval input: token, then gold and predicted tags, with some broken lines.

    Half of the files use plain tokens and one separator, so that most of them can be read.
    """
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return draw(st.binary(max_size=200))
    plain = draw(st.booleans())
    tokens = st.sampled_from(["Oslo", "is", "."]) if plain else texts(2)
    separators = st.sampled_from([" ", "\t"]) if plain else FIELD_SEPARATORS
    separator = draw(separators)
    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        kinds = ["data"] * (9 if plain else 3) + ["blank", "boundary", "short"]
        kind = draw(st.sampled_from(kinds))
        if kind == "blank":
            lines.append(draw(BLANK_LINES))
        elif kind == "boundary":
            lines.append("-X- -X- O O")
        else:
            fields = [draw(tokens), draw(tags), draw(tags)]
            if not plain:
                separator = draw(separators)
            lines.append(separator.join(fields[:2] if kind == "short" else fields))
    return encode(draw(LINE_ENDINGS).join(lines))


@fuzz_settings(scale=1.0)
@given(data=st.one_of(score_files(), score_files(VALID_TAGS)), mode=st.sampled_from(schemes.MODES))
def test_score_file_and_score(data: bytes, mode: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scored.txt"
        path.write_bytes(data)
        for sep in ("auto", "space", "tab"):
            read = outcome(read_score_file, path, sep=sep)
            if read is None:
                continue
            gold, predicted, _ = read
            chosen = outcome(schemes.detect_scheme, [*gold, *predicted], allowed=(ValueError,))
            for name in (chosen or "iob2", *schemes.SCHEMES):
                result = outcome(score, gold, predicted, name, mode, allowed=(ValueError,))
                if result is not None:
                    assert 0.0 <= result.f1 <= 1.0
                    assert result.tokens == sum(map(len, gold))


@fuzz_settings(scale=0.5)
@given(data=st.one_of(score_files(), score_files(VALID_TAGS)), mode=st.sampled_from(schemes.MODES))
def test_score_command_exits_cleanly(data: bytes, mode: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scored.txt"
        path.write_bytes(data)
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                cli.score(path, cli.Scheme.auto, cli.Mode(mode), cli.Separator.auto, json_=True)
            except typer.Exit as exit:
                assert exit.exit_code == 2
                assert stderr.getvalue().startswith("error: ")
                return
        assert stdout.getvalue().startswith("{")
