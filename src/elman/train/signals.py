"""Interrupting a run: SIGTERM stops training as Ctrl-C does, and ensemble members stop with it.

Ctrl-C in a terminal reaches every process of a run. ``kill PID``, ``timeout`` and job schedulers
send SIGTERM to the parent process alone, and a parent killed outright cannot tell anyone. So each
member process of an ensemble runs a thread that watches two things: a stop event, which the parent
sets when it is interrupted, and the parent itself. When the event is set or the parent has
ended, the member interrupts its own training, which keeps its last completed epoch for
``--resume``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol

WATCH_SECONDS = 0.5
"""How often a member process checks that its parent is alive."""

STOP_SECONDS = 30
"""How long an interrupted ensemble's parent waits for its members before it exits anyway."""


class _MemberState:
    """State shared by the main thread and the watch thread of a member process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.training = False  # a member trains in this process now
        self.stopping = False  # set by the watch thread, after which no training starts
        self.idle = threading.Event()  # set while no member trains
        self.idle.set()
        self.interrupted = False  # a signal has already raised KeyboardInterrupt here


_member = _MemberState()


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM within ``sigterm_interrupts``; Ctrl-C raises ``KeyboardInterrupt``.

    A parent that catches it can tell that its child processes have not received the signal.
    """


class StopEvent(Protocol):
    """The part of ``multiprocessing.Event`` that the parent and the watch thread use."""

    def wait(self, timeout: float | None = None) -> bool: ...

    def set(self) -> None: ...


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` in the main thread, as Ctrl-C raises
    ``KeyboardInterrupt``."""
    with _handlers(_raise_terminated, signal.SIGTERM):
        yield


@contextmanager
def _handlers(handler: Any, *numbers: int) -> Iterator[None]:
    """Install ``handler`` for the signals ``numbers`` within the block, and restore the old ones.

    Outside the main thread the block changes nothing: only the main thread may set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, handler) for number in numbers}
    try:
        yield
    finally:
        for number, earlier in previous.items():
            signal.signal(number, earlier)


def start_member_process(stop: StopEvent, parent: int) -> None:
    """Set up a member process: the pool's initializer, run once in each new process.

    ``parent`` is the process ID of the parent, read in the parent. A process that starts after
    its parent has ended has another parent already, and exits at once. Ctrl-C is ignored while
    the process waits for work (the parent ends it then), and the watch thread starts.
    """
    if os.getppid() != parent:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_watch, args=(stop, parent), name="elman-member-watch", daemon=True
    ).start()


def _watch(stop: StopEvent, parent: int) -> None:
    """Interrupt training when ``stop`` is set or the parent ends, and exit in the second case.

    The thread keeps watching the parent after a stop, because a parent can still be killed
    before it ends this process.
    """
    stopped = False
    while os.getppid() == parent:
        if stopped:
            time.sleep(WATCH_SECONDS)
        elif stop.wait(WATCH_SECONDS):
            stopped = True
            _interrupt_training()

    # No parent is left to take the result or to end this process: once the training has
    # unwound (its last completed epoch is on disk), exit.
    _interrupt_training()
    _member.idle.wait()
    os._exit(1)


def _interrupt_training() -> None:
    """Send this process SIGTERM if a member trains in it; no training starts afterwards."""
    with _member.lock:
        _member.stopping = True
        training = _member.training
    if training:
        os.kill(os.getpid(), signal.SIGTERM)


class StopOnSignal:
    """Within ``with``, SIGINT and SIGTERM set ``stop`` instead of raising in the main thread.

    An ensemble's parent waits for its members in this block. The members stop when the event
    is set, and ``received`` records the signal. With ``KeyboardInterrupt`` raised in the parent
    instead, two quick signals hung the pool's shutdown in 4 of 48 tries on a 2-core machine.
    """

    def __init__(self, stop: StopEvent, message: str):
        self.stop = stop
        self.message = message
        self.received = False
        self._handlers = _handlers(self._handle, signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> StopOnSignal:
        self._handlers.__enter__()
        return self

    def __exit__(self, *exception: Any) -> None:
        self._handlers.__exit__(*exception)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.received:
            self.received = True
            # NOTE: setting the event hung the shutdown too, in 1 of 36 tries, for a reason not
            # found. After STOP_SECONDS this process exits anyway, and the members, which watch
            # it, exit after it.
            timer = threading.Timer(STOP_SECONDS, self._exit)
            timer.daemon = True  # a process that ends in time does not wait for it
            timer.start()
            self.stop.set()

    def _exit(self) -> None:
        sys.stderr.write(
            f"error: {self.message} (timed out after {STOP_SECONDS} s waiting for the members "
            "to stop)\n"
        )
        sys.stderr.flush()
        os._exit(2)


@contextmanager
def member_training() -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM raises ``KeyboardInterrupt``.

    Later signals are ignored, so that a member that Ctrl-C has interrupted is not interrupted
    again, while it closes its files, by the stop that the parent sends as well. Once the watch
    thread has stopped this process, the block raises ``KeyboardInterrupt`` at once.
    """
    # The handlers come first and go last, so that the watch thread's SIGTERM, sent only while
    # ``training`` is set, always finds them.
    with _handlers(_interrupt_once, signal.SIGINT, signal.SIGTERM):
        with _member.lock:
            if _member.stopping:
                raise KeyboardInterrupt
            _member.training = True
            _member.idle.clear()
        try:
            yield
        finally:
            with _member.lock:
                _member.training = False
            _member.idle.set()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    if not _member.interrupted:
        _member.interrupted = True
        raise KeyboardInterrupt
