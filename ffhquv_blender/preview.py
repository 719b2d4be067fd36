"""Render a head under several lighting presets into one labelled preview sheet (PNG).

Everything the render touches (engine, resolution, samples, camera, world, output path, rig
visibility) is restored afterwards; the temporary camera and tile files are removed. Tiles use a
portrait camera (85 mm, slight three-quarter view) framing the head and its parts.
"""
from __future__ import annotations

import contextlib
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import bpy
import numpy as np
from mathutils import Vector

from . import lighting, sheet
from .names import LIGHT_PRESETS, PROP

__all__ = ["PreviewSheet", "render_tile", "render_preview_sheet", "head_objects", "default_sheet_path"]

SHEET_IMAGE_TAG = "ffhquv_sheet"
TILE_BACKGROUND = np.array([0.30, 0.30, 0.31], np.float32)  # display-encoded grey behind the head
_LABELS = {p[0]: p[1] for p in LIGHT_PRESETS}


@dataclass(frozen=True)
class PreviewSheet:
    """The sheet: ``pixels`` (H, W, 4) float32 display-encoded RGBA, row 0 = top; ``path`` of the PNG;
    ``image`` the Blender image datablock showing it."""

    pixels: np.ndarray
    path: Path
    image: bpy.types.Image


def head_objects(head: bpy.types.Object) -> list[bpy.types.Object]:
    """The head and its imported parts (children tagged with our role property)."""
    return [head, *(c for c in head.children if c.get(PROP.OBJECT_ROLE))]


def default_sheet_path(head_name: str) -> Path:
    """Next to the saved .blend file, else the system temporary folder."""
    folder = Path(bpy.path.abspath("//")) if bpy.data.filepath else Path(tempfile.gettempdir())
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in head_name)
    return folder / f"ffhquv_preview_{safe}.png"


@contextlib.contextmanager
def _restored_render_state(scene: bpy.types.Scene) -> Iterator[None]:
    render, cycles = scene.render, scene.cycles
    saved = dict(
        engine=render.engine, res=(render.resolution_x, render.resolution_y, render.resolution_percentage),
        aspect=(render.pixel_aspect_x, render.pixel_aspect_y), filepath=render.filepath,
        fmt=render.image_settings.file_format, mode=render.image_settings.color_mode,
        transparent=render.film_transparent, camera=scene.camera, world=scene.world,
        samples=cycles.samples, denoise=cycles.use_denoising, device=cycles.device,
        prefilter=cycles.denoising_prefilter, quality=getattr(cycles, "denoising_quality", None),
        eevee_samples=scene.eevee.taa_render_samples,
        rig={c.name: c.hide_render for c in bpy.data.collections if c.get(lighting.PRESET_TAG)},
    )
    try:
        yield
    finally:
        render.engine = saved["engine"]
        render.resolution_x, render.resolution_y, render.resolution_percentage = saved["res"]
        render.pixel_aspect_x, render.pixel_aspect_y = saved["aspect"]
        render.filepath = saved["filepath"]
        render.image_settings.file_format, render.image_settings.color_mode = saved["fmt"], saved["mode"]
        render.film_transparent = saved["transparent"]
        scene.camera, scene.world = saved["camera"], saved["world"]
        cycles.samples, cycles.use_denoising, cycles.device = saved["samples"], saved["denoise"], saved["device"]
        cycles.denoising_prefilter = saved["prefilter"]
        if saved["quality"] is not None:
            cycles.denoising_quality = saved["quality"]
        scene.eevee.taa_render_samples = saved["eevee_samples"]
        for name, hidden in saved["rig"].items():
            if name in bpy.data.collections:
                bpy.data.collections[name].hide_render = hidden
                bpy.data.collections[name].hide_viewport = hidden


