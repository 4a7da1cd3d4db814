from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from elman.data.readers import detect_format, read_corpus
from elman.data.sentence import Corpus, Sentence
from elman.data.spans import SpansReader, TextCorpus
from elman.data.writers import span_lines, write_spans
from elman.errors import ConfigError, DataError

# Token offsets: Mara [0, 4) Quist [5, 10) joined [11, 17) Pellucid [18, 26) Labs [27, 31)
# in [32, 34) Oslo [35, 39) . [39, 40)
TEXT = "Mara Quist joined Pellucid Labs in Oslo."
TOKENS = ("Mara", "Quist", "joined", "Pellucid", "Labs", "in", "Oslo", ".")


def write_jsonl(path: Path, *records: Any) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read(tmp_path: Path, *records: Any, **settings: Any) -> Corpus:
    return SpansReader(**settings).read(write_jsonl(tmp_path / "spans.jsonl", *records))


def error_of(tmp_path: Path, *records: Any, **settings: Any) -> str:
    with pytest.raises(DataError) as error:
        read(tmp_path, *records, **settings)
    return str(error.value)


def tags(corpus: Corpus) -> list[tuple[str, ...] | None]:
    return [sentence.tags for sentence in corpus.sentences]


# Records and keys


def test_entities_become_iob2_tags(tmp_path: Path) -> None:
    corpus = read(tmp_path, {"text": TEXT, "entities": [[0, 10, "PER"], [18, 31, "ORG"]]})
    assert corpus.sentences[0].tokens == TOKENS
    assert corpus.sentences[0].tags == ("B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "O", "O")


def test_spans_key_with_objects(tmp_path: Path) -> None:
    record = {"text": TEXT, "spans": [{"start": 35, "end": 39, "label": "LOC"}]}
    assert tags(read(tmp_path, record)) == [("O",) * 6 + ("B-LOC", "O")]


def test_label_key_as_doccano_exports(tmp_path: Path) -> None:
    record = {"id": 7, "text": TEXT, "label": [[35, 39, "LOC"]]}
    assert tags(read(tmp_path, record)) == [("O",) * 6 + ("B-LOC", "O")]


def test_start_offset_keys(tmp_path: Path) -> None:
    entity = {"id": 1, "label": "PER", "start_offset": 0, "end_offset": 4}
    record = {"text": TEXT, "entities": [entity]}
    assert tags(read(tmp_path, record)) == [("B-PER",) + ("O",) * 7]


def test_record_without_entity_key_is_unlabelled(tmp_path: Path) -> None:
    assert tags(read(tmp_path, {"text": TEXT})) == [None]


def test_empty_entity_list_is_all_outside(tmp_path: Path) -> None:
    assert tags(read(tmp_path, {"text": TEXT, "entities": []})) == [("O",) * 8]


def test_duplicate_entity_counts_once(tmp_path: Path) -> None:
    record = {"text": TEXT, "entities": [[0, 4, "PER"], [0, 4, "PER"]]}
    assert tags(read(tmp_path, record)) == [("B-PER",) + ("O",) * 7]


def test_label_is_stripped(tmp_path: Path) -> None:
    record = {"text": TEXT, "entities": [[0, 4, " PER "]]}
    assert tags(read(tmp_path, record))[0] == ("B-PER",) + ("O",) * 7


def test_text_split_into_sentences(tmp_path: Path) -> None:
    corpus = read(tmp_path, {"text": "Jonas left. Tove stayed.", "entities": [[12, 16, "PER"]]})
    assert [s.tokens for s in corpus.sentences] == [
        ("Jonas", "left", "."),
        ("Tove", "stayed", "."),
    ]
    assert tags(corpus) == [("O", "O", "O"), ("B-PER", "O", "O")]


def test_entity_across_sentences_joins_them(tmp_path: Path) -> None:
    # The tokenizer ends a sentence after "Mara .", but the entity covers "Mara. Quist".
    corpus = read(tmp_path, {"text": "We saw Mara. Quist came.", "entities": [[7, 18, "PER"]]})
    assert [s.tokens for s in corpus.sentences] == [
        ("We", "saw", "Mara", ".", "Quist", "came", "."),
    ]
    assert tags(corpus) == [("O", "O", "B-PER", "I-PER", "I-PER", "O", "O")]


def test_offsets_count_code_points(tmp_path: Path) -> None:
    # The emoji is one code point (two UTF-16 units), so "Oslo" starts at 5, not 6.
    corpus = read(tmp_path, {"text": "Hi 🙂 Oslo", "entities": [[5, 9, "LOC"]]})
    assert corpus.sentences[0].tokens == ("Hi", "🙂", "Oslo")
    assert tags(corpus) == [("O", "O", "B-LOC")]


def test_intent_given_to_every_sentence(tmp_path: Path) -> None:
    corpus = read(tmp_path, {"text": "Fly now. Go.", "entities": [], "intent": "flight"})
    assert [s.intent for s in corpus.sentences] == ["flight", "flight"]


def test_each_record_is_a_document(tmp_path: Path) -> None:
    corpus = read(tmp_path, {"text": "One."}, {"text": "Two."}, {"text": "Three."})
    assert [s.document for s in corpus.sentences] == [0, 1, 2]
    assert corpus.documents == 3


def test_document_key_groups_records(tmp_path: Path) -> None:
    records = [
        {"text": "One.", "document": "a"},
        {"text": "Two.", "document": "a"},
        {"text": "Three.", "document": "b"},
        {"text": "Four."},
        {"text": "Five.", "document": "b"},
    ]
    corpus = read(tmp_path, *records)
    assert [s.document for s in corpus.sentences] == [0, 0, 1, 2, 3]
    assert corpus.documents == 4


def test_lines_of_records(tmp_path: Path) -> None:
    corpus = read(tmp_path, {"text": "One."}, "", {"text": "Two. Three."})
    assert [s.line for s in corpus.sentences] == [1, 3, 3]


def test_record_without_tokens_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        corpus = read(tmp_path, {"text": " ", "entities": []}, {"text": "One."})
    assert len(corpus) == 1
    assert "skipped 1 record(s) with no tokens" in caplog.text


def test_keeps_source_text(tmp_path: Path) -> None:
    corpus = read(tmp_path, {"text": "Two  spaces.\nNext line."})
    assert isinstance(corpus, TextCorpus)
    assert corpus.sources[0].text == "Two  spaces.\nNext line."
    assert corpus.sources[1].offsets == ((13, 17), (18, 22), (22, 23))


# The tokens key


def test_tokens_as_strings(tmp_path: Path) -> None:
    record = {"text": "New York-based", "tokens": ["New York", "-", "based"], "entities": []}
    corpus = read(tmp_path, record)
    assert corpus.sentences[0].tokens == ("New York", "-", "based")


def test_tokens_as_lists_are_sentences(tmp_path: Path) -> None:
    record = {"text": "a b. c", "tokens": [["a", "b."], ["c"]], "entities": [[5, 6, "X"]]}
    corpus = read(tmp_path, record)
    assert [s.tokens for s in corpus.sentences] == [("a", "b."), ("c",)]
    assert tags(corpus) == [("O", "O"), ("B-X",)]


def test_tokens_as_prodigy_objects(tmp_path: Path) -> None:
    tokens = [
        {"text": "Hi", "start": 0, "end": 2, "id": 0, "ws": False},
        {"text": "\n", "start": 2, "end": 3, "id": 1, "ws": False},
        {"text": "Oslo", "start": 3, "end": 7, "id": 2, "ws": False},
    ]
    record = {
        "text": "Hi\nOslo",
        "tokens": tokens,
        "spans": [{"start": 3, "end": 7, "label": "LOC"}],
    }
    corpus = read(tmp_path, record)
    assert corpus.sentences[0].tokens == ("Hi", "Oslo")
    assert tags(corpus) == [("O", "B-LOC")]


def test_token_not_in_text(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": "Hi Oslo", "tokens": ["Hi", "Bergen"]})
    assert "token 1 'Bergen' does not match the text at character 3 ('Hi []Oslo')" in message


def test_prodigy_token_text_mismatch(tmp_path: Path) -> None:
    record = {"text": "Hi Oslo", "tokens": [{"text": "Oslo", "start": 0, "end": 2}]}
    message = error_of(tmp_path, record)
    assert "tokens[0] has text 'Oslo' but its offsets [0, 2) select 'Hi'" in message


# Misaligned entities


def test_start_inside_token(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[1, 10, "PER"]]})
    assert message.startswith(f"{tmp_path / 'spans.jsonl'}:1: document 1: entity [1, 10) 'PER' ")
    assert "it starts inside the token 'Mara' [0, 4)" in message
    assert "in 'M[ara Quist] joined Pellucid Lab...'" in message
    assert "on_misaligned='expand' when reading from Python" in message
    assert "'elman convert FILE FIXED.jsonl --on-misaligned expand'" in message


