"""The ``elman`` command line: a thin layer that parses options and calls the library.

Errors caused by input (``ElmanError``) are printed as one line on standard error with exit
status 2; usage errors also exit with 2, as Click does.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from elman.errors import ElmanError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find names and other labelled spans in text with an Elman recurrent network.",
)
logger = logging.getLogger("elman")

F = TypeVar("F", bound=Callable[..., Any])


def _handles_errors(command: F) -> F:
    """Turn ``ElmanError`` and ``OSError`` into a one-line message and exit status 2.

    An ``OSError`` here is nearly always about a path from the command line: a folder given as
    ``--output``, a missing permission, a full disk.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ElmanError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        except BrokenPipeError:
            # The reader of the output ended (``elman tag ... | head``): end quietly, with the
            # status of a process that SIGPIPE ended, and without a second error at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            typer.echo(f"error: {where}{error.strerror or error}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


class Format(str, Enum):
    auto = "auto"
    conll = "conll"
    parallel = "parallel"
    jsonl = "jsonl"
    spacy = "spacy"


class Scheme(str, Enum):
    auto = "auto"
    iob1 = "iob1"
    iob2 = "iob2"
    bioes = "bioes"
    iobes = "iobes"
    bilou = "bilou"


class Mode(str, Enum):
    conlleval = "conlleval"
    strict = "strict"


class Separator(str, Enum):
    auto = "auto"
    space = "space"
    tab = "tab"


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    conll = "conll"
    inline = "inline"
    pretty = "pretty"
    html = "html"


class Backend(str, Enum):
    torch = "torch"
    onnx = "onnx"


class InputFormat(str, Enum):
    text = "text"
    tokens = "tokens"


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Log warnings and errors only.")
    ] = False,
) -> None:
    level = logging.INFO
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", force=True)


@app.command()
@_handles_errors
def train(
    train_path: Annotated[
        str | None, typer.Option("--train", help="Training corpus: file, folder or builtin:train.")
    ] = None,
    dev: Annotated[
        str | None, typer.Option(help="Dev corpus for early stopping and LR decay.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Model directory to write.")] = None,
    test: Annotated[str | None, typer.Option(help="Test corpus, scored once at the end.")] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option(
            help="Another annotated corpus to train on, its types renamed by train.extra_types "
            "(repeatable)."
        ),
    ] = None,
    format: Annotated[Format, typer.Option(help="Corpus format.")] = Format.auto,
    scheme: Annotated[Scheme, typer.Option(help="Tag scheme of the corpora.")] = Scheme.auto,
    sep: Annotated[
        Separator, typer.Option(help="Column separator of CoNLL files.")
    ] = Separator.auto,
    preset: Annotated[str | None, typer.Option(help="Named settings; see elman presets.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML file with \\[model] and \\[train] tables.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override one setting, e.g. --set model.hidden=300."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default from config: 13).")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the interrupted run whose output is DIR.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on a terminal.")] = True,
    tensorboard: Annotated[
        bool, typer.Option(help="Write TensorBoard event files (see --logdir).")
    ] = True,
    logdir: Annotated[
        Path | None,
        typer.Option(help="Folder for TensorBoard event files (default: OUTPUT/tensorboard)."),
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(min=1, help="Training processes on this machine, started with torchrun."),
    ] = 1,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace the model and training run already in --output."),
    ] = False,
) -> None:
    """Train a tagger and save it, with its scores, to --output."""
    from elman.distributed.ddp import interruption_reported_by_parent
    from elman.train.launch import interruption, launch_training
    from elman.train.run import TrainingInterrupted
    from elman.train.signals import sigterm_interrupts

    with sigterm_interrupts():
        try:
            launch_training(
                train_path=train_path,
                dev=dev,
                output=output,
                test=test,
                extra=extra,
                format=format.value,
                scheme=scheme.value,
                sep=sep.value,
                preset=preset,
                config=config,
                overrides=set_ or [],
                seed=seed,
                resume=resume,
                progress=progress,
                tensorboard=tensorboard,
                logdir=logdir,
                nproc=nproc,
                overwrite=overwrite,
            )
        except (KeyboardInterrupt, TrainingInterrupted) as stop:
            if interruption_reported_by_parent():
                raise typer.Exit(2) from None
            if isinstance(stop, TrainingInterrupted):
                raise  # within the epochs: the message names the epoch to resume from
            raise interruption(output, resume) from None


