"""FFHQ-UV for Blender: one face photo -> a textured, relightable 3D head with ARKit shape keys.

The reconstruction engine (PyTorch, bundled under ``vendor/`` by build.py) runs in a separate process,
kept warm for the Blender session (``engine_session``) and stopped when the add-on is disabled or Blender
quits; this package never imports torch or the engine. Metadata lives in blender_manifest.toml.
"""
from __future__ import annotations

import atexit

import bpy
from bpy.app.handlers import persistent

from . import engine_session, operators, panel, preferences, properties
from .names import PROP

__all__ = ["register", "unregister"]

_CLASSES = (
    properties.FFHQUV_Settings, properties.FFHQUV_JobState, preferences.FFHQUV_Preferences,
    *operators.CLASSES, *panel.CLASSES,
)


def _initialize_scenes() -> None:
    """Give scenes that never saw the add-on the defaults from the preferences."""
    try:
        scenes = list(bpy.data.scenes)
        context = bpy.context
        prefs = preferences.get_preferences(context)
    except AttributeError:  # restricted context during startup: the load_post handler does it later
        return
    for scene in scenes:
        settings = getattr(scene, PROP.SCENE_SETTINGS, None)
        if settings is not None and not settings.initialized:
            preferences.apply_defaults(settings, prefs)


@persistent
def _on_load_post(*_args) -> None:
    _initialize_scenes()


@persistent
def _on_load_pre(*_args) -> None:
    operators.cancel_active_job()  # the scene the job would import into is going away


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    setattr(bpy.types.Scene, PROP.SCENE_SETTINGS, bpy.props.PointerProperty(type=properties.FFHQUV_Settings))
    setattr(bpy.types.WindowManager, PROP.WM_JOB, bpy.props.PointerProperty(type=properties.FFHQUV_JobState))
    bpy.app.handlers.load_post.append(_on_load_post)
    bpy.app.handlers.load_pre.append(_on_load_pre)
    atexit.register(engine_session.shutdown_session)  # Blender quits: no engine left behind
    _initialize_scenes()
    _start_engine_if_preferred()


def _start_engine_if_preferred() -> None:
    try:
        prefs = preferences.get_preferences(bpy.context)
    except AttributeError:  # restricted context during startup: the engine starts at the first Reconstruct
        return
    operators.start_engine_if_preferred(prefs)


def unregister() -> None:
    operators.cancel_active_job()
    engine_session.shutdown_session()
    atexit.unregister(engine_session.shutdown_session)
    if bpy.app.timers.is_registered(operators.tick_active_job):
        bpy.app.timers.unregister(operators.tick_active_job)
    for handlers, fn in ((bpy.app.handlers.load_post, _on_load_post), (bpy.app.handlers.load_pre, _on_load_pre)):
        if fn in handlers:
            handlers.remove(fn)
    delattr(bpy.types.WindowManager, PROP.WM_JOB)
    delattr(bpy.types.Scene, PROP.SCENE_SETTINGS)
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
