"""Shared fixtures: real test photos (see tests/photos.py) and inputs generated from them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.photos import paste, photo_path, read_rgb

NO_NPM_REASON = ("skipped: no npm - the Khronos glTF validator (npm gltf-validator) is not installed; install "
                 "Node.js/npm (Debian: apt-get install nodejs npm) and run tools/setup.sh")
"""Skip reason of the tests that need the npm glTF validator; the run's summary repeats it in red."""


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Say "skipped: no npm" loudly: a skipped validator test must not pass unnoticed as one more 's'."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if NO_NPM_REASON in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{NO_NPM_REASON} ({len(skipped)} test(s))", red=True, bold=True)


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """``(512, 512, 3)`` uint8 astronaut photo (frontal face, ~106 px tall)."""
    return read_rgb(photo_path("astronaut"))


@pytest.fixture(scope="session")
def takeo_rgb() -> np.ndarray:
    """``(225, 150, 3)`` uint8 takeo photo (frontal, grey-ish colour, 68-pt ground truth)."""
    return read_rgb(photo_path("takeo"))


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generated")


@pytest.fixture(scope="session")
def two_face_path(generated_dir: Path, astronaut_rgb: np.ndarray) -> Path:
    """768x512 composite: the astronaut at full size on the left (face ~103 px) and at 0.6x on
    the right (face ~64 px), on neutral grey. FaceMesh's own (short-range) detector misses the
    small copy; the full-range detector finds it."""
    from PIL import Image

    canvas = np.full((512, 768, 3), 128, np.uint8)
    canvas = paste(canvas, astronaut_rgb[:, 100:400], 1.0, (0, 0))
    canvas = paste(canvas, astronaut_rgb[:, 100:400], 0.6, (420, 120))
    path = generated_dir / "two_faces.png"
    Image.fromarray(canvas).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_face_path(generated_dir: Path, astronaut_rgb: np.ndarray) -> Path:
    """320x320 grey canvas holding the astronaut scaled so her face is ~42 px tall."""
    from PIL import Image

    canvas = np.full((320, 320, 3), 128, np.uint8)
    canvas = paste(canvas, astronaut_rgb, 0.4, (70, 90))
    path = generated_dir / "tiny_face.png"
    Image.fromarray(canvas).save(path)
    return path


@pytest.fixture(scope="session")
def far_face_path(generated_dir: Path, astronaut_rgb: np.ndarray) -> Path:
    """1600x1600 canvas with the astronaut at 0.8x (face ~86 px, 5 % of the frame): too small
    for both MediaPipe detectors on the whole frame."""
    from PIL import Image

    canvas = np.full((1600, 1600, 3), 100, np.uint8)
    canvas = paste(canvas, astronaut_rgb, 0.8, (600, 530))
    path = generated_dir / "far_face.png"
    Image.fromarray(canvas).save(path)
    return path