@app.command()
@_handles_errors
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model directory.")],
    data: Annotated[str, typer.Argument(help="Annotated corpus: file, folder or builtin:test.")],
    format: Annotated[Format, typer.Option(help="Corpus format.")] = Format.auto,
    scheme: Annotated[Scheme, typer.Option(help="Tag scheme of the corpus.")] = Scheme.auto,
    sep: Annotated[
        Separator, typer.Option(help="Column separator of CoNLL files.")
    ] = Separator.auto,
    mode: Annotated[Mode, typer.Option(help="conlleval reading or strict reading of chunks.")] = (
        Mode.conlleval
    ),
    json_: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
    predictions: Annotated[
        Path | None, typer.Option(help="Also write token, gold and predicted tag columns here.")
    ] = None,
) -> None:
    """Tag an annotated corpus with a model and print conlleval scores."""
    from elman import atomic
    from elman.data.readers import read_corpus
    from elman.evaluate.report import format_conlleval, scores_to_json
    from elman.evaluate.run import evaluate as run_evaluation
    from elman.tag.formats import conll_line
    from elman.tag.predictor import load

    tagger = load(model)
    settings: dict[str, Any] = {"sep": sep.value} if format in (Format.auto, Format.conll) else {}
    corpus = read_corpus(data, format=format.value, scheme=scheme.value, **settings)
    result = run_evaluation(tagger, corpus, mode=mode.value)
    if predictions is not None:
        lines: list[str] = []
        for sentence, predicted in zip(corpus.sentences, result.predicted, strict=True):
            gold = sentence.tags or ()
            lines.extend(
                conll_line(row) for row in zip(sentence.tokens, gold, predicted, strict=True)
            )
            lines.append("\n")
        atomic.write_text(predictions, "".join(lines))
    if json_:
        typer.echo(scores_to_json(result.scores).rstrip("\n"))
    else:
        typer.echo(format_conlleval(result.scores).rstrip("\n"))
        typer.echo(f"OOV rate: {100 * result.oov_rate:.2f}% of {result.scores.tokens} tokens")


