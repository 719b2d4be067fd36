"""Fake ``python -m engine``: same CLI and JSON-line progress protocol as the real engine.

Environment knobs for tests:
  FFHQUV_FAKE_DELAY   seconds to sleep per progress step (default 0.02)
  FFHQUV_FAKE_FAIL    "noface" -> error line (kind NoFaceError), exit 3;
                      "crash"  -> a traceback on stderr and exit 1 without an error line;
                      "hang"   -> ignore the cancel line, SIGTERM and stdin EOF (tests SIGKILL escalation).
Cooperative cancel: a ``{"command": "cancel"}`` line or EOF on stdin stops the run (exit 130).
"""
from __future__ import annotations

import argparse
import json
import os
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


def emit(**obj: object) -> None:
    print(json.dumps(obj), flush=True)


def watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if "cancel" in line:
            break
    stop.set()


def main() -> int:
    parser = argparse.ArgumentParser(prog="engine")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconstruct")
    rec.add_argument("photo", type=Path)
    rec.add_argument("-o", "--output", type=Path, required=True)
    rec.add_argument("--progress", choices=("bar", "json", "none"), default="bar")
    rec.add_argument("--texture-size", type=int, choices=(1024, 2048), default=1024)
    rec.add_argument("--quality", choices=("fast", "best"), default="fast")
    rec.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    rec.add_argument("--expression", choices=("keep", "neutral"), default="keep")
    args = parser.parse_args()
    delay = float(os.environ.get("FFHQUV_FAKE_DELAY", "0.02"))
    fail = os.environ.get("FFHQUV_FAKE_FAIL", "")
    stop = threading.Event()
    if fail == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            emit(stage="fit", fraction=0.3, message="hanging on purpose")
            time.sleep(0.2)
    threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    if not args.photo.is_file():
        emit(stage="error", fraction=1.0, message=f"Cannot read the photo {args.photo}.", kind="InputError")
        return 2
    for stage, fraction in STAGES:
        if stop.is_set():
            return 130
        emit(stage=stage, fraction=fraction, message=f"{stage} (fake engine)")
        print(f"log line on stderr: {stage}", file=sys.stderr, flush=True)
        if fail == "noface" and stage == "landmarks":
            emit(stage="error", fraction=1.0, message="No face was found in the photo.", kind="NoFaceError")
            return 3
        if fail == "crash" and stage == "fit":
            print("Traceback (most recent call last):\nRuntimeError: fake crash in fit", file=sys.stderr, flush=True)
            return 1
        if stop.wait(delay):
            return 130
    out = make_fake_output(args.output, args.photo, args.texture_size, args.expression)
    emit(stage="done", fraction=1.0, output=str(out.resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
