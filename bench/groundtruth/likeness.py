"""Identity distances: the photo against a Cycles render of the reconstruction at the fitted camera,
and the reconstruction against itself between two views (beside the same for the true head).

The reconstruction is rendered by the same independent Cycles script as the ground truth
(:mod:`bench.groundtruth.cycles_render`), under the photo's own lighting when it is known (benchmark
renders) or a neutral studio HDRI (real photos), in a window around the face (:class:`FaceWindow`: the
photo's own resolution, or less when the face is larger than :data:`FACE_PX`), and exposed with the
photo's own exposure gain. For real photos, :func:`estimated_light` gives a second lighting: the
engine's own estimate of the photo's light (its SH), for a like-for-like comparison with a photo whose
light is baked in. Descriptors: dlib's 128-d face descriptor (bench only).
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
import cv2  # noqa: E402

from bench.groundtruth.perturb import encode_srgb8, luminance  # noqa: E402
from bench.groundtruth.scenes import View, camera  # noqa: E402

__all__ = ["RenderJob", "render_jobs", "exposed_srgb", "identity_between", "VIEW_PAIR", "NEUTRAL_LIGHT",
           "FACE_PX", "FaceWindow", "face_window", "view_job", "estimated_light"]

FACE_PX = 200
"""Photo <-> render identity is compared in a window around the face where the landmark box's larger side
spans at most this many pixels, and never more than the photo's own (no upsampling). dlib's descriptor reads
a 150-pixel chip, so a larger face adds nothing but render time; the renders used to be made at half the
photo's size, which left the faces of three of the five real photos 40-45 pixels wide, below what dlib's
detector and aligner are made for, with both images blurred alike."""
WINDOW_MARGIN = 1.0
"""Window half-side, in landmark-box sides, around the box's centre (the whole head and some background)."""
SAMPLES = 8
IDENTITY_SURFACE = (0.45, 0.5, 0.0)
"""Roughness, specular level and subsurface weight of identity renders (no subsurface: 3x faster,
and the descriptor does not see it)."""
VIEW_PAIR = (View("id-25", -25.0, 0.0, 85.0, 384), View("id+25", 25.0, 0.0, 85.0, 384))
"""The two views the between-view identity compares."""
NEUTRAL_LIGHT = {"kind": "hdri", "name": "studio", "rotation_deg": 0.0, "strength": 1.0}
NEUTRAL_TARGET = 0.18
"""Metering target (linear, head-weighted) for the neutral-light renders."""


def estimated_light(sh_coeffs) -> dict:
    """The Cycles lighting of the engine's own estimate of a photo's light: ``sh_coeffs`` (9, 3) radiance SH
    in head space (``params.json`` ``lighting.texture_sh_coeffs``; ``EngineOutput.texture_sh_coeffs`` of
    :mod:`bench.groundtruth.runner`) as the renderer's ``{"kind": "sh"}`` world. Meter it like
    :data:`NEUTRAL_LIGHT` (gain None): the estimate's scale is the photo's exposure, which the metering
    replaces."""
    coeffs = np.asarray(sh_coeffs, np.float64)
    if coeffs.shape != (9, 3) or not np.all(np.isfinite(coeffs)):
        raise ValueError(f"sh_coeffs must be (9, 3) finite, got shape {coeffs.shape}")
    return {"kind": "sh", "coeffs": coeffs.tolist()}


@dataclass(frozen=True)
class RenderJob:
    """One Cycles job (the renderer's JSON) plus the exposure to apply to its EXR (None = meter)."""

    job: dict
    gain: float | None


@dataclass(frozen=True)
class FaceWindow:
    """A window ``x0:x1``, ``y0:y1`` (full-size pixels) of a photo, seen at ``scale`` of its resolution."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the window at ``scale``."""
        return (max(16, round((self.x1 - self.x0) * self.scale)), max(16, round((self.y1 - self.y0) * self.scale)))

    def intrinsics(self, K) -> np.ndarray:
        """The same camera's intrinsics for the window (pixel centres at integers)."""
        K2 = np.asarray(K, np.float64).copy()
        K2[:2, :2] *= self.scale
        K2[0, 2] = (K2[0, 2] - self.x0 + 0.5) * self.scale - 0.5
        K2[1, 2] = (K2[1, 2] - self.y0 + 0.5) * self.scale - 0.5
        return K2

    def points(self, pts) -> np.ndarray:
        """(N, 2) full-size pixels -> window pixels."""
        return (np.asarray(pts, np.float64) - [self.x0, self.y0] + 0.5) * self.scale - 0.5

    def crop(self, img: np.ndarray) -> np.ndarray:
        """The window of the full-size ``img``, resized to :attr:`size` (area averaging)."""
        return cv2.resize(img[self.y0:self.y1, self.x0:self.x1], self.size, interpolation=cv2.INTER_AREA)


