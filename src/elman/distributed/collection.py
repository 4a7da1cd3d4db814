"""Tag a folder of documents on a Dask cluster and write the results as JSON Lines partitions.

Input: every ``*.txt`` file under the input folder, searched recursively, is one document. Every
``*.jsonl`` file contains one document per non-blank line: a JSON object with a ``text`` string
and an optional ``id``, which the output keeps.

Output: ``part-00000.jsonl``, ``part-00001.jsonl`` ... with one record per document, in plan order,
as ``elman tag`` writes JSON Lines: ``{"source": ..., "id": ..., "entities": [...]}``. The source
is the path relative to the input folder, or ``path:line`` for a JSON Lines document.

The plan that assigns documents to partitions depends only on the sorted file list, the files'
contents and the partition size, so a resumed run rebuilds the same partitions. A partition file
is written atomically, so its presence marks it finished. ``_plan.json`` identifies the run, and
``_SUCCESS`` appears when every partition is written.

Workers read the input and write the partitions themselves, and the client receives only a small
summary per partition. The input, output and model paths must therefore be the same on every
worker, which for a remote cluster means a shared file system.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elman import atomic
from elman.errors import ConfigError, DataError, ElmanError, ModelError
from elman.logs import raised_level
from elman.tag import formats
from elman.tag.documents import DOCUMENTS_PER_BATCH, read_text

if TYPE_CHECKING:
    import dask.bag
    from dask.distributed import Client, Future

    from elman.tag.predictor import TaggedText, Tagger

logger = logging.getLogger(__name__)

DOCUMENTS_PER_PARTITION = 256
PLAN_FILE = "_plan.json"
SUCCESS_FILE = "_SUCCESS"
PLAN_VERSION = 1
INPUT_PATTERNS = ("*.txt", "*.jsonl")


@dataclass(frozen=True)
class FileSlice:
    """Consecutive documents of one input file.

    ``path`` is relative to the input folder, in POSIX form. A ``.txt`` file is one slice of one
    document. For a ``.jsonl`` file, ``line`` is the 1-based line number of the first document
    and ``offset`` the byte offset where that line starts. Blank lines are skipped, not counted.
    """

    path: str
    line: int
    offset: int
    count: int


@dataclass(frozen=True)
class Partition:
    """The documents of one output file, as slices of input files."""

    index: int
    slices: tuple[FileSlice, ...]

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}.jsonl"

    @property
    def documents(self) -> int:
        return sum(piece.count for piece in self.slices)


@dataclass(frozen=True)
class Plan:
    """All partitions of a collection and a fingerprint of the input, model and partition size."""

    partitions: list[Partition]
    documents: int
    fingerprint: str


@dataclass(frozen=True)
class PartitionResult:
    """The counts that a worker returns after writing one partition."""

    index: int
    documents: int
    tokens: int
    entities: int


@dataclass(frozen=True)
class CollectionSummary:
    """Counts of one ``tag_collection`` call.

    ``documents`` and ``tokens`` count the partitions written by this call, not those that an
    earlier run finished and ``resume`` skipped.
    """

    partitions: int
    written: int
    skipped: int
    documents: int
    tokens: int
    seconds: float


@dataclass(frozen=True)
class Document:
    """One document to tag; ``extra`` contains fields copied to the output record (the ``id``)."""

    source: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


def input_files(input_dir: Path, exclude: Path | None = None) -> list[Path]:
    """Return the ``*.txt`` and ``*.jsonl`` files under ``input_dir``, sorted by relative path.

    Files inside ``exclude`` (the output folder, when it lies in the input folder) are left out.
    """
    found = {
        path
        for pattern in INPUT_PATTERNS
        for path in input_dir.rglob(pattern)
        if path.is_file() and not (exclude is not None and path.is_relative_to(exclude))
    }
    return sorted(found, key=lambda path: path.relative_to(input_dir).as_posix())


def plan_collection(
    input_dir: Path,
    documents_per_partition: int = DOCUMENTS_PER_PARTITION,
    *,
    model_digest: str = "",
    exclude: Path | None = None,
) -> Plan:
    """Assign every document under ``input_dir`` to a partition of ``documents_per_partition``.

    Only the last partition may be smaller. ``model_digest`` enters the fingerprint, so that a
    resumed run with another model is detected.
    """
    if documents_per_partition < 1:
        raise ConfigError(
            f"documents_per_partition={documents_per_partition}: expected a positive number"
        )
    files = input_files(input_dir, exclude)
    if not files:
        raise DataError(
            "no *.txt or *.jsonl files found; pass the folder that contains the documents",
            path=input_dir,
        )
    builder = _PlanBuilder(documents_per_partition)
    sizes: list[tuple[str, int]] = []
    for path in files:
        relative = path.relative_to(input_dir).as_posix()
        sizes.append((relative, path.stat().st_size))
        if path.suffix == ".txt":
            builder.add(relative, line=0, offset=0)
            continue
        for line, offset in _jsonl_document_lines(path):
            builder.add(relative, line=line, offset=offset)
    partitions = builder.finish()
    fingerprint = _fingerprint(partitions, sizes, documents_per_partition, model_digest)
    return Plan(partitions, sum(p.documents for p in partitions), fingerprint)


class _PlanBuilder:
    """Fills partitions document by document, merging consecutive documents of a file."""

    def __init__(self, size: int):
        self.size = size
        self.partitions: list[Partition] = []
        self.slices: list[FileSlice] = []
        self.filled = 0

    def add(self, path: str, *, line: int, offset: int) -> None:
        if self.slices and self.slices[-1].path == path:
            last = self.slices[-1]
            self.slices[-1] = replace(last, count=last.count + 1)
        else:
            self.slices.append(FileSlice(path, line, offset, 1))
        self.filled += 1
        if self.filled == self.size:
            self._close()

    def finish(self) -> list[Partition]:
        if self.slices:
            self._close()
        return self.partitions

    def _close(self) -> None:
        self.partitions.append(Partition(len(self.partitions), tuple(self.slices)))
        self.slices = []
        self.filled = 0


def _jsonl_document_lines(path: Path) -> Iterator[tuple[int, int]]:
    """Yield (line number, byte offset) of each non-blank line of a JSON Lines file."""
    offset = 0
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, offset
                offset += len(raw)
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror})", path=path) from error


def _fingerprint(
    partitions: Sequence[Partition],
    sizes: Sequence[tuple[str, int]],
    documents_per_partition: int,
    model_digest: str,
) -> str:
    described = {
        "version": PLAN_VERSION,
        "documents_per_partition": documents_per_partition,
        "model": model_digest,
        "files": sizes,
        "partitions": [[astuple(piece) for piece in p.slices] for p in partitions],
    }
    return hashlib.sha256(json.dumps(described).encode("utf-8")).hexdigest()


_TAGGERS: dict[str, tuple[int, Tagger]] = {}
_TAGGERS_LOCK = threading.Lock()


def cached_tagger(model: str) -> Tagger:
    """Return this process's ``Tagger`` for the model directory ``model``, loading it once.

    The model is loaded again when its ``manifest.json`` changes, because a long-lived worker may
    outlive a model that is retrained into the same folder. Inside a Dask worker, torch is limited
    to one thread, because every worker process is one tagging slot, and large freed blocks go
    back to the system (``elman.tag.memory``).
    """
    from elman.tag.predictor import load

    manifest = Path(model) / "manifest.json"
    stamp = manifest.stat().st_mtime_ns if manifest.exists() else 0
    with _TAGGERS_LOCK:
        cached = _TAGGERS.get(model)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if _in_dask_worker():
            import torch

            from elman.tag.memory import return_large_blocks

            torch.set_num_threads(1)
            return_large_blocks()
        tagger = load(model)
        _TAGGERS[model] = (stamp, tagger)
        return tagger


def _in_dask_worker() -> bool:
    from dask.distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def read_slice(input_dir: Path, piece: FileSlice) -> list[Document]:
    """Read the documents of one slice of an input file."""
    path = input_dir / piece.path
    if path.suffix == ".txt":
        return [Document(piece.path, read_text(path))]
    documents: list[Document] = []
    try:
        with path.open("rb") as handle:
            handle.seek(piece.offset)
            number = piece.line
            for raw in handle:
                if raw.strip():
                    first_line = piece.offset == 0 and number == piece.line
                    documents.append(_parse_jsonl_line(path, piece.path, number, raw, first_line))
                    if len(documents) == piece.count:
                        break
                number += 1
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror})", path=path) from error
    if len(documents) < piece.count:
        raise DataError(
            f"expected {piece.count} documents from line {piece.line}, found {len(documents)}: "
            "the file changed after the run was planned; tag into a new output folder",
            path=path,
        )
    return documents


def _parse_jsonl_line(
    path: Path, relative: str, number: int, raw: bytes, first_line: bool
) -> Document:
    try:
        # Only the file's first line may start with a byte order mark.
        line = raw.decode("utf-8-sig" if first_line else "utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"invalid UTF-8 at byte {error.start} of the line; convert the file to UTF-8",
            path=path,
            line=number,
        ) from error
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(
            f"invalid JSON ({error.msg} at column {error.colno}); expected one JSON object per "
            'line with a "text" field',
            path=path,
            line=number,
        ) from error
    if not isinstance(record, dict):
        found = f"a JSON {type(record).__name__}"
    elif "text" not in record:
        found = 'an object without "text"'
    elif not isinstance(record["text"], str):
        found = f'a "text" of type {type(record["text"]).__name__}'
    else:
        extra = {"id": record["id"]} if "id" in record else {}
        return Document(f"{relative}:{number}", record["text"], extra)
    raise DataError(
        f'expected a JSON object with a "text" string, found {found}', path=path, line=number
    )


def tag_partition(
    input_dir: str,
    output_dir: str,
    model: str,
    partition: Partition,
    include_tokens: bool = False,
) -> PartitionResult:
    """Read, tag and write one partition; runs on a worker and returns only the counts."""
    tagger = cached_tagger(model)
    source = Path(input_dir)
    documents = [doc for piece in partition.slices for doc in read_slice(source, piece)]
    lines: list[str] = []
    tokens = entities = 0
    for start in range(0, len(documents), DOCUMENTS_PER_BATCH):
        chunk = documents[start : start + DOCUMENTS_PER_BATCH]
        tagged_chunk = tagger.tag_texts([document.text for document in chunk])
        for document, tagged in zip(chunk, tagged_chunk, strict=True):
            lines.append(_record(document, tagged, include_tokens))
            tokens += sum(len(sentence) for sentence in tagged.sentences)
            entities += len(tagged.entities)
    atomic.write_text(Path(output_dir) / partition.name, "".join(lines))
    return PartitionResult(partition.index, len(documents), tokens, entities)


def _record(document: Document, tagged: TaggedText, include_tokens: bool) -> str:
    line = formats.to_jsonl(document.source, tagged, tokens=include_tokens)
    if not document.extra:
        return line
    # Keep the record exactly as `elman tag` writes it, with the extra fields after the source.
    record = json.loads(line)
    ordered = {"source": record.pop("source"), **document.extra, **record}
    return json.dumps(ordered, ensure_ascii=False) + "\n"


def tag_bag(texts: dask.bag.Bag, model_path: str | Path) -> dask.bag.Bag:
    """Return a bag with the ``TaggedText`` of each text in ``texts``, in the same order.

    Each worker process loads the model once. The elements are what ``Tagger.tag_texts``
    returns for the same texts.
    """
    model = str(Path(model_path).resolve())
    return texts.map_partitions(_tag_text_partition, model)


def _tag_text_partition(texts: Iterable[Any], model: str) -> list[TaggedText]:
    tagger = cached_tagger(model)
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise DataError(f"tag_bag expects a bag of str, found an element of type {type(item)}")
    results: list[TaggedText] = []
    for start in range(0, len(items), DOCUMENTS_PER_BATCH):
        results.extend(tagger.tag_texts(items[start : start + DOCUMENTS_PER_BATCH]))
    return results


def tag_collection(
    input_dir: str | Path,
    output_dir: str | Path,
    model: str | Path,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int = 2,
    resume: bool = False,
    documents_per_partition: int = DOCUMENTS_PER_PARTITION,
    include_tokens: bool = False,
    progress: bool | None = None,
) -> CollectionSummary:
    """Tag every document under ``input_dir`` and write JSON Lines partitions to ``output_dir``.

    Work goes to ``client`` if given, else to the scheduler at ``scheduler``, else to a local
    cluster of ``workers`` processes that listens on 127.0.0.1 only. ``resume`` skips the
    partitions that an interrupted run with the same plan finished. ``progress`` shows a bar
    (None: only on a terminal).
    """
    source = Path(input_dir).resolve()
    target = Path(output_dir).resolve()
    model_dir = Path(model).resolve()
    if not source.is_dir():
        raise DataError("input folder not found; pass an existing folder", path=source)
    if workers < 1:
        raise ConfigError(f"workers={workers}: expected at least 1 worker process")
    plan = plan_collection(
        source,
        documents_per_partition,
        model_digest=_model_digest(model_dir),
        exclude=target,
    )
    finished = _prepare_output(target, plan, resume)
    todo = [partition for partition in plan.partitions if partition.index not in finished]
    logger.info(
        "%d documents in %d partitions; %d to tag, %d already written",
        plan.documents,
        len(plan.partitions),
        len(todo),
        len(finished),
    )
    started = time.perf_counter()
    results: list[PartitionResult] = []
    if todo:
        with _connect(client, scheduler, workers) as dask_client:
            task = _PartitionTask(str(source), str(target), str(model_dir), include_tokens)
            results = _run_partitions(dask_client, todo, task, progress)
    atomic.write_text(target / SUCCESS_FILE, "")
    summary = CollectionSummary(
        partitions=len(plan.partitions),
        written=len(results),
        skipped=len(finished),
        documents=sum(result.documents for result in results),
        tokens=sum(result.tokens for result in results),
        seconds=time.perf_counter() - started,
    )
    logger.info(
        "tagged %d documents (%d tokens) into %d partitions in %.1fs; all %d partitions are in %s",
        summary.documents,
        summary.tokens,
        summary.written,
        summary.seconds,
        summary.partitions,
        target,
    )
    return summary


def _model_digest(model_dir: Path) -> str:
    """Return the SHA-256 of the model's manifest, after checking the model directory."""
    from elman.store import verify_manifest

    if not model_dir.is_dir():
        raise ModelError(
            f"{model_dir}: model directory not found; pass the --output of elman train"
        )
    verify_manifest(model_dir)
    return hashlib.sha256((model_dir / "manifest.json").read_bytes()).hexdigest()


