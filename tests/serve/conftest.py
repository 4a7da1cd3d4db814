"""Fixtures for the HTTP service: a model trained once per session and a running server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from elman.tag.predictor import Tagger, load
from tests.conftest import REPO, TINY_TRAIN

SHIPPED_TRAIN = REPO / "src" / "elman" / "resources" / "corpus" / "train.conll"
SERVER_START_SECONDS = 60.0


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained for a few epochs: on the shipped corpus when present, else a tiny one.

    On the shipped corpus, twelve epochs of the demo preset (about 20 s on two idle cores) tag
    the person names of the concurrency and browser tests correctly.
    """
    from elman.train.launch import launch_training

    root = tmp_path_factory.mktemp("serve-model")
    if SHIPPED_TRAIN.exists():
        train_path, dev, preset, epochs = "builtin:train", "builtin:dev", "demo", 12
    else:
        corpus = root / "tiny.conll"
        corpus.write_text(TINY_TRAIN, encoding="utf-8")
        train_path, dev, preset, epochs = str(corpus), str(corpus), None, 3
    output = root / "model"
    launch_training(
        train_path=train_path,
        dev=dev,
        output=output,
        preset=preset,
        overrides=[f"train.epochs={epochs}", "model.hidden=32", "train.threads=1"],
        progress=False,
        tensorboard=False,
    )
    return output


@pytest.fixture(scope="session")
def tagger(model_dir: Path) -> Tagger:
    return load(model_dir)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url``/health until it returns 200; fail when the server exits or is too slow."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"elman serve exited with status {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"timed out: {url}/health did not return 200 within {SERVER_START_SECONDS} s")


@pytest.fixture(scope="session")
def server_url(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of an ``elman serve`` subprocess on a free loopback port.

    The process is stopped by its PID when the session ends.
    """
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    command = [sys.executable, "-m", "elman", "serve", str(model_dir), "--port", str(port)]
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
