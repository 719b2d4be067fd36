"""Run the reconstruction engine in a separate process and follow its JSON-line progress.

The engine is ``python -m engine reconstruct PHOTO -o OUT --progress json [options]``; it prints one
JSON object per line on stdout (``{"stage", "fraction", "message"}``), the last one being
``{"stage": "done", "output": ...}`` or ``{"stage": "error", "message": ..., "kind": ...}``.
A reader thread turns lines into :class:`ProgressEvent` objects on a queue; Blender's main thread
drains them with :meth:`EngineJob.poll` (from a timer when interactive) or :meth:`EngineJob.wait`
(synchronously in background mode). Cancel is cooperative first (a ``{"command": "cancel"}`` line,
then stdin is closed), then SIGTERM, then SIGKILL: the process is gone within ~1 s.

This module imports neither ``bpy`` nor the engine (and never torch): Blender's process stays clean.
"""
from __future__ import annotations

import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable

from .errors import EngineFailure, EngineNotFound
from .names import MSG

__all__ = [
    "ENV_ENGINE_PYTHON", "ENV_ENGINE_PATH", "BUNDLED_ENGINE_DIRNAME", "ReconstructRequest",
    "EngineLocation", "ProgressEvent", "JobState", "EngineJob", "locate_engine", "run_to_completion",
    "STAGE_WEIGHTS", "overall_fraction",
]

ENV_ENGINE_PYTHON = "FFHQUV_ENGINE_PYTHON"
ENV_ENGINE_PATH = "FFHQUV_ENGINE_PATH"
# build.py copies the repository's ``engine/`` package to ``<add-on>/vendor/engine``.
BUNDLED_ENGINE_DIRNAME = "vendor"

# The engine reports a fraction per stage; these weights turn (stage, fraction) into one overall bar.
# Unknown stages keep the bar where it is (it never moves backwards).
STAGE_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("load", 0.02), ("landmarks", 0.06), ("fit", 0.22), ("refine", 0.25), ("texture", 0.35), ("write", 0.10),
)
_STDERR_TAIL_LINES = 40
_GRACE_S = 0.3       # after the cooperative cancel line, before SIGTERM
_TERM_WAIT_S = 0.5   # after SIGTERM, before SIGKILL


@dataclass(frozen=True)
class ReconstructRequest:
    """Arguments of one ``engine reconstruct`` call.

    ``photo``: an image file the engine can read. ``output_dir``: created by the engine if missing.
    ``texture_size``: 1024 or 2048 (texels per side). ``quality``: "fast" | "best".
    ``device``: "auto" | "cpu" | "cuda". ``expression``: "keep" | "neutral".
    """

    photo: Path
    output_dir: Path
    texture_size: int = 1024
    quality: str = "fast"
    device: str = "auto"
    expression: str = "keep"

    def cli_args(self) -> list[str]:
        """The argument list after ``python -m engine``."""
        return [
            "reconstruct", str(self.photo), "-o", str(self.output_dir), "--progress", "json",
            "--texture-size", str(self.texture_size), "--quality", self.quality,
            "--device", self.device, "--expression", self.expression,
        ]


@dataclass(frozen=True)
class EngineLocation:
    """How to start the engine: an interpreter and the folders to put on its ``PYTHONPATH``.

    ``source`` says where the choice came from ("environment", "preferences", "bundled").
    """

    python: str
    pythonpath: tuple[str, ...]
    source: str

    def command(self, request: ReconstructRequest) -> list[str]:
        """The full argv of the engine process."""
        return [self.python, "-m", "engine", *request.cli_args()]

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The child's environment: ``base`` (default ``os.environ``) plus our PYTHONPATH, unbuffered output."""
        env = dict(os.environ if base is None else base)
        env["PYTHONPATH"] = os.pathsep.join(self.pythonpath)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONNOUSERSITE"] = "1"
        env.pop("PYTHONHOME", None)
        return env