def _prepare_output(target: Path, plan: Plan, resume: bool) -> set[int]:
    """Check ``target`` against the plan, record the plan, and return the finished partitions."""
    plan_path = target / PLAN_FILE
    # Without finished partitions there is nothing to keep, so a new plan may replace the old.
    if target.is_dir() and any(target.glob("part-*.jsonl")):
        if not resume:
            raise ConfigError(
                f"{target} already contains partitions of a tagging run; pass --resume to finish "
                "that run, or choose an empty output folder"
            )
        previous = _read_plan_fingerprint(plan_path)
        if previous is None:
            raise ConfigError(f"{plan_path}: missing, so the partitions there cannot be resumed")
        if previous != plan.fingerprint:
            raise ConfigError(
                f"{target}: written from another input, model or partition size than this "
                "run's; tag into an empty output folder instead of resuming"
            )
    target.mkdir(parents=True, exist_ok=True)
    # A run killed while writing leaves the temporary file of `atomic.atomic_path` behind.
    for stale in target.glob(".part-*.jsonl.*.tmp"):
        stale.unlink()
    (target / SUCCESS_FILE).unlink(missing_ok=True)
    record = {
        "version": PLAN_VERSION,
        "fingerprint": plan.fingerprint,
        "documents": plan.documents,
        "partitions": len(plan.partitions),
    }
    atomic.write_text(plan_path, json.dumps(record, indent=2) + "\n")
    return {p.index for p in plan.partitions if (target / p.name).is_file()}


