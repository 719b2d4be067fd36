"""What the tests that render with Cycles (the benchmark's own Blender scripts) need."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

BPY50_PYTHON = Path(__file__).resolve().parents[1] / ".venv-bpy50" / "bin" / "python"
"""The bpy 5.0 venv's Python the benchmark's Cycles renders run in."""


def require_cycles() -> None:
    """Skip the calling test (or fixture) when Cycles renders cannot run: FFHQUV_SKIP_BLENDER_TESTS=1, or
    no bpy 5.0 venv."""
    if os.environ.get("FFHQUV_SKIP_BLENDER_TESTS") == "1":
        pytest.skip("FFHQUV_SKIP_BLENDER_TESTS=1")
    if not BPY50_PYTHON.is_file():
        pytest.skip("no .venv-bpy50: run tools/setup.sh --blender")
