"""Runs the Blender test suite on each bpy venv (Blender 5.0.x and 4.2 LTS) from the main .venv's pytest.

Collected only by interpreters without ``bpy`` (see conftest.py). A missing venv fails (CI must test both
Blender versions) unless FFHQUV_SKIP_BLENDER_TESTS=1 is set.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("venv", [".venv-bpy50", ".venv-bpy42"])
def test_blender_suite(venv: str) -> None:
    if os.environ.get("FFHQUV_SKIP_BLENDER_TESTS") == "1":
        pytest.skip("FFHQUV_SKIP_BLENDER_TESTS=1")
    python = REPO / venv / "bin" / "python"
    assert python.is_file(), f"{venv} is missing: see docs/ARTISTS.md § Developers"
    proc = subprocess.run([str(python), "-m", "pytest", "tests/blender", "-q", "-p", "no:cacheprovider"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, f"{venv}: {summary}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert " passed" in summary and "failed" not in summary
