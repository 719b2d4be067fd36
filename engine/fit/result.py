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
    ``vertices_posed`` (V, 3) float32: identity with the photo's expression.
    ``shape`` (S,) slider values, ``expression`` (52,) ARKit weights in [0, 1].
    ``sh_coeffs`` (9, 3) linear-RGB spherical-harmonics lighting (None before the photometric stage).
    ``albedo_gain`` (3,) the per-channel skin colour the photometric stage matched.
    ``landmarks_2d`` (478, 2) the fitted mesh's landmarks projected into the working image.
    ``landmarks_3d`` (478, 3) the same points in head space (posed mesh).
    ``landmarks_2d_parametric`` (478, 2) the landmarks of the slider/expression fit, before the
    corrective field moved the mesh onto the detected points (what the model alone explains).
    """

    camera: Camera
    vertices_neutral: np.ndarray
    vertices_posed: np.ndarray
    shape: np.ndarray
    expression: np.ndarray
    landmarks_2d: np.ndarray
    landmarks_3d: np.ndarray
    landmarks_2d_parametric: np.ndarray | None = None
    sh_coeffs: np.ndarray | None = None
    albedo_gain: np.ndarray | None = None
    stages: list[StageReport] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