def face_window(points, image_size: tuple[int, int]) -> FaceWindow:
    """The identity window of a face whose landmarks are ``points`` (N, 2) full-size pixels, in a photo of
    ``image_size`` (width, height); see :data:`FACE_PX` and :data:`WINDOW_MARGIN`."""
    p = np.asarray(points, np.float64)
    lo, hi = p.min(0), p.max(0)
    side = float((hi - lo).max())
    c, r = (lo + hi) / 2, WINDOW_MARGIN * side
    w, h = image_size
    x0, y0 = max(0, int(np.floor(c[0] - r))), max(0, int(np.floor(c[1] - r)))
    x1, y1 = min(w, int(np.ceil(c[0] + r))), min(h, int(np.ceil(c[1] + r)))
    return FaceWindow(x0, y0, x1, y1, min(1.0, FACE_PX / max(side, 1.0)))


def identity_surface_map(folder: Path) -> Path:
    """A flat 8x8 spec/roughness map with :data:`IDENTITY_SURFACE` (written once into ``folder``)."""
    path = folder / "identity_surface.png"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        rgb = np.array(IDENTITY_SURFACE) * 255 + 0.5
        cv2.imwrite(str(path), np.tile(rgb[::-1].astype(np.uint8), (8, 8, 1)))
    return path


def fitted_camera_job(folder: Path, mesh: Path, albedo: Path, eye: list[float], K, R, t, window: FaceWindow,
                      lighting: dict, job_id: str) -> dict:
    """The reconstruction at its fitted camera ``K``, ``R``, ``t`` (the photo's pixels), in ``window``."""
    w, h = window.size
    return {"id": job_id, "out_dir": str(folder), "mesh": str(mesh), "albedo": str(albedo),
            "spec_rough": str(identity_surface_map(folder.parent)),
            "eye_color_srgb": eye, "camera": {"K": window.intrinsics(K).tolist(),
                                              "R": np.asarray(R).tolist(), "t": np.asarray(t).tolist(),
                                              "width": w, "height": h},
            "lighting": lighting, "samples": SAMPLES, "seed": 0}


def view_job(folder: Path, mesh: Path, albedo: Path, eye: list[float], view: View, job_id: str,
             spec_rough: Path | None = None) -> dict:
    """A head (true or reconstructed) from ``view`` under :data:`NEUTRAL_LIGHT`."""
    K, R, t, w, h = camera(view)
    surface = identity_surface_map(folder.parent) if spec_rough is None else spec_rough
    return {"id": job_id, "out_dir": str(folder), "mesh": str(mesh), "albedo": str(albedo),
            "spec_rough": str(surface), "eye_color_srgb": eye,
            "camera": {"K": K.tolist(), "R": R.tolist(), "t": t.tolist(), "width": w, "height": h},
            "lighting": NEUTRAL_LIGHT, "samples": SAMPLES, "seed": 0}


def render_jobs(jobs: list[dict], bpy_python: Path, script: Path, batch: Path) -> None:
    """Runs the Cycles script on ``jobs`` (skips when empty); raises with Blender's output on failure."""
    if not jobs:
        return
    batch.parent.mkdir(parents=True, exist_ok=True)
    batch.write_text(json.dumps({"jobs": jobs}))
    proc = subprocess.run([str(bpy_python), str(script), str(batch)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Cycles batch failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def exposed_srgb(folder: Path, gain: float | None) -> np.ndarray:
    """(H, W, 3) uint8 sRGB of ``folder/render.exr`` times ``gain`` (None: metered on the head)."""
    lin = cv2.imread(str(folder / "render.exr"), cv2.IMREAD_UNCHANGED)[..., :3][..., ::-1].astype(np.float64)
    if gain is None:
        head = cv2.imread(str(folder / "mask_head.png"), cv2.IMREAD_GRAYSCALE) > 127
        lum = luminance(lin)
        gain = NEUTRAL_TARGET / max(float(lum[head].mean()) if head.any() else float(lum.mean()), 1e-6)
    return encode_srgb8(lin * gain)


def _box(points: np.ndarray | None, scale: float = 1.0) -> tuple[int, int, int, int] | None:
    if points is None:
        return None
    p = np.asarray(points, np.float64) * scale
    lo, hi = p.min(0), p.max(0)
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def identity_between(a: np.ndarray, b: np.ndarray, box_a=None, box_b=None) -> float:
    """dlib descriptor distance between two sRGB uint8 images (NaN when a face is not found)."""
    from bench.groundtruth.identity import face_descriptor, identity_distance

    return identity_distance(face_descriptor(a, _box(box_a)), face_descriptor(b, _box(box_b)))
