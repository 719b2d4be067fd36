"""The engine as a warm separate process: start it, send it requests, follow their JSON-line progress.

The add-on runs ``python -m engine serve`` (engine/serve.py) once and keeps it for the Blender session
(``engine_session.py`` decides when to start, restart and stop it), so torch, MediaPipe and the head model
load once instead of on every Reconstruct. Requests are JSON lines on the engine's stdin
(``{"command": "reconstruct", "id": ...}``, ``cancel``, ``shutdown``); its stdout carries
``{"event": "ready"}`` once, then for each request ``{"stage", "fraction", "message", "id"}`` lines ending
in ``{"stage": "done", "output": ...}`` or ``{"stage": "error", "message": ..., "kind": ...}``.

An :class:`EngineServer` owns the process and two reader threads; they route each line to the
:class:`EngineJob` of its id through a queue. Blender's main thread drains a job with :meth:`EngineJob.poll`
(from a timer when interactive) or :meth:`EngineJob.wait` (synchronously in background mode). Cancel is
cooperative (a ``cancel`` line; the engine stops within ~0.5 s, removes its temporary folder and stays
warm). Control returns to the artist after at most ``CANCEL_ACK_S``; a confirmation that is late (a cold
disk, a long numeric step, a busy machine) is awaited in the background for ``CANCEL_GRACE_S`` more, and
only an engine that has not confirmed by then is killed (the next request starts a new one). The engine
exits by itself when its stdin closes, so a Blender that dies leaves no engine behind.

This module imports neither ``bpy`` nor the engine (and never torch): Blender's process stays clean.
"""
from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import shutil
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
    "ENV_ENGINE_PYTHON", "ENV_ENGINE_PATH", "BUNDLED_ENGINE_DIRNAME", "ReconstructRequest", "EngineLocation",
    "ProgressEvent", "JobState", "EngineServer", "EngineJob", "locate_engine", "run_to_completion",
    "STAGE_WEIGHTS", "overall_fraction", "remove_staging_leftovers", "CANCEL_ACK_S", "CANCEL_GRACE_S",
    "SHUTDOWN_WAIT_S",
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
CANCEL_ACK_S = 0.8     # cancel() waits this long for the engine's confirmation before it returns
CANCEL_GRACE_S = 10.0  # then a late confirmation is awaited in the background this long before a kill
SHUTDOWN_WAIT_S = 2.0  # after "shutdown" and the end of stdin, before the engine is killed
_KILL_WAIT_S = 1.0     # after SIGKILL, for the process to be reaped
_POLL_S = 0.1          # how often a blocking wait checks should_cancel
_FINAL_STAGES = ("done", "error")
# The engine writes into a temporary sibling ".<output name>.<random>" and renames it at the end
# (engine/outdir.py); after a kill those are removed here.
_STAGING_PREFIX = "."


@dataclass(frozen=True)
class ReconstructRequest:
    """Arguments of one reconstruction.

    ``photo``: an image file the engine can read. ``output_dir``: created by the engine if missing.
    ``texture_size``: 1024, 2048 or 4096 (texels per side). ``quality``: "fast" | "best".
    ``device``: "auto" | "cpu" | "cuda". ``expression``: "keep" | "neutral".
    """

    photo: Path
    output_dir: Path
    texture_size: int = 1024
    quality: str = "fast"
    device: str = "auto"
    expression: str = "keep"

    def command(self, request_id: str) -> dict:
        """The ``reconstruct`` command line (a JSON object) for ``engine serve``."""
        return {"command": "reconstruct", "id": request_id, "photo": str(self.photo), "output": str(self.output_dir),
                "texture_size": self.texture_size, "quality": self.quality, "device": self.device,
                "expression": self.expression}


