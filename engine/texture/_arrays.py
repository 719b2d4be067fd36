"""Boundary checks shared by the texture blocks: numpy/torch in, float32 numpy inside, same kind out.

Every public texture function accepts ``numpy.ndarray`` or ``torch.Tensor`` (CPU) images and returns
the kind it was given (a torch input gives a torch output on the same device/dtype float32).
Inside, all work happens on C-contiguous float32 numpy arrays so that OpenCV can be used.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from engine.errors import EngineError

__all__ = ["ShapeError", "ArrayLike", "to_numpy", "like", "check_image", "check_mask", "is_torch"]

ArrayLike = Any  # numpy.ndarray | torch.Tensor; kept loose so torch stays an optional import here


class ShapeError(EngineError, ValueError):
    """An array given to a texture block has the wrong shape, dtype or size (a programming error)."""


def is_torch(x: object) -> bool:
    """True for a ``torch.Tensor`` (checked without importing torch)."""
    return type(x).__module__.split(".")[0] == "torch"


def to_numpy(x: ArrayLike) -> np.ndarray:
    """Float32 C-contiguous numpy copy/view of a numpy array or CPU torch tensor."""
    if is_torch(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32, order="C")


def like(result: np.ndarray, ref: ArrayLike) -> ArrayLike:
    """Return ``result`` as the same kind as ``ref`` (torch tensor on ref's device, else numpy)."""
    if is_torch(ref):
        import torch  # already imported by the caller, since ref is a tensor

        return torch.from_numpy(np.ascontiguousarray(result)).to(ref.device)
    return result


def check_image(x: ArrayLike, name: str, channels: int | None = 3) -> np.ndarray:
    """Validate an ``[H, W, C]`` image and return it as float32 numpy."""
    a = to_numpy(x)
    if a.ndim != 3 or (channels is not None and a.shape[2] != channels):
        want = f"[H, W, {channels}]" if channels is not None else "[H, W, C]"
        raise ShapeError(f"{name} must have shape {want}, got {tuple(a.shape)}.")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ShapeError(f"{name} is empty: shape {tuple(a.shape)}.")
    return a


def check_mask(x: ArrayLike, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Validate an ``[H, W]`` mask (``[H, W, 1]`` accepted) and return it as float32 numpy."""
    a = to_numpy(x)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise ShapeError(f"{name} must have shape [H, W], got {tuple(a.shape)}.")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ShapeError(f"{name} has shape {tuple(a.shape)} but the image is {tuple(shape)}.")
    return np.ascontiguousarray(a)