def test_end_inside_token(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[18, 29, "ORG"]]})
    assert "entity [18, 29) 'ORG' is not on token boundaries" in message
    assert "it ends inside the token 'Labs' [27, 31)" in message


def test_span_with_spaces_around(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[4, 11, "PER"]]})
    assert "starts in the whitespace before the token 'Quist' [5, 10)" in message
    assert "ends in the whitespace after the token 'Quist' [5, 10)" in message


def test_overlapping_entities(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[0, 10, "PER"], [5, 17, "ORG"]]})
    assert "entity [5, 17) 'ORG' overlaps the entity [0, 10) 'PER'" in message
    assert "on_misaligned='skip'" in message


def test_same_span_two_labels_overlap(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[0, 4, "PER"], [0, 4, "ORG"]]})
    assert "entity [0, 4) 'PER' overlaps the entity [0, 4) 'ORG'" in message


def test_entity_past_end_of_text(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[35, 45, "LOC"]]})
    assert "entity [35, 45) 'LOC' runs past the end of the text (40 characters)" in message
    assert "in '...ed Pellucid Labs in [Oslo.]'" in message
    assert "Unicode code points" in message


def test_entity_before_start_of_text(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[-1, 4, "PER"]]})
    assert "entity [-1, 4) 'PER' starts before the text" in message