def locate_engine(
    addon_dir: Path,
    extension_site_packages: tuple[str, ...] = (),
    python_override: str = "",
    path_override: str = "",
    environ: dict[str, str] | None = None,
) -> EngineLocation:
    """Pick the engine interpreter and source folder.

    Order: environment variables ``FFHQUV_ENGINE_PYTHON`` / ``FFHQUV_ENGINE_PATH`` (developers, tests),
    then the add-on preferences (``python_override`` / ``path_override``), then the bundled engine
    (``<addon_dir>/vendor/engine`` run by ``sys.executable``, i.e. Blender's own Python, with the
    extension's wheel folder ``extension_site_packages`` on its path).
    Raises :class:`EngineNotFound` when the chosen interpreter or ``engine`` package does not exist.
    """
    env = os.environ if environ is None else environ
    python = env.get(ENV_ENGINE_PYTHON, "") or python_override
    path = env.get(ENV_ENGINE_PATH, "") or path_override
    source = "environment" if (env.get(ENV_ENGINE_PYTHON) or env.get(ENV_ENGINE_PATH)) else (
        "preferences" if (python_override or path_override) else "bundled")
    bundled = addon_dir / BUNDLED_ENGINE_DIRNAME
    engine_root = Path(path) if path else bundled
    if not (engine_root / "engine" / "__main__.py").is_file():
        raise EngineNotFound(MSG.ENGINE_NOT_FOUND, hint=MSG.ENGINE_NOT_FOUND_HINT.format(path=engine_root))
    interpreter = python or sys.executable
    if not Path(interpreter).is_file():
        raise EngineNotFound(MSG.ENGINE_PYTHON_MISSING.format(path=interpreter), hint=MSG.ENGINE_PYTHON_MISSING_HINT)
    # Our own Python gets the extension's wheels; a developer interpreter brings its own packages.
    site = extension_site_packages if not python else ()
    return EngineLocation(python=interpreter, pythonpath=(str(engine_root), *site), source=source)


@dataclass(frozen=True)
class ProgressEvent:
    """One progress line. ``fraction`` in [0, 1] (of the stage); ``output`` and ``warnings`` on "done";
    ``kind`` (the engine's error class name) on "error"."""

    stage: str
    fraction: float
    message: str = ""
    output: str | None = None
    kind: str | None = None
    warnings: tuple[str, ...] = ()

    @classmethod
    def parse(cls, line: str) -> "ProgressEvent | None":
        """Parse one stdout line; None for anything that is not a progress object (engine chatter)."""
        line = line.strip()
        if not line.startswith("{"):
            return None
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or not isinstance(obj.get("stage"), str):
            return None
        try:
            fraction = min(max(float(obj.get("fraction", 0.0)), 0.0), 1.0)
        except (TypeError, ValueError):
            fraction = 0.0
        output = obj.get("output")
        kind = obj.get("kind")
        warnings = obj.get("warnings")
        return cls(
            stage=obj["stage"], fraction=fraction, message=str(obj.get("message", "") or ""),
            output=str(output) if output is not None else None,
            kind=str(kind) if kind is not None else None,
            warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
        )


def overall_fraction(stage: str, fraction: float, previous: float = 0.0) -> float:
    """Overall progress in [0, 1] from a per-stage fraction (see STAGE_WEIGHTS); never below ``previous``."""
    if stage == "done":
        return 1.0
    start = 0.0
    for name, weight in STAGE_WEIGHTS:
        if name == stage:
            return max(previous, min(1.0, start + weight * fraction))
        start += weight
    return previous


