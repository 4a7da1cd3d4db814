"""The allocator setting that bounds the memory of long tagging runs."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from elman.tag import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt exists on Linux only")
def test_glibc_threshold_is_set() -> None:
    libc = ctypes.util.find_library("c") or ""
    if "libc.so" not in libc:
        pytest.skip(f"the C library is {libc or 'unknown'}, not glibc")
    assert memory.return_large_blocks() is True


def test_other_platform_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.return_large_blocks() is False


def test_missing_libc_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: None)
    assert memory.return_large_blocks() is False
