"""Add-on preferences: defaults for new scenes, starting the engine with Blender, developer overrides for
the engine location."""
from __future__ import annotations

from dataclasses import dataclass

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from .names import UI
from .properties import DEVICES, EXPRESSIONS, QUALITIES, TEXTURE_SIZES

__all__ = ["FFHQUV_Preferences", "PreferenceValues", "get_preferences", "apply_defaults"]


def _on_start_engine_changed(_prefs: bpy.types.AddonPreferences, context: bpy.types.Context) -> None:
    """The "Start Engine with Blender" box was ticked: start the engine now rather than at the next start."""
    from .operators import start_engine_if_preferred  # operators imports this module

    start_engine_if_preferred(get_preferences(context))


class FFHQUV_Preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    texture_size: EnumProperty(name=UI.TEXTURE_SIZE, items=TEXTURE_SIZES, default="1024")
    quality: EnumProperty(name=UI.QUALITY, items=QUALITIES, default="fast")
    device: EnumProperty(name=UI.DEVICE, items=DEVICES, default="auto")
    expression: EnumProperty(name=UI.EXPRESSION, items=EXPRESSIONS, default="keep")
    add_camera: BoolProperty(name=UI.ADD_CAMERA, description=UI.ADD_CAMERA_DESC, default=True)
    pack_images: BoolProperty(name=UI.PACK_IMAGES, description=UI.PACK_IMAGES_DESC, default=True)
    output_root: StringProperty(name=UI.OUTPUT_ROOT, description=UI.OUTPUT_ROOT_DESC, subtype="DIR_PATH")
    start_engine: BoolProperty(name=UI.START_ENGINE, description=UI.START_ENGINE_DESC, default=False,
                               update=_on_start_engine_changed)
    engine_python: StringProperty(name=UI.ENGINE_PYTHON, description=UI.ENGINE_PYTHON_DESC, subtype="FILE_PATH")
    engine_path: StringProperty(name=UI.ENGINE_PATH, description=UI.ENGINE_PATH_DESC, subtype="DIR_PATH")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        col = layout.column(heading=UI.PREFS_DEFAULTS)
        for name in ("texture_size", "quality", "device", "expression", "add_camera", "pack_images", "output_root"):
            col.prop(self, name)
        layout.prop(self, "start_engine")
        col = layout.column(heading=UI.PREFS_DEVELOPER)
        col.prop(self, "engine_python")
        col.prop(self, "engine_path")


@dataclass(frozen=True)
class PreferenceValues:
    """Plain copy of the preferences (defaults when the add-on is not registered as an extension)."""

    texture_size: str = "1024"
    quality: str = "fast"
    device: str = "auto"
    expression: str = "keep"
    add_camera: bool = True
    pack_images: bool = True
    output_root: str = ""
    start_engine: bool = False
    engine_python: str = ""
    engine_path: str = ""


def get_preferences(context: bpy.types.Context) -> PreferenceValues:
    """The add-on's preferences as plain values."""
    addon = context.preferences.addons.get(__package__)
    prefs = getattr(addon, "preferences", None) if addon is not None else None
    if prefs is None:
        return PreferenceValues()
    return PreferenceValues(**{name: getattr(prefs, name) for name in PreferenceValues.__dataclass_fields__})


def apply_defaults(settings: bpy.types.PropertyGroup, prefs: PreferenceValues) -> None:
    """Copy the preference defaults into a scene's settings and mark them initialized."""
    for name in ("texture_size", "quality", "device", "expression", "add_camera", "pack_images"):
        setattr(settings, name, getattr(prefs, name))
    settings.initialized = True
