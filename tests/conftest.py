"""Shared fixtures: real test photos (see tests/photos.py) and inputs generated from them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.photos import paste, photo_path, read_rgb


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
    """640x512 composite: the astronaut at full size on the left (face ~103 px) and at 0.7x on
    the right (face ~76 px), on neutral grey. (MediaPipe's whole-frame detector finds small
    second faces erratically: at 0.6x or 0.8x it misses this one.)"""
    from PIL import Image

    canvas = np.full((512, 640, 3), 128, np.uint8)
    canvas = paste(canvas, astronaut_rgb[:, 100:400], 1.0, (0, 0))
    canvas = paste(canvas, astronaut_rgb[:, 100:400], 0.7, (420, 100))
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
