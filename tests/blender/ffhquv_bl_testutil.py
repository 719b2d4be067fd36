"""Constants and helpers shared by the Blender tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKE_ENGINE_PATH = REPO / "tests" / "blender" / "fake_engine"
MAIN_VENV_PYTHON = REPO / ".venv" / "bin" / "python"
ADDON_MODULE = "bl_ext.user_default.ffhquv_blender"

# >>> Switch for the end-to-end test: "real" runs `python -m engine reconstruct` from this repository with the
# main .venv (~15-20 s); "fake" runs tests/blender/fake_engine (~1 s). Override with FFHQUV_E2E_ENGINE. <<<
E2E_ENGINE = os.environ.get("FFHQUV_E2E_ENGINE", "real")


def engine_environment(kind: str) -> dict[str, str]:
    """FFHQUV_ENGINE_PYTHON / FFHQUV_ENGINE_PATH for the fake or the real engine."""
    if kind == "real":
        return {"FFHQUV_ENGINE_PYTHON": str(MAIN_VENV_PYTHON), "FFHQUV_ENGINE_PATH": str(REPO)}
    return {"FFHQUV_ENGINE_PYTHON": sys.executable, "FFHQUV_ENGINE_PATH": str(FAKE_ENGINE_PATH)}


def submodule(name: str):
    """A submodule of the installed add-on, e.g. ``submodule("scene")``."""
    return importlib.import_module(f"{ADDON_MODULE}.{name}")

# The parts that become child objects of the head.
PART_CHECK = frozenset(("eye_l", "eye_r", "teeth_upper", "teeth_lower", "tongue"))
