"""The engine's public entry point: ``reconstruct(photo) -> Reconstruction`` and ``write_outputs``.

Data flows one way: photo -> landmarks -> fit -> texture -> assets. Each stage is its own module.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError

__all__ = ["ReconstructOptions", "Reconstruction", "reconstruct", "write_outputs"]


@dataclass(frozen=True)
class ReconstructOptions:
    """``texture_size`` 1024, 2048 or 4096; ``quality`` ``fast``/``best``; ``device`` ``auto``/``cpu``/``cuda``
    (where the renders run, see :class:`engine.runtime.Runtime`); ``expression`` ``keep`` (head.obj carries
    the photo's expression) or ``neutral``."""

    texture_size: int = 1024
    quality: str = "fast"
    device: str = "auto"
    expression: str = "keep"
    with_texture: bool = True

    def __post_init__(self) -> None:
        if self.texture_size not in (256, 512, 1024, 2048, 4096):
            raise InputError(f"texture size must be 1024, 2048 or 4096, got {self.texture_size}")
        if self.quality not in ("fast", "best"):
            raise InputError(f"quality must be 'fast' or 'best', got {self.quality!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.expression not in ("keep", "neutral"):
            raise InputError(f"expression must be 'keep' or 'neutral', got {self.expression!r}")


@dataclass
class Reconstruction:
    """Everything one reconstruction produced (in memory); ``write_outputs`` puts it on disk."""

    options: ReconstructOptions
    photo: "Photo"  # noqa: F821 - engine.images.Photo
    face: "FaceLandmarks"  # noqa: F821
    fit: "FitResult"  # noqa: F821
    texture: "TextureResult | None" = None  # noqa: F821
    runtime: "Runtime | None" = None  # noqa: F821 - engine.runtime.Runtime; None = the CPU default
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``: where the renders really ran."""
        return "cpu" if self.runtime is None else self.runtime.device_name

    @property
    def render_backend(self) -> str:
        """``"torch"`` or ``"nvdiffrast"``: the renderer that really ran."""
        return "torch" if self.runtime is None else self.runtime.backend


class _Timer:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.timings[self.name] = round(time.perf_counter() - self.start, 4)


@contextmanager
def torch_threads(count: int):
    """Runs the block with ``count`` torch intra-op threads, then restores the previous setting."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def reconstruct(photo_path: str | os.PathLike, options: ReconstructOptions = ReconstructOptions(),
                progress=None) -> Reconstruction:
    """Photo file -> fitted head (+ texture). Raises :class:`engine.errors.EngineError` subclasses on bad input."""
    progress = progress or (lambda *a: None)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    progress("load", 0.0, "loading photo")
    with _Timer(timings, "load_photo"):
        from engine.images import load_photo

        photo = load_photo(photo_path)
        photo = _toned_as_grey(photo)
    progress("landmarks", 0.0, "finding the face")
    with _Timer(timings, "landmarks"):
        from engine.landmarks import detect_landmarks

        face = detect_landmarks(photo)
    progress("landmarks", 1.0, f"{face.face_count} face(s)")
    with _Timer(timings, "load_model"):
        import torch

        from engine.fit.pipeline import FitSettings, fit_head
        from engine.head.model import load_head_model

        model = load_head_model()
    from engine.runtime import Runtime

    runtime = Runtime.resolve(options.device)
    person_mask = None
    if options.with_texture:
        with _Timer(timings, "segmentation"):
            from engine.landmarks import segment_person

            person_mask = segment_person(photo, face)
    # The fit works on small tensors (478 landmarks, a 160-pixel render): with more than one intra-op
    # thread, OpenMP's barriers cost more than the work, and 10x more when the cores are shared.
    with _Timer(timings, "fit"), torch_threads(1):
        fit = fit_head(photo.rgb, face, model, FitSettings.for_quality(options.quality), person_mask, progress,
                       runtime=runtime)
    progress("fit", 1.0, f"landmark error {fit.metrics['landmark_error_iod'] * 100:.2f}% IOD")
    from engine.fit.pose import pose_warnings

    rec = Reconstruction(options=options, photo=photo, face=face, fit=fit, timings=timings, runtime=runtime,
                         warnings=list(photo.warnings) + list(face.warnings)
                         + pose_warnings(fit.camera.R))
    if options.with_texture:
        with _Timer(timings, "texture"):
            rec.texture = _build_texture(rec, model, person_mask, progress)
        rec.warnings.extend(rec.texture.warnings)
    timings["total"] = round(time.perf_counter() - start, 4)
    return rec


def _toned_as_grey(photo):
    """A toned black-and-white photo (sepia, a grey scan under a white balance off neutral) as the grey one it
    is, with a note (:mod:`engine.texture.monochrome`); any other photo unchanged."""
    from dataclasses import replace

    from engine.texture.monochrome import toned_as_grey

    grey = toned_as_grey(photo.rgb)
    if grey is None:
        return photo
    return replace(photo, rgb=grey, warnings=list(photo.warnings) + [
        "A toned black-and-white photo (its colour is the print's or the scan's tint): read as black and white."])


def _build_texture(rec: Reconstruction, model, person_mask, progress):
    from engine.runtime import CPU
    from engine.texture.color import srgb_to_linear
    from engine.texture.pipeline import TextureInputs, build_texture

    cam = rec.fit.camera
    inputs = TextureInputs(
        photo=np.asarray(srgb_to_linear(rec.photo.rgb.astype(np.float32) / 255.0), np.float32),
        K=cam.K, R=cam.R, t=cam.t,
        vertices=rec.fit.vertices_unwrap,
        landmarks=rec.face.points,
        person_mask=person_mask,
        texture_size=rec.options.texture_size,
    )
    return build_texture(inputs, model, progress=progress, runtime=rec.runtime or CPU)


def write_outputs(rec: Reconstruction, output: str | os.PathLike, progress=None) -> Path:
    """Writes every output file into a temporary sibling folder, then renames it to ``output``, replacing
    an existing folder or file (an interrupted run never leaves a half-written folder; see engine/outdir.py)."""
    from engine import outputs
    from engine.outdir import publish, staging_folder

    output = Path(output).resolve()
    with staging_folder(output) as tmp:
        with torch_threads(1):
            outputs.write_all(rec, tmp, progress)
        return publish(tmp, output)
