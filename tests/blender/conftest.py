"""Fixtures for the Blender tests. They run on the ``bpy`` wheel (Blender as a Python module):

    .venv-bpy50/bin/python -m pytest tests/blender -q     # Blender 5.0.x
    .venv-bpy42/bin/python -m pytest tests/blender -q     # Blender 4.2 LTS

Under an interpreter without ``bpy`` (the main .venv) only test_blender_on_bpy_venvs.py is collected: it runs
this suite on both bpy venvs in subprocesses.
Which engine the end-to-end test runs is ``E2E_ENGINE`` in ffhquv_bl_testutil.py ("fake" = the stand-in in
tests/blender/fake_engine, "real" = the repository's engine run by the main .venv's Python);
override with FFHQUV_E2E_ENGINE=real|fake.
"""
from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Blender reads its user folders when bpy is imported: point them at a private temporary folder first,
# so installing the extension never touches a real Blender configuration.
_USER_RESOURCES = Path(tempfile.mkdtemp(prefix="ffhquv_blender_user_"))
os.environ["BLENDER_USER_RESOURCES"] = str(_USER_RESOURCES)

# Under a bpy interpreter the Blender tests run here; under any other (the main .venv) only the wrapper
# test_blender_on_bpy_venvs.py runs, which starts this suite on each bpy venv in a subprocess.
WRAPPER = "test_blender_on_bpy_venvs.py"
try:
    import bpy
except ImportError:
    bpy = None
    collect_ignore = [p.name for p in Path(__file__).parent.glob("test_*.py") if p.name != WRAPPER]
else:
    collect_ignore = [WRAPPER]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ffhquv_bl_testutil import ADDON_MODULE, REPO, engine_environment  # noqa: E402

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ffhquv_blender_tests_"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(_USER_RESOURCES, ignore_errors=True)


@pytest.fixture(scope="session")
def photo(workdir: Path) -> Path:
    """A real face photo: scikit-image's astronaut (public domain) from the main venv, copied."""
    found = sorted(REPO.glob(".venv/lib/python3*/site-packages/skimage/data/astronaut.png"))
    if not found:
        pytest.skip("scikit-image's astronaut.png is not installed in the main .venv")
    target = workdir / "astronaut.png"
    shutil.copy(found[0], target)
    return target


@pytest.fixture(scope="session")
def extension_zip(workdir: Path) -> Path:
    """The dev extension zip (no wheels), built by build.py into a private folder."""
    import build

    return build.build(no_wheels=True, out_dir=workdir / "dist", staging=workdir / "staging")


@pytest.fixture(scope="session")
def installed(extension_zip: Path, workdir: Path):
    """Install + enable the zip the way an artist does (Install from Disk); returns the add-on module name.

    Engine results go to the session's private folder (preference "Output Folder"), removed afterwards.
    """
    result = bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}
    assert ADDON_MODULE in bpy.context.preferences.addons, "the extension was not enabled"
    bpy.context.preferences.addons[ADDON_MODULE].preferences.output_root = str(workdir / "engine_results")
    yield ADDON_MODULE
    # bpy 4.2 (module build) segfaults at interpreter exit while Python operator classes are still
    # registered (a bare registered Operator is enough); disabling the add-on first keeps the exit clean.
    bpy.ops.preferences.addon_disable(module=ADDON_MODULE)


@pytest.fixture()
def fake_engine(monkeypatch: pytest.MonkeyPatch, installed: str) -> None:
    """Route the add-on to the fake engine (fast, with failure knobs) for this test. The session's warm
    engine is stopped before and after, so the test's environment knobs reach a fresh fake engine."""
    session = importlib.import_module(f"{installed}.engine_session").SESSION
    session.shutdown()
    for key, value in engine_environment("fake").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FFHQUV_FAKE_DELAY", "0.01")
    yield
    session.shutdown()


@pytest.fixture()
def empty_scene(installed: str):
    """A fresh empty scene (extensions stay enabled)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


@pytest.fixture(scope="session")
def fake_result(workdir: Path, photo: Path) -> Path:
    """A stand-in engine output folder (written once, 512² textures)."""
    sys.path.insert(0, str(REPO / "tools"))
    from make_fake_engine_output import make_fake_output

    return make_fake_output(workdir / "fake_result", photo, texture_size=512)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: photo -> engine process -> Blender scene (engine per E2E_ENGINE)")


_EXIT_STATUS: list[int] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """bpy 4.2 (module build) segfaults while Python finalizes after a glTF export/import, even in a
    script without this add-on (``export_scene.gltf`` on the default cube, then exit -> SIGSEGV); 5.0 exits
    cleanly. Everything is reported by now, so leave with pytest's status before finalization."""
    if bpy is not None and bpy.app.version < (5, 0, 0) and _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
