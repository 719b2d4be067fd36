"""The small mixed source the dataset tests share: 2 real photos and 7 broken or awkward files."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tests.photos import photo_path

__all__ = ["make_mixed_source", "REAL", "BROKEN"]

REAL = ("astronaut", "takeo")
BROKEN = {  # file name -> the status its row must have
    "truncated.jpg": "input",
    "not_an_image.jpg": "input",
    "grey.png": "no_face",
    "tiny.png": None,  # input or no_face or face_too_small: any error kind the engine chooses
    "cmyk.jpg": "no_face",
    "deep16.png": "ok",
    "panorama.jpg": "no_face",
}


def make_mixed_source(folder: Path) -> Path:
    """Writes the source folder (real photos in ``real/``, the rest in ``odd/``) and returns it."""
    real, broken = folder / "real", folder / "odd"
    real.mkdir(parents=True)
    broken.mkdir()
    for name in REAL:
        src = Path(photo_path(name))
        shutil.copyfile(src, real / f"{name}{src.suffix}")
    rng = np.random.default_rng(0)
    noise = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    Image.fromarray(noise).save(broken / "full.jpg", quality=90)
    data = (broken / "full.jpg").read_bytes()
    (broken / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (broken / "full.jpg").unlink()
    (broken / "not_an_image.jpg").write_text("this is not an image\n")
    Image.fromarray(np.full((480, 640, 3), 128, np.uint8)).save(broken / "grey.png")
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(broken / "tiny.png")
    Image.fromarray(np.full((200, 200, 4), (20, 60, 90, 0), np.uint8), mode="CMYK").save(broken / "cmyk.jpg")
    takeo = np.asarray(Image.open(photo_path("takeo")).convert("RGB"), np.uint16) * 257  # a real face, 16 bit
    cv2.imwrite(str(broken / "deep16.png"), np.ascontiguousarray(takeo[..., ::-1]))
    pano = np.full((600, 12000, 3), 140, np.uint8)
    pano[:, ::1000] = 30  # mostly flat: cheap to encode and to search
    Image.fromarray(pano).save(broken / "panorama.jpg", quality=80)
    return folder
