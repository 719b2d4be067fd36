"""Fake ``python -m engine serve``: the real engine's warm-server protocol (engine/serve.py), in ~0.1 s.

stdin: ``{"command": "reconstruct", "id", "photo", "output", "texture_size", "expression", ...}``,
``{"command": "cancel", "id"}``, ``{"command": "shutdown"}``; the end of stdin ends it too.
stdout: ``{"event": "ready", "pid"}``, then per request progress lines with its ``id`` ending in "done" or
"error" (``"kind": "Cancelled"`` after a cancel). Requests run one at a time.

Environment knobs for tests (read once, at start):
  FFHQUV_FAKE_DELAY   seconds to sleep per progress step (default 0.02)
  FFHQUV_FAKE_CANCEL_S  seconds before a cancel is honoured (default 0; a long step, a cold disk)
  FFHQUV_FAKE_FAIL    "noface" -> an error line (kind NoFaceError) for every request;
                      "crash"  -> a traceback on stderr and exit 1 in the middle of the first request;
                      "hang"   -> requests ignore cancel (and SIGTERM): only a kill stops them.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "tools"))
from make_fake_engine_output import make_fake_output  # noqa: E402

# The real engine's stages; fractions are per stage, as the real engine reports them.
STAGES = (("load", 0.0), ("landmarks", 0.0), ("landmarks", 1.0), ("fit", 0.3), ("fit", 1.0), ("refine", 0.5),
          ("refine", 1.0), ("texture", 0.4), ("texture", 1.0), ("write", 0.0), ("write", 1.0))
_LOCK = threading.Lock()


def emit(**obj: object) -> None:
    with _LOCK:
        print(json.dumps(obj), flush=True)


class FakeServer:
    def __init__(self) -> None:
        self.delay = float(os.environ.get("FFHQUV_FAKE_DELAY", "0.02"))
        self.fail = os.environ.get("FFHQUV_FAKE_FAIL", "")
        self.requests: queue.Queue[dict | None] = queue.Queue()
        self.cancel_s = float(os.environ.get("FFHQUV_FAKE_CANCEL_S", "0"))
        self.cancelled: dict[str, float] = {}  # request id -> when its cancel arrived
        self.stop_now = threading.Event()

    def read_commands(self) -> None:
        for line in sys.stdin:
            command = json.loads(line)
            if command["command"] == "reconstruct":
                self.requests.put(command)
            elif command["command"] == "cancel":
                self.cancelled[command.get("id", "")] = time.monotonic()
            else:
                break
        self.stop_now.set()
        self.requests.put(None)

    def stopped(self, request_id: str) -> bool:
        if self.fail == "hang":
            return False
        cancelled_at = self.cancelled.get(request_id)
        late = cancelled_at is not None and time.monotonic() - cancelled_at >= self.cancel_s
        return late or self.stop_now.is_set()

    def sleep(self, request_id: str) -> None:
        """One step's delay, cut short by a cancel (as the real engine's next progress point would)."""
        deadline = time.monotonic() + self.delay
        while time.monotonic() < deadline and not self.stopped(request_id):
            time.sleep(min(0.02, max(deadline - time.monotonic(), 0.0)))

    def run(self, command: dict) -> None:
        request_id, photo = command["id"], Path(command["photo"])
        if not photo.is_file():
            emit(stage="error", fraction=1.0, message=f"Cannot read the photo {photo}.", kind="InputError", id=request_id)
            return
        for stage, fraction in STAGES:
            if self.stopped(request_id):
                emit(stage="error", fraction=1.0, message="cancelled", kind="Cancelled", id=request_id)
                return
            emit(stage=stage, fraction=fraction, message=f"{stage} (fake engine)", id=request_id)
            print(f"log line on stderr: {stage}", file=sys.stderr, flush=True)
            if self.fail == "noface" and stage == "landmarks":
                emit(stage="error", fraction=1.0, message="No face was found in the photo.", kind="NoFaceError",
                     id=request_id)
                return
            if self.fail == "crash" and stage == "fit":
                print("Traceback (most recent call last):\nRuntimeError: fake crash in fit", file=sys.stderr, flush=True)
                os._exit(1)
            self.sleep(request_id)
        out = make_fake_output(Path(command["output"]), photo, int(command.get("texture_size", 1024)),
                               command.get("expression", "keep"))
        emit(stage="done", fraction=1.0, output=str(out.resolve()), id=request_id)


def main() -> int:
    parser = argparse.ArgumentParser(prog="engine")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve")
    parser.parse_args()
    server = FakeServer()
    if server.fail == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=server.read_commands, daemon=True).start()
    emit(event="ready", pid=os.getpid())
    while (command := server.requests.get()) is not None:
        server.run(command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
