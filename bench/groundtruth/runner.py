"""Runs the engine on a photo the way a user does (``engine.api.reconstruct``) and keeps what the
benchmark scores: the albedo, which texels came from the photo, the fitted mesh, camera and landmarks.

Nothing here feeds the truth to the engine: it gets the photo file and nothing else.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["EngineOutput", "run_engine", "TEXTURE_SIZE"]

TEXTURE_SIZE = 1024
"""The engine's default texture size, the one the benchmark scores."""


@dataclass
class EngineOutput:
    """``albedo`` [N, N, 3] linear; ``from_photo`` [N, N] bool (the engine's own record of which
    texels it took from the photo); ``vertices`` (V, 3) posed head space; ``K``, ``R``, ``t`` the
    fitted camera in the photo's pixels; landmarks (478, 2) pixels: ``landmarks`` after the
    corrective field, ``landmarks_parametric`` before it, ``landmarks_detected`` MediaPipe's.
    ``confidence`` [N, N] float in [0, 1]: the engine's ``confidence.png`` (0 = filled, not from the
    photo); ``hair_mask`` [N, N] bool: the texels its hair/glasses detector took out (None when the
    texture stage kept no debug images). ``texture_sh_coeffs`` (9, 3): the texture stage's estimate of the
    photo's lighting as radiance SH in head space (``engine.render.sh`` convention; ``params.json``
    ``lighting.texture_sh_coeffs``), None without a texture stage."""

    albedo: np.ndarray
    albedo_srgb: np.ndarray
    from_photo: np.ndarray
    vertices: np.ndarray
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    landmarks: np.ndarray
    landmarks_parametric: np.ndarray
    landmarks_detected: np.ndarray
    eye_color_srgb: tuple[float, float, float]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)
    engine_metrics: dict = field(default_factory=dict)
    confidence: np.ndarray | None = None
    hair_mask: np.ndarray | None = None
    texture_sh_coeffs: np.ndarray | None = None

    def save(self, folder: Path) -> None:
        """Writes ``albedo.png``, ``head_mesh.npz`` (the Cycles renderer's format) and ``engine.json``."""
        import cv2

        from bench.groundtruth.heads import mesh_arrays
        from engine.head.model import load_head_model

        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / "albedo.png"), self.albedo_srgb[..., ::-1])
        np.savez_compressed(folder / "head_mesh.npz", **mesh_arrays(load_head_model(), self.vertices))
        info = {"K": self.K.tolist(), "R": self.R.tolist(), "t": self.t.tolist(), "warnings": self.warnings,
                "seconds": self.seconds, "timings": self.timings, "metrics": self.engine_metrics,
                "eye_color_srgb": list(self.eye_color_srgb), "landmarks478": self.landmarks.tolist(),
                "texture_sh_coeffs": None if self.texture_sh_coeffs is None else self.texture_sh_coeffs.tolist()}
        (folder / "engine.json").write_text(json.dumps(info))


def run_engine(photo: Path, texture_size: int = TEXTURE_SIZE) -> EngineOutput:
    """One reconstruction of ``photo`` with the engine's defaults (``fast`` quality, ``keep`` expression)."""
    from engine.api import ReconstructOptions, reconstruct

    start = time.perf_counter()
    rec = reconstruct(photo, ReconstructOptions(texture_size=texture_size))
    seconds = time.perf_counter() - start
    if rec.photo.scale != 1.0:
        raise ValueError(f"{photo}: the engine downscaled the photo; keep benchmark photos <= 2048 px")
    tex, fit, cam = rec.texture, rec.fit, rec.fit.camera
    return EngineOutput(
        albedo=tex.debug["albedo_linear"], albedo_srgb=tex.albedo_srgb, from_photo=tex.debug["from_photo"] > 0.5,
        vertices=fit.vertices_posed, K=cam.K, R=cam.R, t=cam.t, landmarks=fit.landmarks_2d,
        landmarks_parametric=fit.landmarks_2d_parametric, landmarks_detected=rec.face.points,
        eye_color_srgb=tuple(float(c) for c in tex.eye_color_srgb), warnings=list(rec.warnings),
        seconds=seconds, timings=dict(rec.timings), engine_metrics={**fit.metrics, **tex.metrics},
        confidence=None if tex.confidence is None else tex.confidence.astype(np.float32) / 255.0,
        hair_mask=_texture_size(tex.debug.get("mask_hair"), texture_size),
        texture_sh_coeffs=None if tex.sh_coeffs is None else np.asarray(tex.sh_coeffs, np.float64).reshape(9, 3))


def _texture_size(mask: np.ndarray | None, n: int) -> np.ndarray | None:
    """A debug mask [A, A] (the engine's analysis size) as [n, n] bool (nearest), or None."""
    if mask is None:
        return None
    if mask.shape[0] != n:
        import cv2

        mask = cv2.resize(mask.astype(np.uint8), (n, n), interpolation=cv2.INTER_NEAREST)
    return mask > 0