def test_empty_entity(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[4, 4, "PER"]]})
    assert "entity [4, 4) 'PER' is empty: its end must be greater than its start" in message


def test_error_names_line_and_document(tmp_path: Path) -> None:
    records = [{"text": "Fine."}, "", {"text": TEXT, "entities": [[0, 3, "PER"]]}]
    message = error_of(tmp_path, *records)
    assert message.startswith(f"{tmp_path / 'spans.jsonl'}:3: document 2: entity [0, 3)")


def test_expand_widens_to_tokens(tmp_path: Path) -> None:
    record = {"text": TEXT, "entities": [[1, 7, "PER"], [20, 29, "ORG"]]}
    corpus = read(tmp_path, record, on_misaligned="expand")
    assert tags(corpus) == [("B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "O", "O")]


def test_expand_drops_whitespace_entity(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    record = {"text": TEXT, "entities": [[4, 5, "PER"], [35, 39, "LOC"]]}
    with caplog.at_level(logging.WARNING):
        corpus = read(tmp_path, record, on_misaligned="expand")
    assert tags(corpus) == [("O",) * 6 + ("B-LOC", "O")]
    assert "dropped 1 entities that did not fit the tokens (on_misaligned=expand)" in caplog.text


def test_expand_drops_later_overlap(tmp_path: Path) -> None:
    # After widening, [2, 7) covers Mara and Quist, which [0, 4) already starts on.
    record = {"text": TEXT, "entities": [[0, 4, "PER"], [2, 7, "ORG"]]}
    corpus = read(tmp_path, record, on_misaligned="expand")
    assert tags(corpus) == [("B-PER",) + ("O",) * 7]


def test_expand_drops_entity_past_end(tmp_path: Path) -> None:
    record = {"text": TEXT, "entities": [[35, 45, "LOC"]]}
    assert tags(read(tmp_path, record, on_misaligned="expand")) == [("O",) * 8]


def test_skip_drops_misaligned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    entities = [[1, 10, "PER"], [18, 31, "ORG"], [20, 34, "MISC"], [35, 50, "LOC"]]
    with caplog.at_level(logging.WARNING):
        corpus = read(tmp_path, {"text": TEXT, "entities": entities}, on_misaligned="skip")
    assert tags(corpus) == [("O", "O", "O", "B-ORG", "I-ORG", "O", "O", "O")]
    assert "dropped 3 entities" in caplog.text


def test_unknown_mode() -> None:
    with pytest.raises(ConfigError) as error:
        SpansReader(on_misaligned="widen")
    assert "invalid on_misaligned value 'widen'; choose one of error, expand, skip" in str(
        error.value
    )


# Malformed records


def test_invalid_json(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": "One."}, '{"text": "Two.",}')
    assert message == (
        f"{tmp_path / 'spans.jsonl'}:2: document 2: invalid JSON: Expecting property name "
        "enclosed in double quotes at column 17"
    )


def test_record_not_an_object(tmp_path: Path) -> None:
    message = error_of(tmp_path, '["text"]')
    assert "expected a JSON object with 'text' and 'entities', found list" in message


def test_missing_text(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"entities": []})
    assert "no 'text' key; each record needs its text as a string under 'text'" in message


def test_entities_not_a_list(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": {"PER": [0, 4]}})
    assert "'entities' is a dict; expected a list of [start, end, label]" in message


def test_entity_of_two_items(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[0, 4]]})
    assert "entities[0] has 2 items; expected [start, end, label]" in message


def test_offset_not_an_integer(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[0, True, "PER"]]})
    assert "entities[0]: the end offset True is not an integer" in message


