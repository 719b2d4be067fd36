"""Stage (c): a smooth corrective displacement that puts the mesh's landmarks on the detected ones.

The slider and blendshape spaces cannot reach every face exactly; FFHQ-UV's texture unwrapping needs the
eyelids, lip seam and nostrils of the mesh on those of the photo, or the UV texture gets skin in the eyes
and lips on the chin. Each landmark's remaining image-space residual becomes a 3D offset parallel to the
image plane at the landmark's depth; a Gaussian radial-basis field (regularised, so detection noise is
not fitted exactly) carries the offsets to every vertex. The field is identity detail: it is added to both
the neutral and the posed mesh.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CorrectiveSettings", "corrective_offsets"]


@dataclass(frozen=True)
class CorrectiveSettings:
    radius_m: float = 0.012   # Gaussian kernel radius; about the spacing of MediaPipe's landmarks
    regularisation: float = 0.01  # ridge on the kernel system (relative to its diagonal of 1)
    max_offset_m: float = 0.008   # residuals larger than this are detection errors, not shape


def corrective_offsets(vertices: np.ndarray, landmarks_3d: np.ndarray, residual_px: np.ndarray, K: np.ndarray,
                       R: np.ndarray, t: np.ndarray, weights: np.ndarray | None = None,
                       settings: CorrectiveSettings = CorrectiveSettings()) -> np.ndarray:
    """(V, 3) head-space offsets for ``vertices`` (V, 3) from per-landmark residuals.

    ``landmarks_3d`` (N, 3) fitted landmark points (head space), ``residual_px`` (N, 2) detected minus
    projected, in pixels of the image ``K`` refers to. ``weights`` (N,) in [0, 1] trust per landmark
    (0 drops a landmark).
    """
    cam = landmarks_3d @ R.T + t
    depth = cam[:, 2:3]
    focal = np.array([K[0, 0], K[1, 1]])
    offset_cam = np.concatenate([residual_px * depth / focal, np.zeros_like(depth)], axis=1)
    offset = offset_cam @ R  # camera -> head space (R is orthonormal)
    norm = np.linalg.norm(offset, axis=1, keepdims=True)
    offset *= np.minimum(1.0, settings.max_offset_m / np.maximum(norm, 1e-12))
    w = np.ones(len(offset)) if weights is None else np.asarray(weights, np.float64)
    keep = w > 0
    centres, offset, w = landmarks_3d[keep], offset[keep], w[keep]
    gram = _kernel(centres, centres, settings.radius_m)
    system = gram + np.diag(settings.regularisation / np.maximum(w, 1e-3))
    alpha = np.linalg.solve(system, offset)
    return (_kernel(vertices, centres, settings.radius_m) @ alpha).astype(np.float32)


def _kernel(a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.exp(-np.maximum(d2, 0.0) / (2.0 * radius * radius))
