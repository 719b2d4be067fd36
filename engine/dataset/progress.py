"""Build progress: a terminal bar with rate and ETA (stderr), JSON lines (stdout), or nothing."""
from __future__ import annotations

import json
import sys
import time
from typing import TextIO

__all__ = ["BuildProgress"]


class BuildProgress:
    """``mode`` ``bar`` / ``json`` / ``none``. ``total`` inputs; :meth:`item` once per finished or skipped
    input. The rate counts only processed items (not skipped ones) since the first one started."""

    def __init__(self, mode: str, total: int, stream: TextIO | None = None) -> None:
        if mode not in ("bar", "json", "none"):
            raise ValueError(f"progress must be bar, json or none, got {mode!r}")
        self.mode, self.total = mode, total
        self.stream = stream or (sys.stdout if mode == "json" else sys.stderr)
        self.counts = {"ok": 0, "error": 0, "skipped": 0}
        self.start = time.monotonic()
        self._last_draw = 0.0

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def rate_per_min(self) -> float:
        processed = self.counts["ok"] + self.counts["error"]
        elapsed = time.monotonic() - self.start
        return 60.0 * processed / elapsed if elapsed > 0 and processed else 0.0

    def eta_s(self) -> float | None:
        rate = self.rate_per_min()
        return None if rate <= 0 else 60.0 * (self.total - self.done) / rate

    def item(self, row_id: str, status: str, skipped: bool = False, seconds: float | None = None) -> None:
        self.counts["skipped" if skipped else ("ok" if status == "ok" else "error")] += 1
        if self.mode == "json":
            eta = self.eta_s()
            self._json({"stage": "dataset", "id": row_id, "status": status,
                        "action": "skipped" if skipped else "processed",
                        "done": self.done, "total": self.total, **self.counts,
                        "fraction": round(self.done / max(self.total, 1), 4),
                        "rate_per_min": round(self.rate_per_min(), 2),
                        "eta_s": None if eta is None else round(eta, 1),
                        "seconds": seconds})
        elif self.mode == "bar":
            self._bar()

    def message(self, text: str) -> None:
        if self.mode == "json":
            self._json({"stage": "dataset", "message": text})
        elif self.mode == "bar":
            self.stream.write(f"{text}\n")
            self.stream.flush()

    def finish(self, summary: dict) -> None:
        if self.mode == "json":
            self._json({"stage": "done", **summary})
        elif self.mode == "bar":
            self._bar(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def _json(self, record: dict) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()

    def _bar(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.2 and self.done < self.total:
            return
        self._last_draw = now
        width, frac = 30, self.done / max(self.total, 1)
        eta = self.eta_s()
        eta_text = "--:--" if eta is None else f"{int(eta // 60):02d}:{int(eta % 60):02d}"
        c = self.counts
        self.stream.write(f"\r[{'#' * int(width * frac):<{width}}] {self.done}/{self.total} "
                          f"ok {c['ok']} err {c['error']} skip {c['skipped']} | "
                          f"{self.rate_per_min():.1f} img/min ETA {eta_text} ")
        self.stream.flush()
