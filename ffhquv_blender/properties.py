"""The add-on's properties: one settings group per scene, one runtime job-state group on the window manager."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from .names import EXPORT_FORMATS, LIGHT_PRESETS, UI

__all__ = ["FFHQUV_Settings", "FFHQUV_JobState", "TEXTURE_SIZES", "QUALITIES", "DEVICES", "EXPRESSIONS",
           "DEFAULT_SHEET_PRESETS"]

TEXTURE_SIZES = (("1024", "1024", UI.TEXTURE_SIZE_DESC), ("2048", "2048", UI.TEXTURE_SIZE_DESC),
                 ("4096", "4096", UI.TEXTURE_SIZE_DESC))
# Identifiers are the engine CLI values.
QUALITIES = (("fast", UI.QUALITY_FAST, UI.QUALITY_DESC), ("best", UI.QUALITY_BEST, UI.QUALITY_DESC))
DEVICES = (("auto", UI.DEVICE_AUTO, UI.DEVICE_DESC), ("cpu", UI.DEVICE_CPU, UI.DEVICE_DESC),
           ("cuda", UI.DEVICE_CUDA, UI.DEVICE_DESC))
EXPRESSIONS = (("keep", UI.EXPRESSION_KEEP, UI.EXPRESSION_DESC), ("neutral", UI.EXPRESSION_NEUTRAL, UI.EXPRESSION_DESC))
PHOTO_SOURCES = (("FILE", UI.PHOTO_SOURCE_FILE, UI.PHOTO_SOURCE_FILE_DESC),
                 ("IMAGE", UI.PHOTO_SOURCE_IMAGE, UI.PHOTO_SOURCE_IMAGE_DESC))
DEFAULT_SHEET_PRESETS = {"three_point", "studio", "forest", "sunset"}


class FFHQUV_Settings(bpy.types.PropertyGroup):
    """Per-scene options of the FFHQ-UV panel (saved with the .blend file)."""

    photo_source: EnumProperty(name=UI.PHOTO_SOURCE, items=PHOTO_SOURCES, default="FILE")
    photo_path: StringProperty(name=UI.PHOTO, description=UI.PHOTO_PATH_DESC, subtype="FILE_PATH")
    photo_image: PointerProperty(name=UI.PHOTO, description=UI.PHOTO_IMAGE_DESC, type=bpy.types.Image)
    texture_size: EnumProperty(name=UI.TEXTURE_SIZE, description=UI.TEXTURE_SIZE_DESC, items=TEXTURE_SIZES, default="1024")
    quality: EnumProperty(name=UI.QUALITY, description=UI.QUALITY_DESC, items=QUALITIES, default="fast")
    device: EnumProperty(name=UI.DEVICE, description=UI.DEVICE_DESC, items=DEVICES, default="auto")
    expression: EnumProperty(name=UI.EXPRESSION, description=UI.EXPRESSION_DESC, items=EXPRESSIONS, default="keep")
    add_camera: BoolProperty(name=UI.ADD_CAMERA, description=UI.ADD_CAMERA_DESC, default=True)
    pack_images: BoolProperty(name=UI.PACK_IMAGES, description=UI.PACK_IMAGES_DESC, default=True)
    light_preset: EnumProperty(name=UI.LIGHT_PRESET, description=UI.LIGHT_PRESET_DESC, items=LIGHT_PRESETS,
                               default="three_point")
    light_strength: FloatProperty(name=UI.LIGHT_STRENGTH, default=1.0, min=0.0, soft_max=4.0)
    sheet_presets: EnumProperty(name=UI.SHEET_PRESETS, items=LIGHT_PRESETS, options={"ENUM_FLAG"},
                                default=DEFAULT_SHEET_PRESETS)
    sheet_tile: IntProperty(name=UI.SHEET_TILE, default=256, min=64, max=1024)
    sheet_samples: IntProperty(name=UI.SHEET_SAMPLES, default=16, min=1, max=1024)
    export_format: EnumProperty(name=UI.EXPORT_FORMAT, items=[f[:3] for f in EXPORT_FORMATS], default="GLB")
    initialized: BoolProperty(default=False, options={"HIDDEN"})


class FFHQUV_JobState(bpy.types.PropertyGroup):
    """State of the running reconstruction, for drawing (runtime only: lives on the window manager)."""

    running: BoolProperty(default=False)
    fraction: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    stage: StringProperty(default="")
    message: StringProperty(default="")
    error: StringProperty(default="")
    notice: StringProperty(default="")  # e.g. the engine died between two Reconstructs and was restarted
    last_result: StringProperty(default="")
