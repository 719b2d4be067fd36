"""Run the Blender tests on every bpy venv (Blender 5.0.x and 4.2 LTS), one after the other.

    python tests/blender/run_blender_tests.py                 # both venvs, all tests
    python tests/blender/run_blender_tests.py -k export       # extra arguments go to pytest

Each venv is ``<repo>/.venv-bpy50`` / ``<repo>/.venv-bpy42`` (see docs/ARTISTS.md § Developers for the
setup commands). A missing venv is a failure: CI must test both Blender versions. Exit status 0 only if
every run passed.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENVS = (".venv-bpy50", ".venv-bpy42")


def main(argv: list[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    results = []
    for venv in VENVS:
        python = REPO / venv / "bin" / "python"
        if not python.is_file():
            results.append((venv, "missing", 0.0))
            continue
        started = time.monotonic()
        proc = subprocess.run([str(python), "-m", "pytest", "tests/blender", "-q", *extra], cwd=REPO)
        results.append((venv, "passed" if proc.returncode == 0 else f"failed ({proc.returncode})",
                        time.monotonic() - started))
    for venv, status, seconds in results:
        print(f"{venv:<14} {status:<12} {seconds:6.1f} s")
    return 0 if all(status == "passed" for _, status, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
