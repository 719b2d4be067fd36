"""Operators: thin wrappers that poll, build a typed request, call one action and report.

Reconstruction runs in the session's warm engine process (``engine_session.SESSION``, one
``engine serve`` kept between Reconstructs; ``engine_process``). Interactive Blender: the
Reconstruct operator sends the request and returns; a ``bpy.app.timers`` callback (:func:`tick_active_job`)
drains progress into ``WindowManager.ffhquv_job`` for the panel's progress bar and, when the engine is
done, runs ``ffhquv.import_result`` — the one undo step that adds the head. Background mode
(``blender -b`` / the ``bpy`` module, where timers never fire) runs the engine to completion inside the
operator and imports the same way. Errors become ``self.report({'ERROR'}, message)``; no traceback
reaches the artist.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

from . import engine_process, export, lighting, preview
from .engine_process import EngineJob, EngineLocation, JobState, ProgressEvent, ReconstructRequest
from .engine_session import SESSION
from .errors import AddonError, UserInputError
from .names import EXPORT_FORMATS, LIGHT_PRESETS, MSG, OP, PROP, UI
from .preferences import PreferenceValues, apply_defaults, get_preferences
from .result_data import load_result
from .scene import ImportOptions, find_head, import_result

__all__ = [
    "CLASSES", "ActiveJob", "active_job", "tick_active_job", "cancel_active_job", "engine_location",
    "extension_site_packages", "start_engine_if_preferred",
]

_TICK_S = 0.1


@dataclass
class ActiveJob:
    """The interactive reconstruction in flight: the engine job and where its result goes."""

    job: EngineJob
    scene_name: str
    options: ImportOptions


# The one interactive job in flight (the timer callback needs to find it). Nothing else is global.
_ACTIVE: list[ActiveJob] = []


def active_job() -> ActiveJob | None:
    """The running interactive job, if any."""
    return _ACTIVE[0] if _ACTIVE else None


def extension_site_packages() -> tuple[str, ...]:
    """Folders where Blender installed this extension's wheels (``<extensions>/.local/lib/pythonX.Y/site-packages``)."""
    suffix = f"/.local/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    found = [p for p in sys.path if p.replace("\\", "/").rstrip("/").endswith(suffix)]
    user = bpy.utils.user_resource("EXTENSIONS", path=suffix.strip("/"))
    if user and Path(user).is_dir() and user not in found:
        found.append(user)
    return tuple(found)


def engine_location(prefs: PreferenceValues) -> EngineLocation:
    """Where to run the engine (environment variables > preferences > bundled). Raises EngineNotFound."""
    return engine_process.locate_engine(
        addon_dir=Path(__file__).resolve().parent, extension_site_packages=extension_site_packages(),
        python_override=bpy.path.abspath(prefs.engine_python) if prefs.engine_python else "",
        path_override=bpy.path.abspath(prefs.engine_path) if prefs.engine_path else "",
    )


def start_engine_if_preferred(prefs: PreferenceValues) -> bool:
    """Start the session's engine now when the preference "Start Engine with Blender" is on (add-on enable,
    or the box just ticked). Returns whether an engine is running; a bad location is reported at Reconstruct."""
    if not prefs.start_engine:
        return False
    try:
        SESSION.ensure(engine_location(prefs))
    except AddonError as err:
        print(f"FFHQ-UV: the engine was not started: {err.user_message()}")
        return False
    return True


def _submit(location: EngineLocation, request: ReconstructRequest, state) -> EngineJob:
    """Send the request to the session's engine; a crash between Reconstructs is noted once in the panel."""
    job = SESSION.submit(location, request)
    notices = SESSION.take_notices()
    state.notice = notices[-1] if notices else ""
    for notice in notices:
        _report_later(notice, "WARNING")
    return job


def _output_folder(prefs: PreferenceValues, stem: str) -> Path:
    if prefs.output_root:
        root = Path(bpy.path.abspath(prefs.output_root))
    elif bpy.data.filepath:
        root = Path(bpy.path.abspath("//ffhquv"))
    else:
        root = Path(tempfile.gettempdir()) / "ffhquv"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem) or "photo"
    folder = root / f"{safe}_{time.strftime('%Y%m%d-%H%M%S')}"
    index = 1
    while folder.exists():
        folder = root / f"{safe}_{time.strftime('%Y%m%d-%H%M%S')}_{index}"
        index += 1
    return folder