@contextlib.contextmanager
def _portrait_camera(scene: bpy.types.Scene, frame: lighting.HeadFrame) -> Iterator[bpy.types.Object]:
    data = bpy.data.cameras.new("FFHQ-UV preview camera")
    data.lens, data.sensor_width, data.sensor_fit = 85.0, 36.0, "AUTO"
    data.clip_start, data.clip_end = 0.01, 100.0
    cam = bpy.data.objects.new("FFHQ-UV preview camera", data)
    scene.collection.objects.link(cam)
    distance = 0.6 * frame.size / math.tan(math.atan(18.0 / 85.0))
    direction = Vector((0.35, -1.0, 0.12)).normalized()  # the face looks down -Y; a slight 3/4 view
    cam.location = frame.center + direction * distance
    cam.rotation_euler = (-direction).to_track_quat("-Z", "Y").to_euler()
    try:
        yield cam
    finally:
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(data)


def render_tile(scene: bpy.types.Scene, path: Path) -> np.ndarray:
    """Render the scene's camera to ``path`` (PNG) and return (H, W, 4) float32 over a grey background, row 0 = top."""
    scene.render.filepath = str(path)
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    bpy.ops.render.render(write_still=True, scene=scene.name)
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        w, h = image.size
        pixels = np.empty(w * h * 4, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    tile = pixels.reshape(h, w, 4)[::-1]
    alpha = tile[..., 3:4]
    out = np.empty_like(tile)
    out[..., :3] = tile[..., :3] * alpha + TILE_BACKGROUND * (1.0 - alpha)
    out[..., 3] = 1.0
    return out


def _configure(scene: bpy.types.Scene, engine: str, tile: int, samples: int) -> None:
    render = scene.render
    lighting.set_render_engine(scene, engine)
    render.resolution_x = render.resolution_y = tile
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    render.film_transparent = True  # tiles are composited over a neutral grey (the HDRIs are blurry)
    scene.cycles.samples = samples
    scene.cycles.device = "CPU"
    scene.cycles.use_denoising = bool(getattr(bpy.app.build_options, "openimagedenoise", False))
    if hasattr(scene.cycles, "denoising_quality"):  # Blender 4.1+: fast OIDN keeps texture detail at 16 spp
        scene.cycles.denoising_quality = "FAST"
    scene.cycles.denoising_prefilter = "NONE"
    scene.eevee.taa_render_samples = samples


def render_preview_sheet(scene: bpy.types.Scene, head: bpy.types.Object, presets: list[str], tile: int = 256,
                         samples: int = 16, engine: str = "CYCLES", path: Path | None = None) -> PreviewSheet:
    """Render ``head`` under each preset (ids of ``names.LIGHT_PRESETS``) and save the labelled sheet PNG."""
    frame = lighting.head_frame(head_objects(head))
    path = Path(path) if path is not None else default_sheet_path(head.name)
    tiles = []
    created_rig = not any(c.get(lighting.PRESET_TAG) for c in bpy.data.collections)
    with tempfile.TemporaryDirectory(prefix="ffhquv_sheet_") as tmp, _restored_render_state(scene), \
            _portrait_camera(scene, frame) as cam:
        _configure(scene, engine, tile, samples)
        scene.camera = cam
        for i, preset in enumerate(presets):
            lighting.apply_preset(scene, preset, frame)
            tiles.append(render_tile(scene, Path(tmp) / f"tile_{i}.png"))
    if created_rig:
        _remove_rig()
    pixels = sheet.compose_sheet(tiles, [_LABELS.get(p, p) for p in presets])
    image = _sheet_image(f"FFHQ-UV preview {head.name}", pixels)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    return PreviewSheet(pixels=pixels, path=path, image=image)


def _remove_rig() -> None:
    for collection in [c for c in bpy.data.collections if c.get(lighting.PRESET_TAG)]:
        for obj in list(collection.objects):
            data = obj.data
            bpy.data.objects.remove(obj)
            if data is not None and data.users == 0:
                bpy.data.lights.remove(data)
        bpy.data.collections.remove(collection)


def _sheet_image(name: str, pixels: np.ndarray) -> bpy.types.Image:
    """Our sheet image datablock (reused if tagged as ours and the same size), filled with ``pixels``."""
    h, w = pixels.shape[:2]
    image = bpy.data.images.get(name)
    if image is None or image.get(SHEET_IMAGE_TAG) is None or tuple(image.size) != (w, h):
        image = bpy.data.images.new(name, w, h, alpha=True)
        image[SHEET_IMAGE_TAG] = True
    image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1]).ravel())
    image.update()
    return image
