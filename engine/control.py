"""Commands on stdin and cooperative cancellation, the same on every platform.

A program that drives the engine (the Blender add-on) writes one command per line on the engine's stdin:

    {"command": "cancel"}                      stop the running reconstruction (also the bare word ``cancel``)
    {"command": "reconstruct", "id": ..., ...}  ``serve`` mode only (see engine/serve.py)
    {"command": "shutdown"}                    ``serve`` mode only: finish, exit 0

A :class:`CommandReader` thread parses the lines; a ``cancel`` calls :meth:`RunControl.cancel`. The run
stops at its next progress report (:meth:`RunControl.check` raises :class:`engine.errors.Cancelled`), so
the temporary output folder is removed by the usual ``finally`` paths and the exit code is 130, as for
SIGTERM. Some numeric steps run for seconds between two reports; if the run has not stopped
``CANCEL_INTERRUPT_AFTER_S`` after the cancel, the reader interrupts the main thread with
``_thread.interrupt_main`` (a KeyboardInterrupt at the next Python bytecode, portable to Windows, no
signal sent), which the same paths handle. The cancel is therefore honoured within ~0.5 s.
"""
from __future__ import annotations

import _thread
import json
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TextIO

from engine.errors import Cancelled, ProtocolError

__all__ = [
    "CANCEL_INTERRUPT_AFTER_S", "Command", "parse_command", "RunControl", "CommandReader",
    "install_interrupt_handler",
]

CANCEL_INTERRUPT_AFTER_S = 0.3
"""Seconds a cancelled run may take to reach its next progress report before the main thread is interrupted."""

COMMANDS = ("reconstruct", "cancel", "shutdown")


@dataclass(frozen=True)
class Command:
    """One parsed stdin line: ``name`` in :data:`COMMANDS`, ``id`` (may be empty), ``args`` the whole object."""

    name: str
    id: str = ""
    args: dict[str, Any] | None = None


def parse_command(line: str) -> Command | None:
    """One stdin line -> :class:`Command`; None for a blank line. Raises :class:`ProtocolError`."""
    text = line.strip()
    if not text:
        return None
    if text in COMMANDS:
        return Command(text)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProtocolError(f"not a JSON command: {text[:80]!r}") from err
    if not isinstance(obj, dict) or obj.get("command") not in COMMANDS:
        raise ProtocolError(f"unknown command {text[:80]!r}", hint=f"use one of {', '.join(COMMANDS)}")
    return Command(str(obj["command"]), str(obj.get("id", "") or ""), obj)


class RunControl:
    """Cancellation state of the one run in the main thread (``serve`` runs them one after the other).

    Main thread: ``with control.running(): ...`` around a run, :meth:`check` at each progress report.
    Any thread: :meth:`cancel`.
    """

    def __init__(self, interrupt_after_s: float = CANCEL_INTERRUPT_AFTER_S) -> None:
        self.interrupt_after_s = interrupt_after_s
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._active = False
        self._generation = 0
        self._interrupt_sent = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if a cancel arrived (called at every progress report)."""
        if self._cancelled.is_set():
            raise Cancelled()

    def cancel(self) -> bool:
        """Ask the active run to stop; returns False when no run is active (nothing to cancel)."""
        with self._lock:
            if not self._active:
                return False
            self._cancelled.set()
            generation = self._generation
        timer = threading.Timer(self.interrupt_after_s, self._interrupt, args=(generation,))
        timer.daemon = True
        timer.start()
        return True

    @contextmanager
    def running(self) -> Iterator[None]:
        """Marks a run as active for the block. A late interrupt (sent just as the run ended) is absorbed
        here, so it never escapes into the code that reports the result."""
        with self._lock:
            self._active, self._interrupt_sent = True, False
            self._generation += 1
            self._cancelled.clear()
        try:
            yield
        finally:
            with self._lock:
                self._active = False
                sent = self._interrupt_sent
            if sent:
                _absorb_pending_interrupt()

    def _interrupt(self, generation: int) -> None:
        with self._lock:
            if self._active and self._generation == generation:
                self._interrupt_sent = True
                _thread.interrupt_main()


def _absorb_pending_interrupt() -> None:
    """A KeyboardInterrupt already requested by ``interrupt_main`` is raised at the next function call of
    the main thread: make that call here and drop it."""
    try:
        for _ in range(3):
            _noop()
    except KeyboardInterrupt:
        pass


def _noop() -> None:
    return None


def install_interrupt_handler() -> None:
    """``interrupt_main`` raises only while SIGINT has Python's default handler; a process started in the
    background by a shell inherits SIGINT ignored. Main thread only; a no-op elsewhere."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread (embedded use)
        pass


class CommandReader:
    """A daemon thread reading commands from ``stream`` (stdin).

    ``on_command(cmd)`` gets each valid command, ``on_error(err)`` each invalid line (a
    :class:`ProtocolError`), ``on_eof()`` once when the stream closes.
    """

    def __init__(self, on_command: Callable[[Command], None], on_error: Callable[[ProtocolError], None] | None = None,
                 on_eof: Callable[[], None] | None = None, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdin
        self._on_command, self._on_error, self._on_eof = on_command, on_error, on_eof
        self._thread = threading.Thread(target=self._run, name="ffhquv-commands", daemon=True)

    def start(self) -> "CommandReader":
        if self._stream is not None:
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for line in self._stream:
                self._dispatch(line)
        except (OSError, ValueError):  # stdin closed under us (or not readable): same as EOF
            pass
        if self._on_eof is not None:
            self._on_eof()

    def _dispatch(self, line: str) -> None:
        try:
            command = parse_command(line)
        except ProtocolError as err:
            if self._on_error is not None:
                self._on_error(err)
            return
        if command is not None:
            self._on_command(command)