def test_empty_label(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"text": TEXT, "entities": [[0, 4, ""]]})
    assert "entities[0]: invalid label ''; expected a non-empty string" in message


def test_lenient_skips_bad_records(tmp_path: Path) -> None:
    records = [{"text": "One."}, "{oops", {"text": TEXT, "entities": [[0, 3, "PER"]]}]
    corpus = read(tmp_path, *records, strict=False)
    assert [s.line for s in corpus.sentences] == [1]
    assert corpus.skipped_lines == [2, 3]


def test_all_records_bad(tmp_path: Path) -> None:
    message = error_of(tmp_path, "{oops", strict=False)
    assert "no sentences: every record was empty or skipped" in message


# Detection


def test_detected_by_suffix(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.JSONL", {"text": "One."})
    assert detect_format(path) == "jsonl"


def test_read_corpus_with_setting(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", {"text": TEXT, "entities": [[1, 4, "PER"]]})
    corpus = read_corpus(path, on_misaligned="expand")
    assert corpus.sentences[0].tags == ("B-PER",) + ("O",) * 7


# The writer


def records_of(corpus: Corpus, **options: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in span_lines(corpus, **options)]


def test_write_joins_tokens_without_source_text() -> None:
    sentence = Sentence(("Mara", "Quist", "left"), ("B-PER", "I-PER", "O"))
    corpus = Corpus([sentence], "memory")
    assert records_of(corpus) == [
        {
            "text": "Mara Quist left",
            "entities": [[0, 10, "PER"]],
            "tokens": ["Mara", "Quist", "left"],
        }
    ]


def test_write_without_tokens() -> None:
    corpus = Corpus([Sentence(("Oslo",), ("B-LOC",))], "memory")
    assert records_of(corpus, tokens=False) == [{"text": "Oslo", "entities": [[0, 4, "LOC"]]}]


def test_write_unlabelled_has_no_entities() -> None:
    corpus = Corpus([Sentence(("Oslo",))], "memory")
    assert records_of(corpus, tokens=False) == [{"text": "Oslo"}]


def test_write_intent() -> None:
    corpus = Corpus([Sentence(("hi",), ("O",), intent="greet")], "memory")
    assert records_of(corpus, tokens=False) == [{"text": "hi", "entities": [], "intent": "greet"}]


def test_write_document_only_when_shared() -> None:
    separate = Corpus([Sentence(("a",), document=0), Sentence(("b",), document=1)], "memory")
    shared = Corpus([Sentence(("a",), document=0), Sentence(("b",), document=0)], "memory")
    assert [r.get("document") for r in records_of(separate)] == [None, None]
    assert [r.get("document") for r in records_of(shared)] == [0, 0]


def test_round_trip_keeps_text(tmp_path: Path) -> None:
    text = "  Mara  Quist met\nTove.\n\nShe left Oslo. "
    source = {"text": text, "entities": [[2, 13, "PER"], [18, 22, "PER"], [34, 38, "LOC"]]}
    first = read(tmp_path, source)
    write_spans(first, tmp_path / "out.jsonl")
    (written,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert written["text"] == text
    assert written["entities"] == source["entities"]
    assert written["tokens"] == [
        ["Mara", "Quist", "met", "Tove", "."],
        ["She", "left", "Oslo", "."],
    ]
    second = SpansReader().read(tmp_path / "out.jsonl")
    assert second.sentences == first.sentences
