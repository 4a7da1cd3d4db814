"""The unit of data that every reader yields and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence: its tokens and, when annotated, one IOB2 tag per token.

    ``document`` is the 0-based index of the document the sentence belongs to within its file,
    ``line`` the 1-based line number of its first token (0 when it did not come from a file), and
    ``intent`` the sentence-level label of parallel corpora such as ATIS.
    """

    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None = None
    document: int = 0
    line: int = 0
    intent: str | None = None

    def __post_init__(self) -> None:
        if not self.tokens:
            raise ValueError("a sentence needs at least one token")
        if self.tags is not None and len(self.tags) != len(self.tokens):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.tags)} tags")

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(slots=True)
class Corpus:
    """The sentences of one file or folder, with what was learnt while reading it.

    Tags in ``sentences`` are always IOB2; ``scheme`` is the scheme the file was written in.
    ``violations`` counts tag sequences that broke that scheme and were read the way conlleval
    reads them; ``skipped_lines`` lists the first lines of sentences dropped in lenient mode.
    """

    sentences: list[Sentence]
    path: str
    scheme: str = "iob2"
    documents: int = 1
    violations: int = 0
    skipped_lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def tokens(self) -> int:
        return sum(len(sentence) for sentence in self.sentences)
