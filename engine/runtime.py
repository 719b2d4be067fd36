"""Where the renders of one reconstruction run: one immutable :class:`Runtime`, passed explicitly.

``engine.api.reconstruct`` resolves the user's ``--device`` once (:meth:`Runtime.resolve`) and hands the
same object to the fit, the texture and the outputs. Nothing reads a global: every function that renders
takes ``runtime`` as an argument whose default is :data:`CPU`, so a stage called on its own (tests,
bench scripts) behaves exactly as before.

What moves to the device: only the rasterizer calls (:func:`engine.render.rasterize`, ``interpolate``,
``texture``, ``antialias``) and the torch tensors they read. The fit's optimiser state and the numpy
stages (unwrap weights, de-lighting, completion, maps) stay on the CPU; render results come back with
:meth:`Runtime.host` (a no-op on the CPU, so the CPU path is bit-identical to calling the renderer
directly).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from engine.errors import InputError

__all__ = ["Runtime", "CPU", "DEVICE_CHOICES"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Runtime:
    """The device, render backend and float dtype of the renders.

    ``device``: ``torch.device("cpu")`` or a CUDA device.
    ``backend``: ``"torch"`` (the pure-PyTorch renderer, any device) or ``"nvdiffrast"`` (CUDA only).
    ``dtype``: float dtype of the tensors handed to the renderer (float32: nvdiffrast's only one).
    """

    device: torch.device = torch.device("cpu")
    backend: Literal["torch", "nvdiffrast"] = "torch"
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        if self.backend not in ("torch", "nvdiffrast"):
            raise ValueError(f"backend must be 'torch' or 'nvdiffrast', got {self.backend!r}")
        if self.backend == "nvdiffrast" and self.device.type != "cuda":
            raise ValueError(f"the nvdiffrast backend needs a CUDA device, got {self.device}")

    @staticmethod
    def resolve(requested: str = "auto") -> Runtime:
        """``"auto" | "cpu" | "cuda"`` -> the runtime that will really run.

        ``auto``: CUDA when torch sees a CUDA device, else the CPU. On CUDA the backend is nvdiffrast when
        ``import nvdiffrast.torch`` works and its extension makes a context on the device
        (:func:`engine.render.ops.nvdiffrast_usable`), else the pure-PyTorch renderer on the GPU. ``cuda``
        without a CUDA device raises :class:`engine.errors.InputError` with a hint.
        """
        if requested not in DEVICE_CHOICES:
            raise InputError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")
        available = torch.cuda.is_available()
        if requested == "cuda" and not available:
            raise InputError("CUDA was requested but no CUDA device is available", hint="use --device cpu or auto")
        if requested == "cpu" or not available:
            return CPU
        from engine.render import ops

        device = torch.device("cuda", torch.cuda.current_device())
        return Runtime(device, "nvdiffrast" if ops.nvdiffrast_usable(device) else "torch")

    @property
    def device_name(self) -> str:
        """``"cpu"`` or ``"cuda"`` (what ``params.json`` reports as ``device_used``)."""
        return self.device.type

    def context(self):
        """A :class:`engine.render.RenderContext` for this runtime (build one per stage, reuse it inside)."""
        from engine.render.ops import make_context

        return make_context(self.device, self.backend)

    def tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Float data (numpy or torch) as a ``dtype`` tensor on ``device`` (no copy when it already is one;
        differentiable: gradients flow back to a torch input on another device)."""
        t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
        return t.to(device=self.device, dtype=self.dtype)

    def index(self, tri: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Triangle indices as int32 on ``device`` (the renderer's ``tri``)."""
        t = torch.from_numpy(np.ascontiguousarray(tri)) if isinstance(tri, np.ndarray) else tri
        return t.to(device=self.device, dtype=torch.int32)

    @staticmethod
    def host(x: torch.Tensor) -> torch.Tensor:
        """A render result back on the CPU (the same tensor when it already is; differentiable)."""
        return x.cpu()


CPU = Runtime()
"""The default everywhere: the pure-PyTorch renderer on the CPU."""
