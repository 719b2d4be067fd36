"""The shipped landmark <-> mesh correspondence (see build_landmark_correspondence.py)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from engine.head.model import HeadModel

__all__ = ["LandmarkCorrespondence", "load_correspondence"]

DATA_PATH = Path(__file__).parent / "data" / "landmark_correspondence.npz"


@dataclass(frozen=True)
class LandmarkCorrespondence:
    """``face_index`` (478,) int64 triangles of the head mesh; ``barycentric`` (478, 3) float32 weights."""

    face_index: torch.Tensor
    barycentric: torch.Tensor

    def vertex_weights(self, model: HeadModel) -> tuple[torch.Tensor, torch.Tensor]:
        """(478, 3) vertex indices and (478, 3) weights: landmark i = sum_k w[i, k] * vertices[idx[i, k]]."""
        return model.faces[self.face_index].long(), self.barycentric

    def points(self, model: HeadModel, vertices: torch.Tensor) -> torch.Tensor:
        """(..., 478, 3) landmark positions on ``vertices`` (..., V, 3)."""
        idx, w = self.vertex_weights(model)
        return (vertices[..., idx, :] * w[..., None]).sum(-2)


@lru_cache(maxsize=1)
def load_correspondence(path: Path = DATA_PATH) -> LandmarkCorrespondence:
    data = np.load(path)
    return LandmarkCorrespondence(torch.from_numpy(data["face_index"]).long(),
                                  torch.from_numpy(data["barycentric"]).float())