def _read_plan_fingerprint(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return str(record["fingerprint"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{path}: damaged ({error}); tag into an empty output folder instead of resuming"
        ) from error


@contextlib.contextmanager
def _connect(client: Client | None, scheduler: str | None, workers: int) -> Iterator[Client]:
    """Yield ``client``, or a client of the scheduler at ``scheduler``, or of a local cluster."""
    from dask.distributed import Client, LocalCluster

    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            remote = Client(scheduler)
        except (OSError, ValueError, TimeoutError) as error:
            raise ElmanError(
                f"cannot connect to the Dask scheduler at {scheduler!r} ({error}); check the "
                "address and that `dask scheduler` is running there"
            ) from error
        with remote:
            yield remote
        return
    logger.info("starting a local Dask cluster of %d worker processes", workers)
    with (
        _quiet_dask_logs(),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as local,
    ):
        yield local


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Log only warnings from the scheduler that runs in this process, unless elman logs debug.

    Dask sets its own logger to INFO, and its scheduler logs every worker start and stop, which
    would drown the progress of the run in the command line's INFO log.
    """
    if logger.isEnabledFor(logging.DEBUG):
        yield
        return
    with raised_level(logging.getLogger("distributed"), logging.WARNING):
        yield


@dataclass(frozen=True)
class _PartitionTask:
    """The arguments of ``tag_partition`` that every partition of a run shares."""

    input_dir: str
    output_dir: str
    model: str
    include_tokens: bool
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def submit(self, client: Client, partition: Partition) -> Future[PartitionResult]:
        return client.submit(
            tag_partition,
            self.input_dir,
            self.output_dir,
            self.model,
            partition,
            self.include_tokens,
            key=f"elman-tag-{self.run_id}-{partition.index:05d}",
            pure=False,
        )


def _run_partitions(
    client: Client, partitions: Sequence[Partition], task: _PartitionTask, progress: bool | None
) -> list[PartitionResult]:
    """Submit partitions with a bounded number in flight and return their counts as they finish.

    At most two partitions per worker thread wait or run at once, so the scheduler never receives
    the whole collection, and each worker has its next task queued while it runs one.
    """
    from dask.distributed import as_completed
    from tqdm import tqdm

    threads = sum(client.nthreads().values())
    if threads == 0:
        logger.warning("the Dask scheduler has no workers yet; tasks wait until one connects")
    window = max(2 * threads, 2)
    pending = iter(partitions)
    in_flight = {task.submit(client, p) for p in itertools.islice(pending, window)}
    finished = as_completed(in_flight)
    results: list[PartitionResult] = []
    total = sum(p.documents for p in partitions)
    with tqdm(total=total, unit="doc", disable=None if progress is None else not progress) as bar:
        try:
            for future in finished:
                in_flight.discard(future)
                result = _result(future)
                results.append(result)
                bar.update(result.documents)
                following = next(pending, None)
                if following is not None:
                    submitted = task.submit(client, following)
                    in_flight.add(submitted)
                    finished.add(submitted)
        except BaseException:
            client.cancel(list(in_flight))
            raise
    return results


def _result(future: Future[PartitionResult]) -> PartitionResult:
    from dask.distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as error:
        raise ElmanError(
            f"a Dask worker died while tagging {error.task} ({error}); finished partitions are "
            "kept, so rerun the same command with --resume"
        ) from error
    finally:
        future.release()


def tag_collection_command(
    model: Path,
    input_dir: Path | None,
    output_dir: Path | None,
    *,
    scheduler: str | None,
    workers: int | None,
    resume: bool,
    files: Sequence[Path],
    output: Path | None,
    output_format: str,
    input_format: str,
    include_tokens: bool,
    nbest: int,
    backend: str,
) -> CollectionSummary:
    """Check the options of ``elman tag --input-dir`` and run ``tag_collection``."""
    if input_dir is None or output_dir is None:
        raise ConfigError("--input-dir and --output-dir go together; pass both")
    if files:
        raise ConfigError("--input-dir replaces the FILES arguments; pass one or the other")
    if output is not None:
        raise ConfigError("--input-dir writes partitions to --output-dir; drop --output")
    if output_format != "jsonl" or input_format != "text":
        raise ConfigError(
            "--input-dir writes JSON Lines from raw text only; drop --format and --input-format"
        )
    if nbest != 0 or backend != "torch":
        raise ConfigError(
            "--input-dir tags with the torch backend only; drop --nbest, --backend and --onnx"
        )
    if scheduler is not None and workers is not None:
        raise ConfigError(
            "--workers sets the size of a local cluster; drop it when you pass --scheduler"
        )
    return tag_collection(
        input_dir,
        output_dir,
        model,
        scheduler=scheduler,
        workers=2 if workers is None else workers,
        resume=resume,
        include_tokens=include_tokens,
    )