def _photo_from_image(image: bpy.types.Image, folder: Path) -> Path:
    """A file for an image datablock: its own file when clean on disk, else a copy beside ``folder``
    (the engine wants its output folder empty)."""
    path = Path(bpy.path.abspath(image.filepath, library=image.library)) if image.filepath else None
    if path is not None and path.is_file() and image.packed_file is None and not image.is_dirty:
        return path
    folder.parent.mkdir(parents=True, exist_ok=True)
    if image.packed_file is not None and path is not None and path.suffix:
        out = folder.parent / f"{folder.name}_photo{path.suffix.lower()}"
        out.write_bytes(image.packed_file.data)
        return out
    if not image.has_data or image.size[0] == 0:
        raise UserInputError(MSG.IMAGE_NO_PIXELS.format(name=image.name))
    copy = image.copy()
    try:
        out = folder.parent / f"{folder.name}_photo.png"
        copy.filepath_raw, copy.file_format = str(out), "PNG"
        copy.save()
    finally:
        bpy.data.images.remove(copy)
    return out


def build_request(settings: bpy.types.PropertyGroup, prefs: PreferenceValues) -> tuple[ReconstructRequest, ImportOptions]:
    """Turn the panel's settings into an engine request and import options. Raises UserInputError."""
    if settings.photo_source == "IMAGE":
        image = settings.photo_image
        if image is None:
            raise UserInputError(MSG.NO_PHOTO)
        stem = Path(image.name).stem
        output = _output_folder(prefs, stem)
        photo = _photo_from_image(image, output)
    else:
        if not settings.photo_path:
            raise UserInputError(MSG.NO_PHOTO)
        photo = Path(bpy.path.abspath(settings.photo_path))
        if not photo.is_file():
            raise UserInputError(MSG.PHOTO_MISSING.format(path=photo))
        stem = photo.stem
        output = _output_folder(prefs, stem)
    request = ReconstructRequest(photo=photo, output_dir=output, texture_size=int(settings.texture_size),
                                 quality=settings.quality, device=settings.device, expression=settings.expression)
    options = ImportOptions(name=stem, add_camera=settings.add_camera, pack_images=settings.pack_images, photo=photo)
    return request, options


def _show_progress(wm: bpy.types.WindowManager, job: EngineJob) -> None:
    state = getattr(wm, PROP.WM_JOB)
    state.running = job.running
    state.fraction, state.stage, state.message = job.overall, job.stage, job.message[:200]


def _redraw_sidebars() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def _run_import(scene_name: str, folder: Path, options: ImportOptions) -> None:
    """Run ``ffhquv.import_result`` as its own undo step (in a window context when there is one)."""
    wm = bpy.context.window_manager
    kwargs = dict(directory=str(folder), name=options.name, add_camera=options.add_camera,
                  pack_images=options.pack_images, photo=str(options.photo or ""), scene_name=scene_name)
    window = wm.windows[0] if wm.windows else None
    if window is not None:
        with bpy.context.temp_override(window=window):
            bpy.ops.ffhquv.import_result("EXEC_DEFAULT", True, **kwargs)
    else:
        bpy.ops.ffhquv.import_result("EXEC_DEFAULT", True, **kwargs)


def _report_later(message: str, level: str) -> None:
    wm = bpy.context.window_manager
    window = wm.windows[0] if wm.windows else None
    try:
        if window is not None:
            with bpy.context.temp_override(window=window):
                bpy.ops.ffhquv.show_message(message=message, level=level)
        else:
            bpy.ops.ffhquv.show_message(message=message, level=level)
    except RuntimeError:
        pass  # an ERROR report raises in the caller; it has been shown already


def tick_active_job() -> float | None:
    """Timer callback: apply progress; import on success, report on failure. Returns the next delay or None."""
    active = active_job()
    if active is None:
        return None
    wm = bpy.context.window_manager
    job = active.job
    job.poll()
    _show_progress(wm, job)
    _redraw_sidebars()
    if job.running:
        return _TICK_S
    _ACTIVE.clear()
    state = getattr(wm, PROP.WM_JOB)
    state.running = False
    if job.state is JobState.DONE and job.output_dir is not None:
        try:
            _run_import(active.scene_name, job.output_dir, active.options)
        except RuntimeError as err:  # the import operator reported an error (already shown)
            state.error = str(err).strip().splitlines()[-1]
        for warning in job.warnings:
            _report_later(warning, "WARNING")
    elif job.state is JobState.FAILED and job.failure is not None:
        state.error = job.failure.user_message()
        _report_later(state.error, "ERROR")
    return None


