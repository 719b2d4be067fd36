"""Opt-in: the full extension zip (with wheels) installs in Blender and its bundled engine imports.

    python build.py --torch-index none                 # -> dist/ffhquv_blender-<v>-linux-x64-cpu.zip (~350 MB)
    FFHQUV_WHEELS_ZIP=dist/ffhquv_blender-0.1.0-linux-x64-cpu.zip .venv-bpy50/bin/python -m pytest \
        tests/blender/test_blender_wheels_zip.py -q

Runs in a subprocess with its own Blender user folder: installs the zip like an artist, checks Blender
installed every wheel, starts the engine exactly as the add-on does (bundled location: Blender's Python +
vendor/ + the extension's site-packages, no FFHQUV_ENGINE_* overrides), imports its stack, then runs the
Reconstruct operator on the astronaut photo with nothing but the bundled engine and wheels.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ZIP = os.environ.get("FFHQUV_WHEELS_ZIP", "")

SCRIPT = textwrap.dedent("""
    import os, subprocess, sys, tempfile, importlib
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
    for key in ("FFHQUV_ENGINE_PYTHON", "FFHQUV_ENGINE_PATH"):
        os.environ.pop(key, None)
    import bpy
    bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default", enable_on_install=True)
    module = "bl_ext.user_default.ffhquv_blender"
    assert module in bpy.context.preferences.addons, "not enabled"
    ops = importlib.import_module(module + ".operators")
    prefs = importlib.import_module(module + ".preferences")
    location = ops.engine_location(prefs.PreferenceValues())
    print("LOCATION", location)
    assert location.source == "bundled", location
    code = ("import torch, cv2, scipy, PIL, numpy; import mediapipe.python.solutions.face_mesh; "
            "import engine, engine.cli; print('IMPORTS', torch.__version__, cv2.__version__, numpy.__version__)")
    proc = subprocess.run([location.python, "-c", code], env=location.environment(), cwd=location.pythonpath[0],
                          capture_output=True, text=True, timeout=600)
    print(proc.stdout, proc.stderr[-3000:])
    assert proc.returncode == 0
    if len(sys.argv) > 2:  # a photo: the artist's full path, bundled engine and wheels only
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.context.scene.ffhquv.photo_path = sys.argv[2]
        assert bpy.ops.ffhquv.reconstruct() == {"FINISHED"}
        head = bpy.data.objects[os.path.splitext(os.path.basename(sys.argv[2]))[0]]
        print("HEAD", head.name, len(head.data.vertices), len(head.data.shape_keys.key_blocks))
    bpy.ops.preferences.addon_disable(module=module)
    import shutil
    shutil.rmtree(os.environ["BLENDER_USER_RESOURCES"], ignore_errors=True)  # ~1 GB of installed wheels
""")


@pytest.mark.skipif(not ZIP, reason="set FFHQUV_WHEELS_ZIP to a zip built with wheels")
def test_full_zip_installs_and_bundled_engine_reconstructs(photo: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(Path(ZIP).resolve()), str(photo)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "IMPORTS 2.13.0+cpu" in proc.stdout
    assert "HEAD astronaut" in proc.stdout and " 53" in proc.stdout  # Basis + 52 ARKit keys
