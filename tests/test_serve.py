"""`ffhquv serve`: the warm engine the Blender add-on keeps (JSON lines on stdin/stdout, engine/serve.py)."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.photos import photo_path

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 300.0


class Server:
    """A ``python -m engine serve`` process; stdout lines arrive on a queue (read by a thread)."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "engine", "serve"], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self.next_record(lambda r: r.get("event") == "ready", READY_TIMEOUT_S)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def send(self, **command) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def next_record(self, match, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            record = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if match(record):
                return record

    def final(self, request_id: str, timeout: float = RUN_TIMEOUT_S) -> dict:
        return self.next_record(lambda r: r.get("id") == request_id and r["stage"] in ("done", "error"), timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    srv.close()


def _request(request_id: str, photo: Path, output: Path, **extra) -> dict:
    return dict(command="reconstruct", id=request_id, photo=str(photo), output=str(output), **extra)


def test_ready_then_requests_run_in_one_process(server: Server, tmp_path: Path) -> None:
    assert server.ready["pid"] == server.proc.pid and server.ready["warmup_s"] > 0
    for name in ("a", "b"):
        server.send(**_request(name, photo_path("takeo"), tmp_path / name, no_texture=True))
    for name in ("a", "b"):
        done = server.final(name)
        assert done["stage"] == "done", done
        assert Path(done["output"]) == (tmp_path / name).resolve() and (tmp_path / name / "head_mesh.npz").is_file()
    assert server.proc.poll() is None


def test_errors_are_reported_per_request_and_serving_goes_on(server: Server, tmp_path: Path) -> None:
    server.send(**_request("missing", tmp_path / "nope.jpg", tmp_path / "o1"))
    error = server.final("missing")
    assert error["stage"] == "error" and error["kind"] == "InputError" and "nope.jpg" in error["message"]
    server.proc.stdin.write("{not json\n")
    server.proc.stdin.flush()
    bad = server.next_record(lambda r: r.get("kind") == "ProtocolError", 30)
    assert bad["stage"] == "error" and "not a JSON command" in bad["message"]
    server.send(command="reconstruct", id="no-output", photo=str(photo_path("takeo")))
    assert server.final("no-output")["kind"] == "ProtocolError"
    server.send(**_request("after", photo_path("takeo"), tmp_path / "o2", no_texture=True))
    assert server.final("after")["stage"] == "done"


def test_cancel_stops_within_a_second_and_keeps_the_server(server: Server, tmp_path: Path) -> None:
    server.send(**_request("long", photo_path("astronaut"), tmp_path / "long"))
    server.next_record(lambda r: r.get("id") == "long" and r["stage"] == "texture" and r["fraction"] >= 0.2,
                       RUN_TIMEOUT_S)  # the de-lighting: seconds without a progress report
    started = time.monotonic()
    server.send(command="cancel", id="long")
    final = server.final("long", timeout=10)
    elapsed = time.monotonic() - started
    assert final["stage"] == "error" and final["kind"] == "Cancelled"
    assert elapsed <= 1.0, f"cancelled after {elapsed:.2f} s"
    assert list(tmp_path.iterdir()) == [], "temporary output folder left behind"
    server.send(**_request("next", photo_path("takeo"), tmp_path / "next", no_texture=True))
    assert server.final("next")["stage"] == "done"


def test_a_queued_request_can_be_cancelled(server: Server, tmp_path: Path) -> None:
    server.send(**_request("first", photo_path("takeo"), tmp_path / "first", no_texture=True))
    server.send(**_request("second", photo_path("takeo"), tmp_path / "second", no_texture=True))
    server.send(command="cancel", id="second")
    assert server.final("first")["stage"] == "done"
    assert server.final("second")["kind"] == "Cancelled"
    assert not (tmp_path / "second").exists()


@pytest.mark.parametrize("when", ["idle", "running"])
def test_end_of_stdin_ends_the_server(tmp_path: Path, when: str) -> None:
    """The parent died (its end of the pipe closed): the engine leaves, cleaning up, within about a second."""
    srv = Server()
    try:
        if when == "running":
            srv.send(**_request("r", photo_path("astronaut"), tmp_path / "r"))
            srv.next_record(lambda r: r.get("id") == "r" and r["stage"] == "fit", RUN_TIMEOUT_S)
        started = time.monotonic()
        srv.proc.stdin.close()
        srv.proc.wait(timeout=10)
        elapsed = time.monotonic() - started
        assert elapsed < 1.5, f"exited {elapsed:.2f} s after stdin closed"
        assert list(tmp_path.iterdir()) == []
    finally:
        srv.close()