def cancel_active_job() -> bool:
    """Cancel the interactive job: returns within ~1 s (a stuck engine is killed later, see
    ``engine_process.CANCEL_GRACE_S``). Returns False when none was running."""
    active = active_job()
    if active is None:
        return False
    active.job.cancel()
    _ACTIVE.clear()
    state = getattr(bpy.context.window_manager, PROP.WM_JOB)
    state.running, state.stage, state.message, state.fraction = False, "cancelled", MSG.CANCELLED, 0.0
    if bpy.app.timers.is_registered(tick_active_job):
        bpy.app.timers.unregister(tick_active_job)
    _redraw_sidebars()
    return True


class FFHQUV_OT_select_photo(bpy.types.Operator):
    bl_idname = OP.SELECT_PHOTO
    bl_label = UI.SELECT_PHOTO
    bl_description = UI.SELECT_PHOTO_DESC
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})
    filter_image: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    filter_folder: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        settings = getattr(context.scene, PROP.SCENE_SETTINGS)
        settings.photo_source, settings.photo_path = "FILE", self.filepath
        return {"FINISHED"}


class FFHQUV_OT_reconstruct(bpy.types.Operator):
    bl_idname = OP.RECONSTRUCT
    bl_label = UI.RECONSTRUCT
    bl_description = UI.RECONSTRUCT_DESC
    bl_options = {"REGISTER"}  # the import that follows is the undo step

    mode: EnumProperty(
        items=(("AUTO", "Auto", "Synchronous in background mode, with a progress timer otherwise"),
               ("SYNC", "Synchronous", "Block until the engine is done"),
               ("ASYNC", "Asynchronous", "Return at once; a timer follows the engine")),
        default="AUTO", options={"HIDDEN", "SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return context.scene is not None and active_job() is None

    def execute(self, context):
        settings = getattr(context.scene, PROP.SCENE_SETTINGS)
        prefs = get_preferences(context)
        try:
            request, options = build_request(settings, prefs)
            location = engine_location(prefs)
        except AddonError as err:
            self.report({"ERROR"}, err.user_message())
            return {"CANCELLED"}
        state = getattr(context.window_manager, PROP.WM_JOB)
        state.error, state.last_result = "", ""
        synchronous = self.mode == "SYNC" or (self.mode == "AUTO" and bpy.app.background)
        return self._run_sync(context, location, request, options) if synchronous else \
            self._start_async(context, location, request, options)

    def _start_async(self, context, location: EngineLocation, request: ReconstructRequest, options: ImportOptions):
        try:
            job = _submit(location, request, getattr(context.window_manager, PROP.WM_JOB))
        except AddonError as err:
            self.report({"ERROR"}, err.user_message())
            return {"CANCELLED"}
        _ACTIVE[:] = [ActiveJob(job=job, scene_name=context.scene.name, options=options)]
        _show_progress(context.window_manager, job)
        if not bpy.app.timers.is_registered(tick_active_job):
            bpy.app.timers.register(tick_active_job, first_interval=_TICK_S)
        return {"FINISHED"}

    def _run_sync(self, context, location: EngineLocation, request: ReconstructRequest, options: ImportOptions):
        wm = context.window_manager
        state = getattr(wm, PROP.WM_JOB)

        def on_event(job: EngineJob, event: ProgressEvent) -> None:
            _show_progress(wm, job)
            if bpy.app.background:
                print(f"FFHQ-UV: {event.stage} {100 * job.overall:.0f}% {event.message}", flush=True)

        try:
            job = engine_process.run_to_completion(_submit(location, request, state), on_event=on_event)
        except AddonError as err:
            state.running, state.error = False, err.user_message()
            self.report({"ERROR"}, state.error)
            return {"CANCELLED"}
        state.running = False
        assert job.output_dir is not None
        try:
            _run_import(context.scene.name, job.output_dir, options)
        except RuntimeError as err:
            self.report({"ERROR"}, str(err).strip().splitlines()[-1])
            return {"CANCELLED"}
        for warning in job.warnings:
            self.report({"WARNING"}, warning)
        self.report({"INFO"}, MSG.DONE.format(name=state.last_result, seconds=job.elapsed_s))
        return {"FINISHED"}


class FFHQUV_OT_cancel(bpy.types.Operator):
    bl_idname = OP.CANCEL
    bl_label = UI.CANCEL
    bl_description = UI.CANCEL_DESC
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return active_job() is not None

    def execute(self, context):
        if not cancel_active_job():
            self.report({"WARNING"}, MSG.NOT_RUNNING)
            return {"CANCELLED"}
        self.report({"INFO"}, MSG.CANCELLED)
        return {"FINISHED"}


class FFHQUV_OT_import_result(bpy.types.Operator):
    bl_idname = OP.IMPORT_RESULT
    bl_label = UI.IMPORT_RESULT
    bl_description = UI.IMPORT_RESULT_DESC
    bl_options = {"REGISTER", "UNDO"}

    directory: StringProperty(subtype="DIR_PATH", options={"SKIP_SAVE"})
    filter_folder: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    name: StringProperty(default="", options={"SKIP_SAVE"})
    add_camera: BoolProperty(name=UI.ADD_CAMERA, default=True)
    pack_images: BoolProperty(name=UI.PACK_IMAGES, default=True)
    photo: StringProperty(default="", options={"HIDDEN", "SKIP_SAVE"})
    scene_name: StringProperty(default="", options={"HIDDEN", "SKIP_SAVE"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        scene = bpy.data.scenes.get(self.scene_name) if self.scene_name else None
        scene = scene or context.scene
        folder = Path(bpy.path.abspath(self.directory))
        try:
            result = load_result(folder)
            photo = Path(self.photo) if self.photo else result.params.photo
            name = self.name or (photo.stem if photo else folder.name)
            imported = import_result(scene, result, ImportOptions(
                name=name, add_camera=self.add_camera, pack_images=self.pack_images, photo=photo))
        except AddonError as err:
            self.report({"ERROR"}, err.user_message())
            return {"CANCELLED"}
        state = getattr(context.window_manager, PROP.WM_JOB)
        state.last_result, state.stage, state.fraction = imported.head.name, "done", 1.0
        if scene == context.scene:
            _make_active(context.view_layer, imported.head)
        self.report({"INFO"}, MSG.IMPORTED.format(name=imported.head.name))
        return {"FINISHED"}


def _make_active(view_layer: bpy.types.ViewLayer, obj: bpy.types.Object) -> None:
    """Select only ``obj`` and make it active (the new head is what the artist works on next)."""
    view_layer.update()  # sync the view layer with the new collection first
    if obj.name not in view_layer.objects:
        return
    for other in view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    view_layer.objects.active = obj


def _selected_head(context) -> bpy.types.Object | None:
    return find_head(context.active_object) or next(
        (h for h in (find_head(o) for o in context.selected_objects) if h is not None), None)


class FFHQUV_OT_apply_lighting(bpy.types.Operator):
    bl_idname = OP.APPLY_LIGHTING
    bl_label = UI.APPLY_LIGHTING
    bl_description = UI.APPLY_LIGHTING_DESC
    bl_options = {"REGISTER", "UNDO"}

    preset: EnumProperty(name=UI.LIGHT_PRESET, items=LIGHT_PRESETS)
    strength: FloatProperty(name=UI.LIGHT_STRENGTH, default=1.0, min=0.0, soft_max=4.0)

    def execute(self, context):
        head = _selected_head(context)
        frame = lighting.head_frame(preview.head_objects(head) if head else [])
        try:
            lighting.apply_preset(context.scene, self.preset, frame, self.strength)
        except AddonError as err:
            self.report({"ERROR"}, err.user_message())
            return {"CANCELLED"}
        return {"FINISHED"}


class FFHQUV_OT_set_render_engine(bpy.types.Operator):
    bl_idname = OP.SET_RENDER_ENGINE
    bl_label = UI.RENDER_ENGINE
    bl_description = UI.SET_RENDER_ENGINE_DESC
    bl_options = {"REGISTER", "UNDO"}

    engine: EnumProperty(items=(("CYCLES", "Cycles", "Path tracing (accurate skin scattering)"),
                                ("EEVEE", "Eevee", "Real-time rasterizer")))

    def execute(self, context):
        lighting.set_render_engine(context.scene, self.engine)
        return {"FINISHED"}


class FFHQUV_OT_preview_sheet(bpy.types.Operator):
    bl_idname = OP.PREVIEW_SHEET
    bl_label = UI.PREVIEW_SHEET
    bl_description = UI.PREVIEW_SHEET_DESC
    bl_options = {"REGISTER"}

    filepath: StringProperty(subtype="FILE_PATH", default="", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return _selected_head(context) is not None

    def execute(self, context):
        head = _selected_head(context)
        settings = getattr(context.scene, PROP.SCENE_SETTINGS)
        order = [p[0] for p in LIGHT_PRESETS]
        presets = sorted(settings.sheet_presets, key=order.index) or ["three_point"]
        engine = "CYCLES" if context.scene.render.engine == "CYCLES" else "EEVEE"
        try:
            result = preview.render_preview_sheet(context.scene, head, presets, settings.sheet_tile,
                                                  settings.sheet_samples, engine,
                                                  Path(bpy.path.abspath(self.filepath)) if self.filepath else None)
        except AddonError as err:
            self.report({"ERROR"}, err.user_message())
            return {"CANCELLED"}
        for window in context.window_manager.windows:
            for area in window.screen.areas:
                if area.type == "IMAGE_EDITOR":
                    area.spaces.active.image = result.image
        self.report({"INFO"}, MSG.SHEET_SAVED.format(path=result.path))
        return {"FINISHED"}


class FFHQUV_OT_export_avatar(bpy.types.Operator):
    bl_idname = OP.EXPORT_AVATAR
    bl_label = UI.EXPORT_AVATAR
    bl_description = UI.EXPORT_AVATAR_DESC
    bl_options = {"REGISTER"}

    format: EnumProperty(name=UI.EXPORT_FORMAT, items=[f[:3] for f in EXPORT_FORMATS], default="GLB")
    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})
    check_existing: BoolProperty(default=True, options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return _selected_head(context) is not None

    def check(self, context):
        fixed = export.with_extension(self.filepath, self.format) if self.filepath else self.filepath
        changed = fixed != self.filepath
        self.filepath = fixed
        return changed

    def invoke(self, context, event):
        head = _selected_head(context)
        folder = Path(bpy.path.abspath("//")) if bpy.data.filepath else Path.home()
        self.filepath = export.with_extension(str(folder / head.name), self.format)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        head = _selected_head(context)
        if not self.filepath:
            self.report({"ERROR"}, MSG.NO_EXPORT_PATH)
            return {"CANCELLED"}
        try:
            path = export.export_avatar(context, preview.head_objects(head), self.format,
                                        Path(bpy.path.abspath(self.filepath)))
        except AddonError as err:
            self.report({"ERROR"}, err.user_message())
            return {"CANCELLED"}
        self.report({"INFO"}, MSG.EXPORTED.format(path=path))
        return {"FINISHED"}


class FFHQUV_OT_reset_settings(bpy.types.Operator):
    bl_idname = OP.RESET_SETTINGS
    bl_label = UI.RESET_SETTINGS
    bl_description = UI.RESET_SETTINGS_DESC
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        apply_defaults(getattr(context.scene, PROP.SCENE_SETTINGS), get_preferences(context))
        return {"FINISHED"}


class FFHQUV_OT_show_message(bpy.types.Operator):
    bl_idname = OP.SHOW_MESSAGE
    bl_label = "FFHQ-UV"
    bl_options = {"INTERNAL"}

    message: StringProperty(options={"SKIP_SAVE"})
    level: StringProperty(default="INFO", options={"SKIP_SAVE"})

    def execute(self, context):
        self.report({self.level if self.level in {"INFO", "WARNING", "ERROR"} else "INFO"}, self.message)
        return {"FINISHED"}


CLASSES = (
    FFHQUV_OT_select_photo, FFHQUV_OT_reconstruct, FFHQUV_OT_cancel, FFHQUV_OT_import_result,
    FFHQUV_OT_apply_lighting, FFHQUV_OT_set_render_engine, FFHQUV_OT_preview_sheet, FFHQUV_OT_export_avatar,
    FFHQUV_OT_reset_settings, FFHQUV_OT_show_message,
)
