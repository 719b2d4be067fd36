"""Progress reporting: a terminal bar per stage, or one JSON object per line for the Blender add-on."""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

__all__ = ["Progress", "ProgressCallback", "make_progress"]

ProgressCallback = Callable[[str, float, str], None]
_WRITE_LOCK = threading.Lock()


@dataclass
class Progress:
    """Reports ``(stage, fraction in [0, 1], message)``; ``mode`` is ``"bar"``, ``"json"`` or ``"quiet"``.

    Stage fractions are of the stage itself; the add-on shows the stage name beside the bar.
    ``tags`` are added to every JSON record (``serve`` mode: the request ``id``). ``check`` runs first at
    every report: the cancellation point (:meth:`engine.control.RunControl.check` raises ``Cancelled``).
    JSON lines are written whole under one module-wide lock, so a command-reader thread can report too.
    """

    mode: str = "bar"
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    tags: dict[str, Any] = field(default_factory=dict)
    check: Callable[[], None] | None = None
    _last_stage: str = ""
    _last_draw: float = 0.0

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        if self.check is not None:
            self.check()
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self.mode == "json":
            self.emit({"stage": stage, "fraction": round(fraction, 4), "message": message})
        elif self.mode == "bar":
            self._draw_bar(stage, fraction, message)

    def emit(self, record: dict) -> None:
        """Writes one JSON line (json mode only) and flushes, so a reading process sees it at once."""
        if self.mode == "json":
            line = json.dumps({**record, **self.tags}) + "\n"
            with _WRITE_LOCK:
                self.stream.write(line)
                self.stream.flush()

    def _draw_bar(self, stage: str, fraction: float, message: str) -> None:
        now = time.monotonic()
        new_stage = stage != self._last_stage
        if not new_stage and fraction < 1.0 and now - self._last_draw < 0.05:
            return
        if new_stage and self._last_stage:
            self.stream.write("\n")
        self._last_stage, self._last_draw = stage, now
        width = 28
        filled = int(round(width * fraction))
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r{stage:<10} [{bar}] {fraction * 100:5.1f}% {message[:40]:<40}")
        if fraction >= 1.0 and stage == "done":
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        if self.mode == "bar" and self._last_stage:
            self.stream.write("\n")
            self.stream.flush()


def make_progress(mode: str, tags: dict[str, Any] | None = None, check: Callable[[], None] | None = None) -> Progress:
    """``json`` writes to stdout (the add-on reads it); the bar and warnings go to stderr."""
    extra = dict(tags or {})
    if mode == "json":
        return Progress(mode="json", stream=sys.stdout, tags=extra, check=check)
    if mode == "bar" and not sys.stderr.isatty():
        return Progress(mode="quiet", tags=extra, check=check)
    return Progress(mode=mode, tags=extra, check=check)
