"""One photo -> one item folder and one index row: the per-item function every runner calls.

:func:`process_item` never raises for a bad input: an :class:`engine.errors.EngineError` becomes a row
with ``status`` = its kind (``input``, ``no_face``, ``face_too_small``, ``fit``...), anything else
``internal``. The item folder is written to ``items/.tmp-<id>-<pid>`` and renamed, so ``items/<id>``
is always complete; the row is committed afterwards by the driver (engine/dataset/index.py), so a
folder without a row is simply redone by the next run.

Files of an item (texture size ``N`` as the settings say; row 0 = top = v 1, as the engine's maps):
``albedo.png`` (N², sRGB uint8, the engine's evenly lit albedo), ``normal.png`` (tangent space,
OpenGL), ``confidence.png`` (N², grey uint8 = round(255 * the texture stage's confidence in [0, 1])),
``thumb.png`` (256² albedo, area-averaged), ``params.json`` (``engine.outputs.params_dict``: the same
dictionary the single-photo CLI writes).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import __version__
from engine.dataset.sources import SourceItem
from engine.errors import EngineError
from engine.fit.pose import head_angles

__all__ = ["BuildSettings", "init_worker", "process_item", "error_kind", "head_angles", "THUMB_SIZE"]

THUMB_SIZE = 256
ROW_VERSION = 1


@dataclass(frozen=True)
class BuildSettings:
    """What decides an item's content: the engine options and the engine version.

    ``texture_size`` 256/512/1024 (2048 works too); ``quality`` ``fast``/``best``; ``device`` as the CLI's (``auto``: CUDA when
    torch sees one). ``hash()`` is the
    settings hash stored in every row (resume skips an input only when it matches).
    """

    texture_size: int = 256
    quality: str = "fast"
    expression: str = "keep"
    device: str = "auto"

    def options(self):
        from engine.api import ReconstructOptions

        return ReconstructOptions(texture_size=self.texture_size, quality=self.quality, device=self.device,
                                  expression=self.expression)

    def hash(self) -> str:
        payload = json.dumps({**asdict(self), "engine_version": __version__, "row_version": ROW_VERSION},
                             sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def init_worker() -> None:
    """Process-pool / Ray worker start: one torch thread (one worker per core), quiet native logs, and the
    head model, correspondence and landmark detector loaded once (they are cached per process)."""
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)  # one worker per core: OpenCV's own pool would oversubscribe the cores
    try:
        from engine import native_logs

        native_logs.set_verbose(False)
    except Exception:  # noqa: BLE001 - logging setup is cosmetic
        pass
    from engine.fit.correspondence import load_correspondence
    from engine.head.model import load_head_model

    load_head_model()
    load_correspondence()


def error_kind(err: BaseException) -> str:
    """``NoFaceError`` -> ``no_face``; ``InputError`` -> ``input``; a non-engine error -> ``internal``."""
    if not isinstance(err, EngineError):
        return "internal"
    name = type(err).__name__.removesuffix("Error") or "engine"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def process_item(item: SourceItem, content_hash: str, settings: BuildSettings, dataset: str) -> dict[str, Any]:
    """Reconstructs ``item`` and writes ``dataset/items/<id>/``; returns the index row (never raises for
    a bad input). Runs in a worker: call :func:`init_worker` once per process first."""
    start, cpu0 = time.perf_counter(), time.process_time()
    row = _base_row(item, content_hash, settings)
    try:
        from engine.api import reconstruct

        rec = reconstruct(item.path, settings.options())
        row.update(_measure(rec))
        write_seconds = _write_item(rec, Path(dataset) / "items" / item.id)
        row["timings"]["write"] = round(write_seconds, 4)
        row["status"] = "ok"
    except Exception as err:  # noqa: BLE001 - every input gets a row; the kind says whose fault it was
        row["status"] = error_kind(err)
        row["error"] = err.user_message() if isinstance(err, EngineError) else f"{type(err).__name__}: {err}"
        _image_size_only(item.path, row)
    row["time_total_s"] = round(time.perf_counter() - start, 4)
    row["cpu_s"] = round(time.process_time() - cpu0, 4)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    row["worker"] = f"{os.uname().nodename}:{os.getpid()}"
    row["timings_json"] = json.dumps(row.pop("timings"), sort_keys=True)
    return row


def _base_row(item: SourceItem, content_hash: str, settings: BuildSettings) -> dict[str, Any]:
    return {"id": item.id, "source_path": item.path, "content_hash": content_hash, "status": "internal",
            "error": "", "meta_json": json.dumps(item.meta, sort_keys=True, default=str),
            "engine_version": __version__, "settings_hash": settings.hash(),
            "texture_size": settings.texture_size, "quality": settings.quality, "timings": {}}


def _measure(rec) -> dict[str, Any]:
    """Row fields from a reconstruction (metrics as in params.json; shares over the UV face region)."""
    from engine.head.atlas import region_mask_image
    from engine.head.model import load_head_model

    fit, tex = rec.fit, rec.texture
    model = load_head_model()
    yaw, pitch, roll = head_angles(fit.camera.R)
    size = tex.albedo_srgb.shape[0]
    face = region_mask_image(size, model=model) == list(model.region_names).index("face")
    lab = _mean_lab(tex.albedo_srgb, face)
    dbg = tex.debug
    seen = face & (dbg["from_photo"] > 0.5) if "from_photo" in dbg else face

    def share(key: str, test, mask=face) -> float | None:
        if key not in dbg or not mask.any():
            return None
        return float(test(np.asarray(dbg[key]))[mask].mean())

    scale = float(np.mean(rec.photo.scale_xy))
    metrics = {**fit.metrics, **tex.metrics}
    return {
        "image_width": int(rec.photo.original_size[0]), "image_height": int(rec.photo.original_size[1]),
        "face_size_px": float(rec.face.face_size * scale), "face_count": int(rec.face.face_count),
        "yaw_deg": yaw, "pitch_deg": pitch, "roll_deg": roll,
        "landmark_error_iod": _f(metrics.get("landmark_error_iod")),
        "landmark_error_parametric_iod": _f(metrics.get("landmark_error_parametric_iod")),
        "bs_error": _f(metrics.get("bs_error")), "bs_counted_share": _f(metrics.get("bs_counted_share")),
        "filled_share_face": _f(metrics.get("filled_share_face")), "coverage_face": _f(metrics.get("coverage_face")),
        "psnr_self_consistency": _f(metrics.get("psnr_self_consistency")),
        "confidence_mean": share("confidence", lambda c: c.astype(np.float64)),
        "confidence_share": share("confidence", lambda c: c > 0.5),
        "shadow_share": share("sun_visibility", lambda v: v < 0.5, seen),
        "occlusion_share": share("dropped", lambda d: d.astype(bool), face),
        **{k: _f(metrics.get(k)) for k in ("deep_shade_share", "overexposed_share", "occluded_share", "unseen_share")},
        "skin_L": lab[0], "skin_a": lab[1], "skin_b": lab[2],
        "expression_l2": float(np.linalg.norm(np.asarray(fit.expression, np.float64))),
        "warnings_json": json.dumps(list(rec.warnings)),
        "timings": {**{k: float(v) for k, v in rec.timings.items()}},
    }


def _f(value) -> float | None:
    return None if value is None else float(value)


def _mean_lab(srgb8: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """Mean CIE Lab (D65; L* 0-100) of the sRGB uint8 texels under ``mask``."""
    import cv2

    if not mask.any():
        return (float("nan"),) * 3
    lab = cv2.cvtColor(srgb8.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    m = lab[mask].mean(axis=0)
    return float(m[0]), float(m[1]), float(m[2])


def _write_item(rec, final: Path) -> float:
    """Writes the item folder to a temporary sibling, then renames it over ``final``. Returns seconds."""
    import cv2

    from engine.api import torch_threads
    from engine.assets import write_png
    from engine.head.model import load_head_model
    from engine.outputs import params_dict

    t0 = time.perf_counter()
    tex = rec.texture
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write_png(tmp / "albedo.png", tex.albedo_srgb)
        write_png(tmp / "normal.png", tex.normal)
        if "confidence" in tex.debug:
            conf = np.clip(np.asarray(tex.debug["confidence"], np.float32), 0.0, 1.0)
            write_png(tmp / "confidence.png", np.round(conf * 255.0).astype(np.uint8))
        thumb = cv2.resize(tex.albedo_srgb, (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA)
        write_png(tmp / "thumb.png", thumb)
        model = load_head_model()
        vertices = rec.fit.vertices_posed if rec.options.expression == "keep" else rec.fit.vertices_neutral
        with torch_threads(1):
            params = params_dict(rec, model, vertices)
        (tmp / "params.json").write_text(json.dumps(params, indent=1))
        _fsync_dir(tmp)
        if final.exists():  # a previous run's folder without a committed row, or --force
            old = final.parent / f".old-{final.name}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return time.perf_counter() - t0


def _fsync_dir(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def _image_size_only(path: str, row: dict) -> None:
    """Image size from the header (no decoding) for an error row, when the file is an image at all."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            row["image_width"], row["image_height"] = int(im.size[0]), int(im.size[1])
    except Exception:  # noqa: BLE001 - an unreadable file simply has no size
        pass
