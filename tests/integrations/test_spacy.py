"""spaCy DocBin files and the elman_ner pipeline component, with real spaCy objects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

spacy = pytest.importorskip(
    "spacy", reason="spaCy is not installed: pip install 'elman[spacy]' to test the integration"
)

from spacy.tokens import Doc, DocBin  # noqa: E402

from elman.data.convert import convert  # noqa: E402
from elman.data.docbin import DocBinReader, write_docbin  # noqa: E402
from elman.data.readers import read_corpus  # noqa: E402
from elman.data.sentence import Corpus, Sentence  # noqa: E402
from elman.errors import DataError, ModelError  # noqa: E402

SENTENCES = [
    [("Mara", "B-PER"), ("Quist", "I-PER"), ("joined", "O"), ("Pellucid", "B-ORG"),
     ("Labs", "I-ORG"), ("in", "O"), ("Oslo", "B-LOC"), (".", "O")],
    [("Jonas", "B-PER"), ("Feld", "I-PER"), ("visited", "O"), ("Bergen", "B-LOC"), (".", "O")],
]  # fmt: skip


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained on two sentences, repeated so that it tags them correctly."""
    import torch

    from elman.train.launch import launch_training

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("spacy-model")
    blocks = ["".join(f"{token} {tag}\n" for token, tag in sentence) for sentence in SENTENCES]
    corpus = root / "train.conll"
    corpus.write_text("\n".join(blocks * 40), encoding="utf-8")
    launch_training(
        train_path=str(corpus),
        dev=str(corpus),
        output=root / "model",
        overrides=[
            "model.hidden=16",
            "model.dropout=0.0",
            "train.epochs=3",
            "train.batch_size=4",
            "train.lr=0.01",
            "train.threads=1",
        ],
        progress=False,
    )
    return root / "model"


def doc_bin_file(path: Path, *docs: Doc, user_data: bool = False) -> Path:
    DocBin(docs=docs, store_user_data=user_data).to_disk(path)
    return path


# Reading DocBin files