@dataclass(frozen=True)
class EngineLocation:
    """How to start the engine: an interpreter and the folders to put on its ``PYTHONPATH``.

    ``source`` says where the choice came from ("environment", "preferences", "bundled").
    """

    python: str
    pythonpath: tuple[str, ...]
    source: str

    def command(self) -> list[str]:
        """The full argv of the engine process (the warm server)."""
        return [self.python, "-m", "engine", "serve"]

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
    ``kind`` (the engine's error class name) on "error"; ``request_id`` the request it belongs to."""

    stage: str
    fraction: float
    message: str = ""
    output: str | None = None
    kind: str | None = None
    warnings: tuple[str, ...] = ()
    request_id: str | None = None

    @property
    def final(self) -> bool:
        return self.stage in _FINAL_STAGES

    @classmethod
    def parse(cls, line: str) -> "ProgressEvent | None":
        """Parse one stdout line; None for anything that is not a progress object (engine chatter)."""
        obj = _json_object(line)
        if obj is None or not isinstance(obj.get("stage"), str):
            return None
        try:
            fraction = min(max(float(obj.get("fraction", 0.0)), 0.0), 1.0)
        except (TypeError, ValueError):
            fraction = 0.0
        output, kind, warnings, request_id = obj.get("output"), obj.get("kind"), obj.get("warnings"), obj.get("id")
        return cls(
            stage=obj["stage"], fraction=fraction, message=str(obj.get("message", "") or ""),
            output=str(output) if output is not None else None,
            kind=str(kind) if kind is not None else None,
            warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
            request_id=str(request_id) if request_id is not None else None,
        )


def _json_object(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


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
    """The engine process ended (the reader thread saw the end of its stdout)."""

    returncode: int


class EngineServer:
    """One ``engine serve`` process. Create with :meth:`start`; use from one (Blender's main) thread.

    Read-only state: ``location``, ``process``, ``pid``, ``alive``, ``ready`` (set once the engine has
    loaded its models), ``stopped_by_us`` (a shutdown or kill we asked for, as opposed to a crash),
    ``crash_reported`` (a job already told the artist that this process died), ``cancelling`` (a cancel
    whose confirmation is still awaited in the background).
    """

    def __init__(self, location: EngineLocation, process: subprocess.Popen) -> None:
        self.location, self.process = location, process
        self.ready = threading.Event()
        self.stopped_by_us = False
        self.crash_reported = False
        self._lock = threading.Lock()
        self._jobs: dict[str, EngineJob] = {}  # requests whose final line has not arrived, by id
        self._cancelling: set[str] = set()
        self._ids = itertools.count(1)
        self._stderr_tail: collections.deque = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._threads = [threading.Thread(target=self._read_stdout, name="ffhquv-engine-stdout", daemon=True),
                         threading.Thread(target=self._read_stderr, name="ffhquv-engine-stderr", daemon=True)]
        for thread in self._threads:
            thread.start()

    @classmethod
    def start(cls, location: EngineLocation) -> "EngineServer":
        """Spawn the engine. Raises :class:`EngineNotFound` if the interpreter cannot be executed.

        The working directory is the engine's source folder: ``python -m`` puts the working directory
        first on ``sys.path``, and Blender's may contain anything (even another ``engine`` folder).
        """
        kwargs: dict = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # own process group: a kill reaches helpers too
        else:
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0) | getattr(
                subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        try:
            proc = subprocess.Popen(
                location.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=location.environment(), text=True, encoding="utf-8", errors="replace", bufsize=1,
                cwd=location.pythonpath[0] if location.pythonpath else None, **kwargs,
            )
        except OSError as err:
            raise EngineNotFound(MSG.ENGINE_START_FAILED.format(detail=err.strerror or err)) from err
        return cls(location, proc)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def cancelling(self) -> bool:
        with self._lock:
            return bool(self._cancelling)

    def submit(self, request: ReconstructRequest) -> "EngineJob":
        """Send one request; returns its job (RUNNING; FAILED at once if the engine is gone)."""
        request.output_dir.parent.mkdir(parents=True, exist_ok=True)  # the engine creates the folder itself
        job = EngineJob(request=request, server=self, request_id=f"r{next(self._ids)}", started_at=time.monotonic())
        with self._lock:
            self._jobs[job.request_id] = job
        if not self.send(request.command(job.request_id)) and self.process.poll() is not None:
            job._events.put(_Exited(self.process.returncode))
        return job

    def send(self, command: dict) -> bool:
        """Write one command line; False if the engine's stdin is closed (it exited or is exiting)."""
        stdin = self.process.stdin
        try:
            stdin.write(json.dumps(command) + "\n")
            stdin.flush()
            return True
        except (OSError, ValueError, AttributeError):  # broken pipe / closed file: the engine is gone
            return False

    def watch_cancel(self, job: "EngineJob") -> None:
        """Await ``job``'s late cancel confirmation in a background thread; kill the engine (and remove the
        job's temporary folder) if it has not come within ``CANCEL_GRACE_S``."""
        with self._lock:
            self._cancelling.add(job.request_id)
        threading.Thread(target=self._await_cancel, args=(job,), name="ffhquv-engine-cancel", daemon=True).start()

    def _await_cancel(self, job: "EngineJob") -> None:
        try:
            if not job._wait_final(CANCEL_GRACE_S):
                self.kill()
            if not self.alive:
                remove_staging_leftovers(job.request.output_dir)
        finally:
            with self._lock:
                self._cancelling.discard(job.request_id)

    def shutdown(self, wait_s: float = SHUTDOWN_WAIT_S) -> None:
        """Ask the engine to exit (it cancels a running request and cleans up); kill it if it does not."""
        self.stopped_by_us = True
        if self.alive:
            self.send({"command": "shutdown"})
            self._close_stdin()
            if self._wait_exit(wait_s):
                return
        self.kill()

    def kill(self) -> None:
        """Kill the engine (and anything it started) now; the next request needs a new server."""
        self.stopped_by_us = True
        if self.alive:
            try:
                if os.name == "posix":
                    os.killpg(self.process.pid, signal.SIGKILL)
                else:
                    self.process.kill()
            except OSError:
                pass  # already gone
        self._wait_exit(_KILL_WAIT_S)
        self._close_stdin()

    def stderr_tail(self) -> list[str]:
        """The last lines the engine wrote on stderr (for logs and crash messages)."""
        return list(self._stderr_tail)

    def join_readers(self, timeout: float = 1.0) -> None:
        for thread in self._threads:
            thread.join(timeout=timeout)

    def _close_stdin(self) -> None:
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
        except (OSError, ValueError):  # the engine closed its end first
            pass

    def _wait_exit(self, seconds: float) -> bool:
        try:
            self.process.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    # -- reader threads (touch only the queues, the ready flag and the stderr deque) --
    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            event = ProgressEvent.parse(line)
            if event is None:
                if (_json_object(line) or {}).get("event") == "ready":
                    self.ready.set()
                continue
            with self._lock:
                job = self._jobs.pop(event.request_id, None) if event.final else self._jobs.get(event.request_id)
            if job is not None:
                job._events.put(event)
        returncode = self.process.wait()
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job._events.put(_Exited(returncode))

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            if line.strip():
                self._stderr_tail.append(line.rstrip())


@dataclass
class EngineJob:
    """One request on an :class:`EngineServer`. Use from one (Blender's main) thread.

    Public read-only state: ``state``, ``stage``, ``fraction``, ``message``, ``output_dir`` (set when
    DONE), ``failure`` (set when FAILED), ``started_at`` (``time.monotonic()``), ``request``,
    ``overall`` (progress over all stages, for one bar), ``warnings`` (from the "done" line).
    """

    request: ReconstructRequest
    server: EngineServer
    request_id: str
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

    @property
    def process(self) -> subprocess.Popen:
        """The engine process serving this job (shared with the jobs before and after it)."""
        return self.server.process

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
                item = self._events.get(timeout=_POLL_S if remaining is None else min(_POLL_S, remaining))
            except queue.Empty:
                continue
            self._apply(item)
            if isinstance(item, ProgressEvent) and on_event is not None:
                on_event(item)
        return self.state

    def cancel(self) -> None:
        """Stop the request: a ``cancel`` line; the engine confirms within ~0.5 s and stays warm. Returns
        within ``CANCEL_ACK_S``; a later confirmation is awaited in the background (:meth:`EngineServer.
        watch_cancel`), which kills the engine only if none comes within ``CANCEL_GRACE_S``."""
        if self.state is not JobState.RUNNING:
            return
        self.state = JobState.CANCELLED
        self.stage, self.message = "cancelled", MSG.CANCELLED
        if not self.server.send({"command": "cancel", "id": self.request_id}):
            self.server.kill()  # its stdin is closed: it is exiting or gone
            remove_staging_leftovers(self.request.output_dir)
        elif not self._wait_final(CANCEL_ACK_S):
            self.server.watch_cancel(self)

    def _wait_final(self, seconds: float) -> bool:
        """Drain events until the engine's final line for this request (or its exit); False on timeout."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self._events.get(timeout=remaining)
            except queue.Empty:
                return False
            if isinstance(item, _Exited) or item.final:
                return True
        return False

    def _apply(self, item: "ProgressEvent | _Exited") -> None:
        if isinstance(item, _Exited):
            self._fail_with_crash(item.returncode)
            return
        self.stage, self.fraction, self.message = item.stage, item.fraction, item.message
        self.overall = overall_fraction(item.stage, item.fraction, self.overall)
        if item.stage == "done":
            self.warnings = item.warnings
            self.output_dir = Path(item.output) if item.output else self.request.output_dir
            self.state = JobState.DONE
        elif item.stage == "error":
            self.failure = EngineFailure(item.message or MSG.ENGINE_FAILED, kind=item.kind or "EngineError")
            self.state = JobState.FAILED

    def _fail_with_crash(self, returncode: int) -> None:
        # The process exited before this request's "done" or "error": a crash, a kill, or a bad interpreter.
        self.server.join_readers()
        tail = self.server.stderr_tail()
        detail = tail[-1] if tail else "no error output"
        self.failure = EngineFailure(MSG.ENGINE_CRASHED.format(code=returncode, detail=detail), kind="EngineCrash")
        self.state = JobState.FAILED
        self.server.crash_reported = True


def remove_staging_leftovers(output_dir: Path) -> None:
    """Remove the engine's temporary siblings of ``output_dir`` (only after the engine was killed)."""
    parent = output_dir.parent
    if not parent.is_dir():
        return
    for path in parent.glob(f"{_STAGING_PREFIX}{output_dir.name}.*"):
        shutil.rmtree(path, ignore_errors=True)


def run_to_completion(
    job: EngineJob,
    on_event: Callable[[EngineJob, ProgressEvent], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    timeout: float | None = None,
) -> EngineJob:
    """Follow a submitted job synchronously; returns it finished (``state`` DONE, ``output_dir`` set).

    ``on_event(job, event)`` is called for every progress line (``job.overall`` is up to date).
    Raises :class:`EngineFailure` (engine error, crash, timeout or cancel) with the engine's message.
    """
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