@app.command()
@_handles_errors
def score(
    file: Annotated[
        Path, typer.Argument(help="File whose last two columns are gold and predicted tags.")
    ],
    scheme: Annotated[Scheme, typer.Option(help="Tag scheme; auto detects it.")] = Scheme.auto,
    mode: Annotated[Mode, typer.Option(help="conlleval reading or strict reading of chunks.")] = (
        Mode.conlleval
    ),
    sep: Annotated[Separator, typer.Option(help="Column separator.")] = Separator.auto,
    json_: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Score predicted tags against gold tags, as the conlleval script does."""
    from elman.data.scheme import detect_scheme, normalize_scheme
    from elman.evaluate.metrics import read_score_file
    from elman.evaluate.metrics import score as score_tags
    from elman.evaluate.report import format_conlleval, scores_to_json

    gold, predicted, _ = read_score_file(file, sep=sep.value)
    chosen = normalize_scheme(scheme.value, allow_auto=True)
    try:
        if chosen == "auto":
            chosen = detect_scheme([*gold, *predicted])
        result = score_tags(gold, predicted, scheme=chosen, mode=mode.value)
    except ValueError as error:
        raise ElmanError(f"{file}: {error}") from error
    typer.echo((scores_to_json(result) if json_ else format_conlleval(result)).rstrip("\n"))


@app.command()
@_handles_errors
def tag(
    model: Annotated[Path, typer.Argument(help="Model directory.")],
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="UTF-8 text files; without any, each line of standard input."),
    ] = None,
    format: Annotated[OutputFormat, typer.Option(help="Output format.")] = OutputFormat.jsonl,
    input_format: Annotated[
        InputFormat,
        typer.Option(help="text: raw text; tokens: one token per line, blank between sentences."),
    ] = InputFormat.text,
    output: Annotated[
        Path | None, typer.Option(help="Write here instead of standard output.")
    ] = None,
    tokens: Annotated[
        bool, typer.Option(help="Add the tokens and tags to JSON Lines output.")
    ] = False,
    nbest: Annotated[
        int,
        typer.Option(min=0, help="Also list the K best tag sequences of each sentence (jsonl)."),
    ] = 0,
    backend: Annotated[
        Backend | None,
        typer.Option(help="torch (the default), or onnx (needs model.onnx from elman export)."),
    ] = None,
    onnx: Annotated[
        Path | None,
        typer.Option(
            help="ONNX file written by elman export --onnx (default: MODEL/model.onnx); "
            "implies --backend onnx."
        ),
    ] = None,
    threads: Annotated[
        int,
        typer.Option(
            min=0,
            help="Batches tagged at the same time, one CPU thread each; 0: one per physical core.",
        ),
    ] = 0,
    input_dir: Annotated[
        Path | None,
        typer.Option(help="Tag every *.txt and *.jsonl file under this folder with Dask."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(help="Folder for the JSON Lines partitions of --input-dir."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address for --input-dir, e.g. tcp://10.0.0.5:8786."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes of the local Dask cluster (default 2)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Skip the partitions an interrupted --output-dir run finished.")
    ] = False,
) -> None:
    """Find the entities in text files or standard input."""
    from elman import atomic

    if onnx is not None and backend is Backend.torch:
        raise ElmanError(f"--onnx {onnx} is read by the onnx backend; drop --backend torch")
    if backend is None:
        backend = Backend.torch if onnx is None else Backend.onnx
    if input_dir is not None or output_dir is not None:
        from elman.distributed.collection import tag_collection_command

        tag_collection_command(
            model,
            input_dir,
            output_dir,
            scheduler=scheduler,
            workers=workers,
            resume=resume,
            files=files or [],
            output=output,
            output_format=format.value,
            input_format=input_format.value,
            include_tokens=tokens,
            nbest=nbest,
            backend=backend.value,
        )
        return

    from elman.tag.documents import tag_documents
    from elman.tag.memory import return_large_blocks
    from elman.tag.predictor import load

    # Bounded memory over long documents; the collection workers do the same.
    return_large_blocks()
    workers = _tagging_workers(threads, backend)
    tagger = load(model, backend=backend.value, onnx_file=onnx, workers=workers)
    chunks = tag_documents(
        tagger, files or [], format.value, input_format.value, include_tokens=tokens, nbest=nbest
    )
    if output is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
    else:
        atomic.write_chunks(output, chunks)


def _tagging_workers(threads: int, backend: Backend) -> int:
    """Return the number of tagging threads and give each one PyTorch thread.

    onnxruntime spreads one batch over the cores itself, so the onnx backend gets one worker.
    """
    import torch

    if backend is Backend.onnx:
        return 1
    count = threads or torch.get_num_threads()  # torch's default is the physical cores
    torch.set_num_threads(1)
    return count


@app.command()
@_handles_errors
def export(
    model: Annotated[Path, typer.Argument(help="Model directory.")],
    onnx: Annotated[
        Path | None, typer.Option(help="ONNX file to write (default: MODEL/model.onnx).")
    ] = None,
    quantize: Annotated[bool, typer.Option(help="Store weights as int8 (smaller).")] = False,
) -> None:
    """Export a model's network to ONNX for onnxruntime (elman tag --backend onnx)."""
    from elman.export.onnx import ONNX_FILE, export_onnx
    from elman.store import load_model

    path = export_onnx(load_model(model), onnx or model / ONNX_FILE, quantize=quantize)
    typer.echo(f"wrote {path}")


@app.command()
@_handles_errors
def serve(
    model: Annotated[Path, typer.Argument(help="Model directory.")],
    host: Annotated[
        str, typer.Option(help="Address to listen on; the default accepts local clients only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port to listen on.")] = 8080,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes, each with its own copy of the model.")
    ] = 1,
) -> None:
    """Serve the model over HTTP: POST /v1/tag, GET /v1/model, and a web page at /."""
    from elman.serve.app import serve as run_server

    run_server(model, host=host, port=port, workers=workers)