class JobState(Enum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class _Exited:
    returncode: int


@dataclass
class EngineJob:
    """A running engine process. Create with :meth:`start`; use from one (Blender's main) thread.

    Public read-only state: ``state``, ``stage``, ``fraction``, ``message``, ``output_dir`` (set when
    DONE), ``failure`` (set when FAILED), ``started_at`` (``time.monotonic()``), ``request``,
    ``overall`` (progress over all stages, for one bar), ``warnings`` (from the "done" line).
    """

    request: ReconstructRequest
    process: subprocess.Popen
    started_at: float
    state: JobState = JobState.RUNNING
    stage: str = "starting"
    fraction: float = 0.0
    message: str = ""
    output_dir: Path | None = None
    failure: EngineFailure | None = None
    overall: float = 0.0
    warnings: tuple[str, ...] = ()
    _events: "queue.Queue[ProgressEvent | _Exited]" = field(default_factory=queue.Queue)
    _stderr_tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=_STDERR_TAIL_LINES))
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, location: EngineLocation, request: ReconstructRequest) -> "EngineJob":
        """Spawn the engine. Raises :class:`EngineNotFound` if the interpreter cannot be executed.

        The working directory is the engine's source folder: ``python -m`` puts the working directory
        first on ``sys.path``, and Blender's may contain anything (even another ``engine`` folder).
        """
        request.output_dir.parent.mkdir(parents=True, exist_ok=True)  # the engine creates the folder itself
        kwargs: dict = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # own process group: a kill reaches helpers too
        else:
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0) | getattr(
                subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        try:
            proc = subprocess.Popen(
                location.command(request), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=location.environment(), text=True, encoding="utf-8",
                errors="replace", bufsize=1, cwd=location.pythonpath[0] if location.pythonpath else None,
                **kwargs,
            )
        except OSError as err:
            raise EngineNotFound(MSG.ENGINE_START_FAILED.format(detail=err.strerror or err)) from err
        job = cls(request=request, process=proc, started_at=time.monotonic())
        job._threads = [
            threading.Thread(target=job._read_stdout, name="ffhquv-engine-stdout", daemon=True),
            threading.Thread(target=job._read_stderr, name="ffhquv-engine-stderr", daemon=True),
        ]
        for thread in job._threads:
            thread.start()
        return job

    # -- reader threads (never touch anything but the queue and the stderr deque) --
    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = ProgressEvent.parse(line)
            if event is not None:
                self._events.put(event)
        self._events.put(_Exited(self.process.wait()))

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.strip():
                self._stderr_tail.append(line.rstrip())

    # -- main-thread API --
    @property
    def running(self) -> bool:
        return self.state is JobState.RUNNING

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_at

    def poll(self) -> list[ProgressEvent]:
        """Apply every event received so far (non-blocking) and return them."""
        received: list[ProgressEvent] = []
        while self.running:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
            self._apply(item)
            if isinstance(item, ProgressEvent):
                received.append(item)
        return received

    def wait(
        self,
        timeout: float | None = None,
        on_event: Callable[[ProgressEvent], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> JobState:
        """Block until the job ends (or ``timeout`` s pass), calling ``on_event`` for each event.

        ``should_cancel`` is checked every 0.1 s; returning True cancels the job.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running:
            if should_cancel is not None and should_cancel():
                self.cancel()
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                item = self._events.get(timeout=0.1 if remaining is None else min(0.1, remaining))
            except queue.Empty:
                continue
            self._apply(item)
            if isinstance(item, ProgressEvent) and on_event is not None:
                on_event(item)
        return self.state

    def cancel(self) -> None:
        """Stop the engine: a cancel line and EOF on stdin, then SIGTERM, then SIGKILL (≤ ~1 s total)."""
        if self.state is not JobState.RUNNING:
            return
        self.state = JobState.CANCELLED
        self.stage, self.message = "cancelled", "Cancelled"
        self._send_cancel_line()
        if self._wait_exit(_GRACE_S):
            return
        self._terminate(hard=False)
        if self._wait_exit(_TERM_WAIT_S):
            return
        self._terminate(hard=True)
        self._wait_exit(1.0)

    def _send_cancel_line(self) -> None:
        stdin = self.process.stdin
        try:
            if stdin is not None:
                stdin.write(json.dumps({"command": "cancel"}) + "\n")
                stdin.flush()
                stdin.close()
        except (OSError, ValueError):
            pass  # the engine already closed its end or exited

    def _wait_exit(self, seconds: float) -> bool:
        try:
            self.process.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _terminate(self, hard: bool) -> None:
        proc = self.process
        if proc.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
            elif hard:
                proc.kill()
            else:
                proc.terminate()
        except OSError:
            pass  # already gone

    def stderr_tail(self) -> list[str]:
        """The last lines the engine wrote on stderr (for logs and crash messages)."""
        return list(self._stderr_tail)

    def _apply(self, item: "ProgressEvent | _Exited") -> None:
        if isinstance(item, _Exited):
            self._finish_without_verdict(item.returncode)
            return
        self.stage, self.fraction, self.message = item.stage, item.fraction, item.message
        self.overall = overall_fraction(item.stage, item.fraction, self.overall)
        if item.stage == "done":
            self.warnings = item.warnings
            if item.output:
                self.output_dir = Path(item.output)
            else:
                self.output_dir = self.request.output_dir
            self.state = JobState.DONE
        elif item.stage == "error":
            self.failure = EngineFailure(item.message or MSG.ENGINE_FAILED, kind=item.kind or "EngineError")
            self.state = JobState.FAILED

    def _finish_without_verdict(self, returncode: int) -> None:
        # The process exited before printing "done" or "error": a crash, a kill, or a bad interpreter.
        for thread in self._threads:
            thread.join(timeout=1.0)
        tail = self.stderr_tail()
        detail = tail[-1] if tail else "no error output"
        self.failure = EngineFailure(MSG.ENGINE_CRASHED.format(code=returncode, detail=detail), kind="EngineCrash")
        self.state = JobState.FAILED


def run_to_completion(
    location: EngineLocation,
    request: ReconstructRequest,
    on_event: Callable[[EngineJob, ProgressEvent], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    timeout: float | None = None,
) -> EngineJob:
    """Run the engine synchronously; returns the finished job (``state`` DONE, ``output_dir`` set).

    ``on_event(job, event)`` is called for every progress line (``job.overall`` is up to date).
    Raises :class:`EngineFailure` (engine error, crash, timeout or cancel) with the engine's message.
    """
    job = EngineJob.start(location, request)
    callback = None if on_event is None else (lambda event: on_event(job, event))
    state = job.wait(timeout=timeout, on_event=callback, should_cancel=should_cancel)
    if state is JobState.RUNNING:
        job.cancel()
        raise EngineFailure(MSG.ENGINE_TIMEOUT.format(seconds=timeout), kind="Timeout")
    if state is JobState.CANCELLED:
        raise EngineFailure(MSG.CANCELLED, kind="Cancelled")
    if state is JobState.FAILED:
        assert job.failure is not None
        raise job.failure
    return job
