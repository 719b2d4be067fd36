"""Sidebar panels (View3D > Sidebar > FFHQ-UV). Panels only draw; every action is an operator."""
from __future__ import annotations

import bpy

from .errors import AddonError
from .names import CATEGORY, OP, PANEL, PROP, UI
from .operators import active_job, engine_location
from .preferences import get_preferences
from .scene import find_head

__all__ = ["CLASSES", "draw_reconstruct", "draw_lighting", "draw_export"]


def _settings(context: bpy.types.Context):
    return getattr(context.scene, PROP.SCENE_SETTINGS)


def draw_reconstruct(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """Photo, options, Reconstruct / progress + Cancel, last error."""
    settings = _settings(context)
    job = getattr(context.window_manager, PROP.WM_JOB)
    col = layout.column()
    col.row().prop(settings, "photo_source", expand=True)
    if settings.photo_source == "FILE":
        row = col.row(align=True)
        row.prop(settings, "photo_path", text="")
        row.operator(OP.SELECT_PHOTO, text="", icon="FILE_IMAGE")
    else:
        col.template_ID(settings, "photo_image", open="image.open")

    box = layout.column(align=True)
    box.use_property_split = True
    box.use_property_decorate = False
    box.row().prop(settings, "texture_size", expand=True)
    box.row().prop(settings, "quality", expand=True)
    box.prop(settings, "device")
    box.row().prop(settings, "expression", expand=True)
    box.prop(settings, "add_camera")
    box.prop(settings, "pack_images")

    if active_job() is not None:
        stage = job.stage.replace("_", " ").capitalize() or UI.STATUS_RUNNING
        layout.progress(factor=job.fraction, type="BAR", text=f"{stage} {100 * job.fraction:.0f}%")
        if job.message:
            layout.label(text=job.message)
        layout.operator(OP.CANCEL, icon="CANCEL")
    else:
        row = layout.row()
        row.scale_y = 1.5
        row.operator(OP.RECONSTRUCT, icon="USER")
    if job.error:
        layout.label(text=job.error, icon="ERROR")
    if job.notice:
        layout.label(text=job.notice, icon="INFO")
    try:
        engine_location(get_preferences(context))
    except AddonError as err:
        layout.label(text=str(err), icon="ERROR")
    layout.operator(OP.IMPORT_RESULT, icon="IMPORT")


def draw_lighting(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """Preset + Apply, engine switch, preview sheet."""
    settings = _settings(context)
    row = layout.row(align=True)
    row.prop(settings, "light_preset", text="")
    op = row.operator(OP.APPLY_LIGHTING)
    op.preset, op.strength = settings.light_preset, settings.light_strength
    layout.prop(settings, "light_strength")
    row = layout.row(align=True)
    row.label(text=UI.RENDER_ENGINE)
    row.operator(OP.SET_RENDER_ENGINE, text=UI.ENGINE_CYCLES).engine = "CYCLES"
    row.operator(OP.SET_RENDER_ENGINE, text=UI.ENGINE_EEVEE).engine = "EEVEE"
    layout.separator()
    layout.label(text=UI.PREVIEW_SHEET)
    grid = layout.grid_flow(columns=3, align=True)
    grid.prop(settings, "sheet_presets")
    row = layout.row(align=True)
    row.prop(settings, "sheet_tile")
    row.prop(settings, "sheet_samples")
    layout.operator(OP.PREVIEW_SHEET, icon="RENDER_STILL")


def draw_export(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """Format + Export."""
    settings = _settings(context)
    head = find_head(context.active_object)
    layout.prop(settings, "export_format", text="")
    op = layout.operator(OP.EXPORT_AVATAR, icon="EXPORT")
    op.format = settings.export_format
    if head is None:
        layout.label(text=UI.SELECT_HEAD_HINT, icon="INFO")


class _SidebarPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY


class FFHQUV_PT_reconstruct(_SidebarPanel, bpy.types.Panel):
    bl_idname = PANEL.MAIN
    bl_label = UI.PANEL_MAIN

    def draw(self, context):
        draw_reconstruct(self.layout, context)


class FFHQUV_PT_lighting(_SidebarPanel, bpy.types.Panel):
    bl_idname = PANEL.LIGHTING
    bl_label = UI.PANEL_LIGHTING
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        draw_lighting(self.layout, context)


class FFHQUV_PT_export(_SidebarPanel, bpy.types.Panel):
    bl_idname = PANEL.EXPORT
    bl_label = UI.PANEL_EXPORT
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        draw_export(self.layout, context)


CLASSES = (FFHQUV_PT_reconstruct, FFHQUV_PT_lighting, FFHQUV_PT_export)
