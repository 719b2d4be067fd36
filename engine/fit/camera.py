"""Pinhole camera in OpenCV axes (x right, y down, z forward): ``pixel = K · (R · X + t)``.

Rotations are parametrised as axis-angle vectors (radians) so the fit can optimise them freely.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Camera", "axis_angle_to_matrix", "matrix_to_axis_angle", "project", "intrinsics"]

# Head space is +Y up, +Z out of the face; OpenCV camera space is y down, z forward. A camera
# looking at the face from the front sees head +Z coming toward it: flip y and z.
HEAD_TO_OPENCV_FRONT = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Camera:
    """Intrinsics ``K`` (3, 3) in pixels, extrinsics ``R`` (3, 3) and ``t`` (3,) in metres.

    ``width``/``height`` are the image size the intrinsics refer to.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) head-space points -> (N, 2) pixels (column, row)."""
        cam = points @ self.R.T + self.t
        uvw = cam @ self.K.T
        return uvw[:, :2] / uvw[:, 2:3]

    def to_json(self) -> dict:
        return {
            "K": self.K.tolist(),
            "R": self.R.tolist(),
            "t": self.t.tolist(),
            "image_size": [self.width, self.height],
        }


def intrinsics(focal: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(3, 3) K with square pixels and the principal point at the image centre."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    zero = focal.new_zeros(())
    one = focal.new_ones(())
    return torch.stack(
        [
            torch.stack([focal, zero, zero + cx]),
            torch.stack([zero, focal, zero + cy]),
            torch.stack([zero, zero, one]),
        ]
    )


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """(3,) axis-angle -> (3, 3) rotation (Rodrigues), differentiable, safe at zero angle."""
    theta2 = (rotvec * rotvec).sum()
    theta = torch.sqrt(theta2 + 1e-12)
    k = rotvec / theta
    zero = rotvec.new_zeros(())
    skew = torch.stack(
        [
            torch.stack([zero, -k[2], k[1]]),
            torch.stack([k[2], zero, -k[0]]),
            torch.stack([-k[1], k[0], zero]),
        ]
    )
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device)
    return eye + torch.sin(theta) * skew + (1 - torch.cos(theta)) * (skew @ skew)


def matrix_to_axis_angle(R: np.ndarray) -> np.ndarray:
    import cv2

    rotvec, _ = cv2.Rodrigues(np.asarray(R, dtype=np.float64))
    return rotvec.reshape(3)


def project(points: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(..., 3) head-space points -> (..., 2) pixels; differentiable in every argument."""
    cam = points @ R.T + t
    uvw = cam @ K.T
    return uvw[..., :2] / uvw[..., 2:3].clamp_min(1e-6)