@app.command()
@_handles_errors
def report(
    model: Annotated[Path, typer.Argument(help="Model directory.")],
    data: Annotated[
        str | None,
        typer.Option(help="Annotated corpus to tag for the confusion matrix, e.g. the dev set."),
    ] = None,
    format: Annotated[Format, typer.Option(help="Corpus format of --data.")] = Format.auto,
    scheme: Annotated[Scheme, typer.Option(help="Tag scheme of --data.")] = Scheme.auto,
    sep: Annotated[
        Separator, typer.Option(help="Column separator of CoNLL files.")
    ] = Separator.auto,
) -> None:
    """Write figures and report.html into MODEL/report from the model's scores."""
    from elman.report import entity_confusion, write_report

    confusion = None
    evaluated = None
    if data is not None:
        from elman.data.readers import read_corpus
        from elman.evaluate.run import evaluate as run_evaluation
        from elman.tag.predictor import load

        settings: dict[str, Any] = {"sep": sep.value} if format != Format.parallel else {}
        corpus = read_corpus(data, format=format.value, scheme=scheme.value, **settings)
        result = run_evaluation(load(model), corpus)
        gold = [sentence.tags or () for sentence in corpus.sentences]
        confusion = entity_confusion(gold, result.predicted, source=data)
        evaluated = (data, result.scores.to_dict())
    typer.echo(f"wrote {write_report(model, confusion=confusion, evaluated=evaluated)}")


class CorpusFormat(str, Enum):
    auto = "auto"
    conll = "conll"
    parallel = "parallel"
    jsonl = "jsonl"
    spacy = "spacy"


class Misaligned(str, Enum):
    error = "error"
    expand = "expand"
    skip = "skip"


@app.command()
@_handles_errors
def convert(
    source: Annotated[str, typer.Argument(help="Corpus to read: file, folder or builtin:SPLIT.")],
    target: Annotated[
        str,
        typer.Argument(
            help="Path to write: .jsonl (spans), .spacy (DocBin), a folder or a path ending in "
            "'/' (parallel), anything else (CoNLL)."
        ),
    ],
    from_: Annotated[
        CorpusFormat, typer.Option("--from", help="Input format; auto detects it.")
    ] = CorpusFormat.auto,
    to: Annotated[
        CorpusFormat, typer.Option("--to", help="Output format; auto picks it from TARGET.")
    ] = CorpusFormat.auto,
    from_scheme: Annotated[
        Scheme, typer.Option(help="Tag scheme of the input; auto detects it.")
    ] = Scheme.auto,
    to_scheme: Annotated[
        Scheme,
        typer.Option(help="Tag scheme of CoNLL and parallel output; auto keeps the input's."),
    ] = Scheme.auto,
    sep: Annotated[
        Separator,
        typer.Option(
            help="Column separator of CoNLL input and output; auto writes spaces, or tabs when "
            "a token contains a space."
        ),
    ] = Separator.auto,
    on_misaligned: Annotated[
        Misaligned,
        typer.Option(
            help="Entities of span or DocBin input that are off token boundaries, overlap or "
            "lie outside the text: error, expand (to whole tokens) or skip."
        ),
    ] = Misaligned.error,
) -> None:
    """Convert a corpus between CoNLL, parallel folders, JSON Lines spans and spaCy DocBin."""
    from elman.data.convert import convert as convert_corpus

    done = convert_corpus(
        source,
        target,
        from_format=from_.value,
        to_format=to.value,
        from_scheme=from_scheme.value,
        to_scheme=to_scheme.value,
        sep=sep.value,
        on_misaligned=on_misaligned.value,
    )
    typer.echo(
        f"wrote {len(done.corpus)} sentences with {done.entities} entities from "
        f"{done.source_format} to {target} ({done.target_format})"
    )


@app.command()
def presets() -> None:
    """List the shipped presets for elman train --preset."""
    from elman.settings import presets as shipped

    for name, description in shipped().items():
        typer.echo(f"{name:<14} {description}")


def main() -> None:
    app()
