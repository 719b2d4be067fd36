"""``ffhquv serve`` (``python -m engine serve``): a warm engine speaking JSON lines on stdin/stdout.

The Blender add-on keeps one such process for the whole Blender session, so torch, MediaPipe and the head
model are loaded once instead of on every Reconstruct.

stdin, one command per line::

    {"command": "reconstruct", "id": "r1", "photo": "/a.jpg", "output": "/out/a",
     "texture_size": 1024, "quality": "fast", "device": "auto", "expression": "keep",
     "overwrite": false, "no_texture": false}
    {"command": "cancel", "id": "r1"}        (no id: whatever runs now)
    {"command": "shutdown"}

stdout: ``{"event": "ready", "pid": ..., "version": ..., "warmup_s": ...}`` once the models are loaded
(requests sent earlier wait in a queue), then for each request the same lines as
``reconstruct --progress json``, each with the request's ``"id"``: progress, then ``"done"`` (with
``"output"`` and ``"warnings"``) or ``"error"`` (``"kind": "Cancelled"`` after a cancel). Requests run
one at a time, in order. A cancel stops the run within ~0.5 s (engine/control.py) and removes its
temporary folder; the process stays warm. ``shutdown`` or the end of stdin (the parent died) cancels the
run and exits; if the run does not stop within ``EXIT_DEADLINE_S`` the process exits anyway, so a dead
parent never leaves an engine behind.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field

from engine import __version__
from engine.control import Command, CommandReader, RunControl, install_interrupt_handler
from engine.errors import Cancelled, EngineError, ProtocolError
from engine.jobs import ReconstructJob, describe_error, run_job
from engine.progress import Progress, make_progress

__all__ = ["serve", "warm_up", "EXIT_DEADLINE_S"]

EXIT_DEADLINE_S = 3.0
"""After ``shutdown`` or the end of stdin, the process exits at the latest this many seconds later."""
CANCELLED_EXIT = Cancelled.exit_code


@dataclass
class _Queue:
    """Requests waiting for the main thread, and which one runs now (shared with the reader thread)."""

    pending: "queue.Queue[Command | None]" = field(default_factory=queue.Queue)
    lock: threading.Lock = field(default_factory=threading.Lock)
    active_id: str | None = None
    dropped: set[str] = field(default_factory=set)
    stopping: bool = False


class _Server:
    def __init__(self, debug: bool) -> None:
        self.debug = debug
        self.control = RunControl()
        self.state = _Queue()
        self.out = make_progress("json")
        self.ready = threading.Event()

    # -- reader thread --
    def on_command(self, command: Command) -> None:
        if command.name == "reconstruct":
            self.state.pending.put(command)
        elif command.name == "cancel":
            self._cancel(command.id)
        else:
            self.stop()

    def on_error(self, err: ProtocolError) -> None:
        self.out.emit({**describe_error(err).record(), "id": ""})

    def _cancel(self, request_id: str) -> None:
        """Mark the request cancelled (queued or running; no id: the running one) and stop it if it runs."""
        with self.state.lock:
            request_id = request_id or self.state.active_id or ""
            if not request_id:
                return
            self.state.dropped.add(request_id)
            running = request_id == self.state.active_id
        if running:
            self.control.cancel()

    def stop(self) -> None:
        """``shutdown`` or end of stdin: cancel the run, let the loop end; a hard exit if it cannot."""
        with self.state.lock:
            if self.state.stopping:
                return
            self.state.stopping = True
        if not self.ready.is_set():  # still warming up: nothing to clean up, no reason to wait
            _hard_exit(0)
        self.control.cancel()
        self.state.pending.put(None)
        deadline = threading.Timer(EXIT_DEADLINE_S, _hard_exit, args=(CANCELLED_EXIT,))
        deadline.daemon = True
        deadline.start()

    # -- main thread --
    def loop(self) -> None:
        while not self.state.stopping:
            command = self.state.pending.get()
            if command is None or self.state.stopping:
                return
            self._handle(command)

    def _handle(self, command: Command) -> None:
        progress = make_progress("json", tags={"id": command.id}, check=self.control.check)
        try:
            job = ReconstructJob.from_command(command.args or {})
            result = self._run(command.id, job, progress)
            progress.emit({"stage": "done", "fraction": 1.0, "output": str(result.output), "message": "done",
                           "warnings": result.warnings})
        except KeyboardInterrupt:  # a cancel's interrupt of a long numeric step (engine/control.py), or
            if not self.control.cancelled:  # Ctrl-C / SIGTERM, which end the server too
                self.state.stopping = True
            _report(progress, Cancelled(), self.debug)
        except Exception as err:  # noqa: BLE001 - every error becomes the request's error line; serving goes on
            _report(progress, err, self.debug)
        finally:
            with self.state.lock:
                self.state.active_id = None
                self.state.dropped.discard(command.id)

    def _run(self, request_id: str, job: ReconstructJob, progress: Progress):
        """Runs the job as the active request; a cancel that came before it started counts too."""
        with self.state.lock:
            self.state.active_id = request_id
        with self.control.running():
            with self.state.lock:
                if request_id in self.state.dropped:
                    raise Cancelled()
            return run_job(job, progress)


def _report(progress: Progress, err: BaseException, debug: bool) -> None:
    try:
        progress.emit(describe_error(err, debug).record())
    except KeyboardInterrupt:  # a late cancel interrupt while reporting: report once more
        progress.emit(describe_error(Cancelled(), debug).record())


def _hard_exit(code: int) -> None:
    """Leave now, without waiting for the main thread (warm-up, or a run that did not stop in time)."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # the reader of stdout is gone
        pass
    os._exit(code)


def warm_up() -> float:
    """Import torch and MediaPipe, load the head model and the landmark correspondence, build the MediaPipe
    graphs (one tiny inference each): what the first reconstruction would otherwise pay. Returns seconds."""
    started = time.perf_counter()
    import numpy as np
    import torch  # noqa: F401 - the import itself is the warm-up

    from engine import api, outputs  # noqa: F401
    from engine.fit import pipeline  # noqa: F401
    from engine.fit.correspondence import load_correspondence
    from engine.head.model import load_head_model
    from engine.landmarks import warm_up as warm_up_mediapipe
    from engine.texture import pipeline as texture_pipeline  # noqa: F401

    load_head_model()
    load_correspondence()
    warm_up_mediapipe(np.full((192, 192, 3), 128, np.uint8))
    return time.perf_counter() - started


def serve(debug: bool = False) -> int:
    """Run the server until ``shutdown`` or the end of stdin (exit code 0), or Ctrl-C / SIGTERM (130; during a
    run they cancel it, which is reported, then the server ends)."""
    install_interrupt_handler()
    server = _Server(debug)
    CommandReader(server.on_command, server.on_error, on_eof=server.stop).start()
    try:
        seconds = warm_up()  # not cancellable: a shutdown meanwhile ends the process at EXIT_DEADLINE_S
    except EngineError as err:
        server.out.emit({**describe_error(err, debug).record(), "id": ""})
        return err.exit_code
    server.ready.set()
    server.out.emit({"event": "ready", "pid": os.getpid(), "version": __version__, "warmup_s": round(seconds, 3)})
    try:
        server.loop()
    except KeyboardInterrupt:  # Ctrl-C / SIGTERM while idle
        return CANCELLED_EXIT
    return 0
