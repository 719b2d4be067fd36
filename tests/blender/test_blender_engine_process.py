"""The warm engine process protocol, against the fake engine (tests/blender/fake_engine): progress lines,
errors with the engine's message and kind, crashes with the stderr tail, one process for many requests,
cancel within 1 s, a restart after a crash, and no engine left behind when Blender's side dies."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ffhquv_bl_testutil import REPO, engine_environment, submodule

pytestmark = pytest.mark.usefixtures("installed")

# A killed parent closes the engine's stdin; the engine then exits at once (engine/serve.py).
ORPHAN_EXIT_S = 3.0


@pytest.fixture()
def location():
    ep = submodule("engine_process")
    env = engine_environment("fake")
    return ep.EngineLocation(python=env["FFHQUV_ENGINE_PYTHON"], pythonpath=(env["FFHQUV_ENGINE_PATH"],), source="test")


@pytest.fixture()
def session():
    """A private engine session (the add-on's own SESSION is left alone), shut down afterwards."""
    sess = submodule("engine_session").EngineSession()
    yield sess
    sess.shutdown()


def _request(photo: Path, tmp_path: Path, name: str = "out"):
    return submodule("engine_process").ReconstructRequest(photo=photo, output_dir=tmp_path / name, texture_size=1024)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie that nobody reaped counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


def test_progress_then_done(location, session, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFHQUV_FAKE_DELAY", "0.0")
    ep = submodule("engine_process")
    seen = []
    job = ep.run_to_completion(session.submit(location, _request(photo, tmp_path)),
                               on_event=lambda j, e: seen.append((e.stage, j.overall)))
    assert job.state is ep.JobState.DONE and job.output_dir == (tmp_path / "out").resolve()
    assert (job.output_dir / "head_mesh.npz").is_file()
    stages = [s for s, _ in seen]
    assert stages[0] == "load" and stages[-1] == "done" and "fit" in stages
    overall = [o for _, o in seen]
    assert overall == sorted(overall) and overall[-1] == 1.0
    assert session.server.ready.is_set()


def test_second_request_reuses_the_process(location, session, photo, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FFHQUV_FAKE_DELAY", "0.0")
    ep = submodule("engine_process")
    first = ep.run_to_completion(session.submit(location, _request(photo, tmp_path, "a")))
    second = ep.run_to_completion(session.submit(location, _request(photo, tmp_path, "b")))
    assert first.process.pid == second.process.pid and second.process.poll() is None
    assert first.request_id != second.request_id
    assert (tmp_path / "a" / "head_mesh.npz").is_file() and (tmp_path / "b" / "head_mesh.npz").is_file()


def test_engine_error_carries_message_and_kind(location, session, photo, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FFHQUV_FAKE_FAIL", "noface")
    ep, errors = submodule("engine_process"), submodule("errors")
    with pytest.raises(errors.EngineFailure) as info:
        ep.run_to_completion(session.submit(location, _request(photo, tmp_path)))
    assert info.value.kind == "NoFaceError" and str(info.value) == "No face was found in the photo."
    assert session.server.alive  # an engine error is not a crash: the engine stays


def test_crash_reports_exit_code_and_last_stderr_line_then_restarts(location, session, photo, tmp_path,
                                                                    monkeypatch) -> None:
    monkeypatch.setenv("FFHQUV_FAKE_FAIL", "crash")
    ep, errors = submodule("engine_process"), submodule("errors")
    with pytest.raises(errors.EngineFailure) as info:
        ep.run_to_completion(session.submit(location, _request(photo, tmp_path)))
    assert info.value.kind == "EngineCrash"
    assert "exit code 1" in str(info.value) and "RuntimeError: fake crash in fit" in str(info.value)
    crashed = session.server.pid
    monkeypatch.delenv("FFHQUV_FAKE_FAIL")
    job = ep.run_to_completion(session.submit(location, _request(photo, tmp_path, "again")))
    assert job.process.pid != crashed and job.state is ep.JobState.DONE
    assert session.take_notices() == []  # the crash was reported once, by the job it killed


def test_engine_killed_while_idle_is_noticed_once(location, session, photo, tmp_path) -> None:
    ep = submodule("engine_process")
    ep.run_to_completion(session.submit(location, _request(photo, tmp_path, "a")))
    victim = session.server.process
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=5)
    job = ep.run_to_completion(session.submit(location, _request(photo, tmp_path, "b")))
    assert job.state is ep.JobState.DONE and job.process.pid != victim.pid
    notices = session.take_notices()
    assert len(notices) == 1 and "stopped unexpectedly (exit code -9" in notices[0]
    assert session.take_notices() == []


def test_missing_interpreter_is_a_clear_error(session, photo, tmp_path) -> None:
    ep, errors = submodule("engine_process"), submodule("errors")
    bad = ep.EngineLocation(python=str(tmp_path / "nope" / "python"), pythonpath=(), source="test")
    with pytest.raises(errors.EngineNotFound, match="Could not start the engine"):
        session.submit(bad, _request(photo, tmp_path))


@pytest.mark.parametrize("mode", ["cooperative", "late", "hang"])
def test_cancel_returns_within_one_second(location, session, photo, tmp_path, monkeypatch, mode) -> None:
    """Control returns within 1 s whatever the engine does. An engine that confirms, even late (1.5 s, past
    the 0.8 s cancel() waits), stays warm; one that never confirms is killed after the grace period."""
    monkeypatch.setenv("FFHQUV_FAKE_DELAY", "5")
    ep = submodule("engine_process")
    if mode == "hang":  # ignores the cancel line: the engine must be killed
        monkeypatch.setenv("FFHQUV_FAKE_FAIL", "hang")
        monkeypatch.setattr(ep, "CANCEL_GRACE_S", 1.0)
    if mode == "late":
        monkeypatch.setenv("FFHQUV_FAKE_CANCEL_S", "1.5")
    job = session.submit(location, _request(photo, tmp_path))
    deadline = time.monotonic() + 20
    while job.stage == "starting" and time.monotonic() < deadline:  # wait until it is really running
        job.wait(timeout=0.1)
    assert job.running
    started = time.monotonic()
    job.cancel()
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"cancel took {elapsed:.2f} s"
    assert job.state is ep.JobState.CANCELLED
    assert job.server.cancelling is (mode != "cooperative")
    deadline = time.monotonic() + 5
    while job.server.cancelling and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not job.server.cancelling and not (tmp_path / "out").exists()
    if mode == "hang":
        assert job.process.poll() is not None and job.process.returncode == -9  # killed
    else:
        assert job.process.poll() is None  # stopped by itself and stays warm: the same process answers next
        after = session.submit(location, _request(tmp_path / "missing.png", tmp_path, "after"))
        assert after.wait(timeout=10) is ep.JobState.FAILED and after.failure.kind == "InputError"
        assert after.process.pid == job.process.pid


def test_shutdown_stops_the_engine(location, session, photo, tmp_path) -> None:
    server = session.ensure(location)
    assert server.ready.wait(10)
    session.shutdown()
    assert server.process.poll() == 0 and session.server is None


def test_engine_exits_when_blenders_side_dies(location, tmp_path: Path) -> None:
    """Kill -9 the process holding the engine (as a Blender crash would): the engine sees its stdin close
    and exits by itself, while idle and in the middle of a request."""
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from ffhquv_blender import engine_process as ep
        location = ep.EngineLocation(python={location.python!r}, pythonpath={location.pythonpath!r}, source="test")
        idle = ep.EngineServer.start(location)
        busy = ep.EngineServer.start(location)
        busy.submit(ep.ReconstructRequest(photo=Path({str(tmp_path / "photo.png")!r}), output_dir=Path({str(tmp_path / "out")!r})))
        assert idle.ready.wait(30) and busy.ready.wait(30)
        print(idle.pid, busy.pid, flush=True)
        time.sleep(600)
    """)
    (tmp_path / "photo.png").write_bytes(b"not read by the fake engine before the first progress step")
    env = dict(os.environ, FFHQUV_FAKE_DELAY="5")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        pids = [int(p) for p in holder.stdout.readline().split()]
        assert len(pids) == 2 and not any(_gone(pid) for pid in pids)
        holder.kill()
        holder.wait()
        for pid in pids:
            assert _wait_gone(pid, ORPHAN_EXIT_S), f"engine {pid} outlived its parent"
    finally:
        holder.kill()


def test_request_after_an_unconfirmed_cancel_gets_a_fresh_engine(location, session, photo, tmp_path,
                                                                  monkeypatch) -> None:
    """An artist who reconstructs again while the last cancel is still unconfirmed does not wait for the
    grace period: the stuck engine is killed and a new one serves the request."""
    monkeypatch.setenv("FFHQUV_FAKE_DELAY", "5")
    monkeypatch.setenv("FFHQUV_FAKE_FAIL", "hang")
    ep = submodule("engine_process")
    job = session.submit(location, _request(photo, tmp_path))
    deadline = time.monotonic() + 20
    while job.stage == "starting" and time.monotonic() < deadline:
        job.wait(timeout=0.1)
    job.cancel()
    assert job.server.cancelling
    monkeypatch.delenv("FFHQUV_FAKE_FAIL")
    monkeypatch.setenv("FFHQUV_FAKE_DELAY", "0.02")
    after = session.submit(location, _request(photo, tmp_path, "after"))
    assert job.process.returncode == -9 and after.process.pid != job.process.pid
    assert after.wait(timeout=20) is ep.JobState.DONE
    assert session.take_notices() == []  # a kill we asked for is not a crash