def test_reads_spacy_tokens_and_entities(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    doc = nlp("Mara Quist joined Pellucid Labs. She left Oslo.")
    doc.ents = [
        doc.char_span(0, 10, "PER"),
        doc.char_span(18, 31, "ORG"),
        doc.char_span(42, 46, "LOC"),
    ]
    corpus = read_corpus(doc_bin_file(tmp_path / "train.spacy", doc))
    # Without sentence boundaries in the Doc, elman's sentence splitter splits it.
    assert [s.tokens for s in corpus.sentences] == [
        ("Mara", "Quist", "joined", "Pellucid", "Labs", "."),
        ("She", "left", "Oslo", "."),
    ]
    assert [s.tags for s in corpus.sentences] == [
        ("B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O"),
        ("O", "O", "B-LOC", "O"),
    ]


def test_uses_doc_sentences(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["a", "b.", "C", "d"], sent_starts=[True, False, False, True])
    corpus = read_corpus(doc_bin_file(tmp_path / "s.spacy", doc))
    assert [s.tokens for s in corpus.sentences] == [("a", "b.", "C"), ("d",)]


def test_whitespace_tokens_dropped(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    doc = nlp("Mara  Quist\n\nleft.")
    doc.ents = [doc.char_span(0, 11, "PER")]
    corpus = read_corpus(doc_bin_file(tmp_path / "w.spacy", doc))
    # The blank line ends a sentence, as in elman's sentence splitter.
    assert [s.tokens for s in corpus.sentences] == [("Mara", "Quist"), ("left", ".")]
    assert [s.tags for s in corpus.sentences] == [("B-PER", "I-PER"), ("O", "O")]


def test_doc_without_ner_is_unlabelled(tmp_path: Path) -> None:
    doc = spacy.blank("en")("Mara left.")
    corpus = read_corpus(doc_bin_file(tmp_path / "u.spacy", doc))
    assert corpus.sentences[0].tags is None


def test_cats_become_intent(tmp_path: Path) -> None:
    doc = spacy.blank("en")("fly to oslo")
    doc.cats = {"flight": 0.9, "greet": 0.1}
    corpus = read_corpus(doc_bin_file(tmp_path / "c.spacy", doc))
    assert corpus.sentences[0].intent == "flight"


def test_each_doc_is_a_document(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    corpus = read_corpus(doc_bin_file(tmp_path / "d.spacy", nlp("One."), nlp("Two.")))
    assert [s.document for s in corpus.sentences] == [0, 1]
    assert corpus.documents == 2


def test_not_a_docbin(tmp_path: Path) -> None:
    path = tmp_path / "bad.spacy"
    path.write_bytes(b"not zlib data")
    with pytest.raises(DataError) as error:
        DocBinReader().read(path)
    assert str(error.value).startswith(f"{path}: not a spaCy DocBin file (ValueError: ")


# Writing DocBin files


def docs_in(path: Path) -> list[Doc]:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def test_written_docs_as_spacy_sees_them(tiny_corpus: Path, tmp_path: Path) -> None:
    convert(tiny_corpus, tmp_path / "tiny.spacy")
    docs = docs_in(tmp_path / "tiny.spacy")
    assert len(docs) == 4
    assert docs[0].text == "Mara Quist joined Pellucid Labs in Oslo ."
    assert [(e.text, e.label_) for e in docs[0].ents] == [
        ("Mara Quist", "PER"),
        ("Pellucid Labs", "ORG"),
        ("Oslo", "LOC"),
    ]
    assert len(list(docs[0].sents)) == 1


def test_source_text_kept(tmp_path: Path) -> None:
    text = "  Mara  Quist met\nTove.\n\nShe left Oslo. "
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": text, "entities": [[2, 13, "PER"], [34, 38, "LOC"]]}))
    convert(source, tmp_path / "out.spacy")
    (doc,) = docs_in(tmp_path / "out.spacy")
    assert doc.text == text
    assert [(e.text, e.label_) for e in doc.ents] == [("Mara  Quist", "PER"), ("Oslo", "LOC")]
    assert [s.text.strip() for s in doc.sents] == ["Mara  Quist met\nTove.", "She left Oslo."]


def test_intent_and_document_written(tmp_path: Path) -> None:
    corpus = Corpus(
        [Sentence(("hi",), ("O",), 0, intent="greet"), Sentence(("bye",), ("O",), 3)], "memory"
    )
    write_docbin(corpus, tmp_path / "i.spacy")
    docs = docs_in(tmp_path / "i.spacy")
    assert [doc.cats for doc in docs] == [{"greet": 1.0}, {}]
    assert [doc.user_data["elman_document"] for doc in docs] == [0, 3]


def test_unlabelled_written_without_ner(tmp_path: Path) -> None:
    write_docbin(Corpus([Sentence(("a", "b"))], "memory"), tmp_path / "u.spacy")
    (doc,) = docs_in(tmp_path / "u.spacy")
    assert not doc.has_annotation("ENT_IOB")


# The pipeline component


def test_component_sets_entities(model: Path) -> None:
    nlp = spacy.blank("en")
    component = nlp.add_pipe("elman_ner", config={"model": str(model)})
    doc = nlp("Mara Quist joined Pellucid Labs in Oslo.")
    assert all(entity.label_ in component.labels for entity in doc.ents)
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("Mara Quist", "PER"),
        ("Pellucid Labs", "ORG"),
        ("Oslo", "LOC"),
    ]


def test_component_labels(model: Path) -> None:
    nlp = spacy.blank("en")
    component = nlp.add_pipe("elman_ner", config={"model": str(model)})
    assert component.labels == ("LOC", "ORG", "PER")


def test_component_pipe_keeps_order(model: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("elman_ner", config={"model": str(model), "batch_size": 2})
    texts = ["Jonas Feld visited Bergen.", "  ", "Mara Quist joined Pellucid Labs in Oslo."]
    docs = list(nlp.pipe(texts))
    assert [doc.text for doc in docs] == texts
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Jonas Feld", "PER"), ("Bergen", "LOC")]
    assert docs[1].ents == ()


def test_component_uses_doc_sentences(model: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("elman_ner", config={"model": str(model)})
    doc = nlp("Jonas Feld visited Bergen. Mara Quist joined Pellucid Labs in Oslo.")
    assert len(list(doc.sents)) == 2
    assert ("Oslo", "LOC") in [(e.text, e.label_) for e in doc.ents]


def test_component_replaces_entities(model: Path) -> None:
    nlp = spacy.blank("en")
    component = nlp.add_pipe("elman_ner", config={"model": str(model)})
    doc = nlp.make_doc("Jonas Feld visited Bergen.")
    doc.ents = [doc.char_span(0, 5, "ANIMAL")]
    component(doc)
    assert "ANIMAL" not in [entity.label_ for entity in doc.ents]


def test_component_skips_whitespace_tokens(model: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("elman_ner", config={"model": str(model)})
    doc = nlp("Jonas  Feld visited\n\nBergen.")
    assert [(e.text, e.label_) for e in doc.ents] == [("Jonas  Feld", "PER"), ("Bergen", "LOC")]


def test_component_bad_model_path(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    with pytest.raises(ModelError):
        nlp.add_pipe("elman_ner", config={"model": str(tmp_path / "missing")})


def test_factory_found_through_entry_point(model: Path) -> None:
    # A fresh interpreter that never imports elman: spaCy must find the factory by itself.
    script = (
        "import spacy, sys\n"
        "nlp = spacy.blank('en')\n"
        "nlp.add_pipe('elman_ner', config={'model': sys.argv[1]})\n"
        "print([(e.text, e.label_) for e in nlp('Jonas Feld visited Bergen.').ents])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(model)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[('Jonas Feld', 'PER'), ('Bergen', 'LOC')]\n"
