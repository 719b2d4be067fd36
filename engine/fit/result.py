"""Typed results of the fitting stages."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.fit.camera import Camera

__all__ = ["FitResult", "StageReport"]


@dataclass
class StageReport:
    """Loss terms at the end of a stage, its iteration count and wall time in seconds."""

    name: str
    iterations: int
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)


@dataclass
class FitResult:
    """Everything the fit found, in numpy, in the working image's pixels.

    ``vertices_neutral`` (V, 3) float32: identity (shape only, neutral expression), head space, metres.
    ``vertices_posed`` (V, 3) float32: identity with the photo's expression. Both are the slider and
    expression fit: the head's shape.
    ``unwrap_offsets`` (V, 3) float32 or None: from the posed mesh to the unwrap mesh (a loose refit of
    the sliders under the same camera plus the corrective field), which puts the lids, lips and other
    landmarks on the detected ones so the texture is unwrapped from the right pixels. It follows
    MediaPipe's detection error as much as the face (as the shape it made the benchmark's face surface
    error 1.14x the unfitted template's, against 0.82x without), so it is never added to the shape.
    ``shape`` (S,) slider values, ``expression`` (52,) ARKit weights in [0, 1].
    ``sh_coeffs`` (9, 3) linear-RGB spherical-harmonics lighting (None before the photometric stage).
    ``albedo_gain`` (3,) the per-channel skin colour the photometric stage matched.
    ``landmarks_2d`` (478, 2) the landmarks of the unwrap mesh (posed + ``unwrap_offsets``) projected
    into the working image: what the texture is aligned to.
    ``landmarks_3d`` (478, 3) the landmarks of the posed mesh (the head's shape), head space.
    ``landmarks_2d_parametric`` (478, 2) ``landmarks_3d`` projected: what the shape alone explains.
    """

    camera: Camera
    vertices_neutral: np.ndarray
    vertices_posed: np.ndarray
    shape: np.ndarray
    expression: np.ndarray
    landmarks_2d: np.ndarray
    landmarks_3d: np.ndarray
    landmarks_2d_parametric: np.ndarray | None = None
    unwrap_offsets: np.ndarray | None = None
    sh_coeffs: np.ndarray | None = None
    albedo_gain: np.ndarray | None = None
    stages: list[StageReport] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def vertices_unwrap(self) -> np.ndarray:
        """(V, 3) float32 the posed mesh with the corrective field: the mesh the texture is unwrapped with."""
        if self.unwrap_offsets is None:
            return self.vertices_posed
        return (self.vertices_posed + self.unwrap_offsets).astype(np.float32)
