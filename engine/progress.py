"""Progress reporting: a terminal bar per stage, or one JSON object per line for the Blender add-on."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO

__all__ = ["Progress", "ProgressCallback", "make_progress"]

ProgressCallback = Callable[[str, float, str], None]


@dataclass
class Progress:
    """Reports ``(stage, fraction in [0, 1], message)``; ``mode`` is ``"bar"``, ``"json"`` or ``"quiet"``.

    Stage fractions are of the stage itself; the add-on shows the stage name beside the bar.
    """

    mode: str = "bar"
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    _last_stage: str = ""
    _last_draw: float = 0.0

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self.mode == "json":
            self.emit({"stage": stage, "fraction": round(fraction, 4), "message": message})
        elif self.mode == "bar":
            self._draw_bar(stage, fraction, message)

    def emit(self, record: dict) -> None:
        """Writes one JSON line (json mode only) and flushes, so a reading process sees it at once."""
        if self.mode == "json":
            self.stream.write(json.dumps(record) + "\n")
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


def make_progress(mode: str) -> Progress:
    """``json`` writes to stdout (the add-on reads it); the bar and warnings go to stderr."""
    if mode == "json":
        return Progress(mode="json", stream=sys.stdout)
    if mode == "bar" and not sys.stderr.isatty():
        return Progress(mode="quiet")
    return Progress(mode=mode)
