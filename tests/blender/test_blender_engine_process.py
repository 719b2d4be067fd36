"""The engine subprocess protocol, against the fake engine (tests/blender/fake_engine): progress lines,
errors with the engine's message and kind, crashes with the stderr tail, and cancel within 1 s."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from ffhquv_bl_testutil import engine_environment, submodule

pytestmark = pytest.mark.usefixtures("installed")


@pytest.fixture()
def location():
    ep = submodule("engine_process")
    env = engine_environment("fake")
    return ep.EngineLocation(python=env["FFHQUV_ENGINE_PYTHON"], pythonpath=(env["FFHQUV_ENGINE_PATH"],), source="test")


def _request(photo: Path, tmp_path: Path):
    return submodule("engine_process").ReconstructRequest(photo=photo, output_dir=tmp_path / "out", texture_size=1024)


def test_progress_then_done(location, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFHQUV_FAKE_DELAY", "0.0")
    ep = submodule("engine_process")
    seen = []
    job = ep.run_to_completion(location, _request(photo, tmp_path), on_event=lambda j, e: seen.append((e.stage, j.overall)))
    assert job.state is ep.JobState.DONE and job.output_dir == (tmp_path / "out").resolve()
    assert (job.output_dir / "head_mesh.npz").is_file()
    stages = [s for s, _ in seen]
    assert stages[0] == "load" and stages[-1] == "done" and "fit" in stages
    overall = [o for _, o in seen]
    assert overall == sorted(overall) and overall[-1] == 1.0


def test_engine_error_carries_message_and_kind(location, photo, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FFHQUV_FAKE_FAIL", "noface")
    ep, errors = submodule("engine_process"), submodule("errors")
    with pytest.raises(errors.EngineFailure) as info:
        ep.run_to_completion(location, _request(photo, tmp_path))
    assert info.value.kind == "NoFaceError" and str(info.value) == "No face was found in the photo."


def test_crash_reports_exit_code_and_last_stderr_line(location, photo, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FFHQUV_FAKE_FAIL", "crash")
    ep, errors = submodule("engine_process"), submodule("errors")
    with pytest.raises(errors.EngineFailure) as info:
        ep.run_to_completion(location, _request(photo, tmp_path))
    assert info.value.kind == "EngineCrash"
    assert "exit code 1" in str(info.value) and "RuntimeError: fake crash in fit" in str(info.value)


def test_missing_interpreter_is_a_clear_error(photo, tmp_path) -> None:
    ep, errors = submodule("engine_process"), submodule("errors")
    bad = ep.EngineLocation(python=str(tmp_path / "nope" / "python"), pythonpath=(), source="test")
    with pytest.raises(errors.EngineNotFound, match="Could not start the engine"):
        ep.EngineJob.start(bad, _request(photo, tmp_path))


@pytest.mark.parametrize("mode", ["cooperative", "hang"])
def test_cancel_stops_the_engine_within_one_second(location, photo, tmp_path, monkeypatch, mode) -> None:
    monkeypatch.setenv("FFHQUV_FAKE_DELAY", "5")
    if mode == "hang":  # ignores the cancel line, stdin EOF and SIGTERM: only SIGKILL stops it
        monkeypatch.setenv("FFHQUV_FAKE_FAIL", "hang")
    ep = submodule("engine_process")
    job = ep.EngineJob.start(location, _request(photo, tmp_path))
    deadline = time.monotonic() + 20
    while job.stage in ("starting",) and time.monotonic() < deadline:  # wait until it is really running
        job.wait(timeout=0.1)
    assert job.running
    started = time.monotonic()
    job.cancel()
    elapsed = time.monotonic() - started
    assert job.process.poll() is not None, "the engine process is still alive"
    assert elapsed < 1.0, f"cancel took {elapsed:.2f} s"
    assert job.state is ep.JobState.CANCELLED
    if mode == "hang":
        assert job.process.returncode == -9  # SIGKILL was needed
    else:
        assert job.process.returncode == 130  # it stopped by itself on the cancel line
