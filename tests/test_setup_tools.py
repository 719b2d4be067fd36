"""A fresh machine: tools/setup.sh's prerequisite checks and index probe, build.py's offline default and its
list of zips, and pyproject.toml's licence in the form setuptools asks for (no deprecation warning)."""
from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "tools" / "setup.sh"
sys.path.insert(0, str(ROOT))
import build  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _setup_function(call: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Source tools/setup.sh (which then runs nothing) and call one of its functions."""
    return subprocess.run([shutil.which("bash"), "-c", f'source "{SETUP}"; {call}'], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/whl/cpu"  # nothing listens there any more: connection refused


@pytest.fixture()
def local_index(tmp_path: Path):
    """A package index on loopback that has a torch/ page."""
    (tmp_path / "whl" / "cpu" / "torch").mkdir(parents=True)
    (tmp_path / "whl" / "cpu" / "torch" / "index.html").write_text("<html></html>")
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    server.shutdown()


def test_setup_says_skipped_no_npm_without_npm(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    proc = _setup_function("check_npm", tmp_path, {"PATH": str(bin_dir)})  # check_npm needs only builtins
    assert proc.returncode == 1
    assert proc.stdout.startswith("setup: skipped: no npm") and "apt-get install nodejs npm" in proc.stdout


def test_setup_names_python311_venv_when_venv_is_missing(tmp_path: Path) -> None:
    fake = tmp_path / "python3.11"  # a Python 3.11 whose ensurepip is missing, as on a bare Debian
    fake.write_text('#!/bin/sh\ncase "$*" in *ensurepip*) exit 1 ;; esac\nexit 0\n')
    fake.chmod(0o755)
    proc = _setup_function("check_python", tmp_path, {"PYTHON": str(fake)})
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"setup: {fake} cannot create virtual environments (Debian: apt-get install python3.11-venv)"


def test_setup_stops_when_the_disk_is_too_small(tmp_path: Path) -> None:
    proc = _setup_function("NEED_GB_ENGINE=1000000; check_disk", tmp_path)
    assert proc.returncode == 1 and "GB free here, the environments need about 1000000 GB" in proc.stderr


def test_setup_probe_is_short_and_quiet(local_index: str) -> None:
    assert _setup_function(f"index_reachable {local_index}", ROOT).returncode == 0
    started = time.monotonic()
    proc = _setup_function(f"index_reachable {_closed_port_url()}", ROOT)
    assert proc.returncode == 1 and proc.stdout == proc.stderr == ""
    assert time.monotonic() - started < 5


def test_build_falls_back_to_pip_indexes_with_a_message(local_index: str, capsys: pytest.CaptureFixture) -> None:
    assert build.resolve_torch_index(local_index) == local_index
    assert build.resolve_torch_index("none") == "none"
    assert build.resolve_torch_index(_closed_port_url()) == "none"
    assert "does not answer" in capsys.readouterr().out


def test_build_lists_the_zips_it_makes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert build.main(["--no-wheels", "--platform", "all", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    zips = sorted(tmp_path.glob("*.zip"))
    assert [p.name for p in zips] == ["ffhquv_blender-0.1.0-nowheels.zip"]
    assert out[-2] == "build.py: 1 zip(s) made:" and out[-1].startswith(f"  {zips[0]} ")


def test_pyproject_licence_is_an_spdx_string() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "GPL-3.0-or-later"  # a table is deprecated (setuptools >= 77)
    assert "setuptools>=77" in project["build-system"]["requires"]
