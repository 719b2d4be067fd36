"""Silence the native (C++) log lines that MediaPipe, TFLite and absl write straight to file descriptor 2.

Each run used to print ~5 lines ("Created TensorFlow Lite XNNPACK delegate", "All log messages before
absl::InitializeLog() ...", "Feedback manager requires a model with a single signature ...") before the
engine's own one-line error. None of ``GLOG_minloglevel``, ``TF_CPP_MIN_LOG_LEVEL`` or absl-py's
verbosity reaches them (checked with mediapipe 0.10.21: they only steer other logging paths), so the
MediaPipe calls run with fd 2 pointed at the null device (:func:`quiet_native_stderr`). ``--debug`` (or
``FFHQUV_DEBUG=1``) keeps them (:func:`set_verbose`). Portable: ``os.dup``/``os.dup2`` work on Windows too.
"""
from __future__ import annotations

import functools
import os
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

__all__ = ["set_verbose", "is_verbose", "quiet_native_stderr", "quiet"]

_STDERR_FD = 2
_lock = threading.RLock()
_state = {"verbose": bool(os.environ.get("FFHQUV_DEBUG")), "depth": 0, "saved_fd": -1}

F = TypeVar("F", bound=Callable)


def set_verbose(verbose: bool) -> None:
    """``True`` lets native log lines through (``--debug``)."""
    _state["verbose"] = bool(verbose)


def is_verbose() -> bool:
    return bool(_state["verbose"])


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Point fd 2 at the null device for the block (re-entrant; restored on any exit, KeyboardInterrupt
    included). Python's own ``sys.stderr`` is flushed first so nothing of ours is lost."""
    if _state["verbose"]:
        yield
        return
    with _lock:
        _enter()
    try:
        yield
    finally:
        with _lock:
            _leave()


def _enter() -> None:
    if _state["depth"] == 0:
        _flush_stderr()
        saved = os.dup(_STDERR_FD)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, _STDERR_FD)
        finally:
            os.close(null)
        _state["saved_fd"] = saved
    _state["depth"] += 1


def _leave() -> None:
    _state["depth"] -= 1
    if _state["depth"] == 0:
        saved = _state["saved_fd"]
        os.dup2(saved, _STDERR_FD)
        os.close(saved)
        _state["saved_fd"] = -1


def _flush_stderr() -> None:
    stream = sys.stderr
    if stream is not None:
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or detached stream: nothing buffered to keep
            pass


def quiet(fn: F) -> F:
    """Decorator form of :func:`quiet_native_stderr`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with quiet_native_stderr():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
