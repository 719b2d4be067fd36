"""Convert the engine's OpenCV camera (K, R, t in head space) to Blender camera settings (numpy only).

Engine: ``pixel = K (R X + t)`` for a head-space point X (metres, +Y up, +Z forward), OpenCV camera axes
(x right, y down, z forward), pixel centres at integer coordinates, origin top-left of the photo.
Blender: world = ``head_to_blender(X)`` = (x, -z, y); a camera looks down its local -Z with +Y up.
Intrinsics map to ``sensor_fit='HORIZONTAL'`` (shift is then in units of the image width), a 36 mm
sensor, ``lens = fx * 36 / width``, principal point -> ``shift_x/shift_y``, fx != fy -> pixel aspect.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .result_data import HEAD_TO_BLENDER, PhotoCamera

__all__ = ["SENSOR_WIDTH_MM", "BlenderCamera", "blender_camera_from_opencv", "project_opencv"]

SENSOR_WIDTH_MM = 36.0
# OpenCV camera axes -> Blender camera axes (flip y and z).
_CV_TO_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class BlenderCamera:
    """Everything needed to set a Blender camera so it sees the head as in the photo.

    matrix_world: (4, 4) float64 camera-to-world in Blender axes (rotation + location, metres).
    lens_mm / sensor_width_mm with sensor_fit 'HORIZONTAL'; shift_x / shift_y in image-width units;
    resolution (width, height) px; pixel_aspect (x, y) >= 1.
    """

    matrix_world: np.ndarray
    lens_mm: float
    sensor_width_mm: float
    shift_x: float
    shift_y: float
    resolution: tuple[int, int]
    pixel_aspect: tuple[float, float]


def blender_camera_from_opencv(cam: PhotoCamera) -> BlenderCamera:
    """Build Blender camera settings from the engine's K, R, t (see module docstring for axes)."""
    K, R, t = cam.K, cam.R, cam.t
    w, h = cam.image_size
    fx, fy = float(K[0, 0]), float(K[1, 1])
    px, py = float(K[0, 2]) + 0.5, float(K[1, 2]) + 0.5  # pixel-centre -> pixel-edge coordinates
    # world -> Blender camera: X_bc = F R M^T X_w + F t  =>  camera-to-world rotation M R^T F.
    rot = HEAD_TO_BLENDER @ R.T @ _CV_TO_BLENDER_CAM
    location = -(HEAD_TO_BLENDER @ R.T @ t)
    matrix = np.eye(4)
    matrix[:3, :3] = rot
    matrix[:3, 3] = location
    ycor = fx / fy  # Blender's pixel_aspect_y / pixel_aspect_x
    aspect = (1.0, ycor) if ycor >= 1.0 else (1.0 / ycor, 1.0)
    return BlenderCamera(
        matrix_world=matrix,
        lens_mm=fx * SENSOR_WIDTH_MM / w,
        sensor_width_mm=SENSOR_WIDTH_MM,
        shift_x=(w / 2.0 - px) / w,
        shift_y=ycor * (py - h / 2.0) / w,
        resolution=(int(w), int(h)),
        pixel_aspect=aspect,
    )


def project_opencv(cam: PhotoCamera, points_head: np.ndarray) -> np.ndarray:
    """Project (N, 3) head-space points to (N, 2) photo pixels (u right, v down), float64."""
    cam_pts = np.asarray(points_head, np.float64) @ cam.R.T + cam.t
    uvw = cam_pts @ cam.K.T
    return uvw[:, :2] / uvw[:, 2:3]
