"""Panels draw without errors: the draw functions run against a recording layout, and every property and
operator they reference exists (a panel typo would otherwise only show up in interactive Blender)."""
from __future__ import annotations

import bpy
import pytest

from ffhquv_bl_testutil import submodule

pytestmark = pytest.mark.usefixtures("installed")


class RecordingLayout:
    """Stands in for bpy.types.UILayout: records prop/operator/progress calls, returns itself for sub-layouts."""

    def __init__(self, log: list) -> None:
        self.log = log
        self.scale_y = 1.0
        self.use_property_split = False
        self.use_property_decorate = True

    def _sub(self, *args, **kwargs) -> "RecordingLayout":
        return self

    row = column = box = grid_flow = split = _sub

    def prop(self, data, name, **kwargs) -> None:
        self.log.append(("prop", data, name))

    def operator(self, idname, **kwargs):
        self.log.append(("operator", idname))
        return type("OperatorProperties", (), {})()

    def template_ID(self, data, name, **kwargs) -> None:
        self.log.append(("prop", data, name))

    def progress(self, **kwargs) -> None:
        self.log.append(("progress", kwargs))

    def label(self, **kwargs) -> None:
        self.log.append(("label", kwargs.get("text", "")))

    def separator(self, **kwargs) -> None:
        pass


def _check(log: list) -> None:
    for entry in log:
        if entry[0] == "prop":
            _, data, name = entry
            assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        elif entry[0] == "operator":
            group, op = entry[1].split(".")
            assert hasattr(getattr(bpy.ops, group), op), entry[1]


@pytest.mark.parametrize("source, running", [("FILE", False), ("IMAGE", True)])
def test_panels_reference_existing_properties_and_operators(empty_scene, source: str, running: bool,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    panel = submodule("panel")
    empty_scene.ffhquv.photo_source = source
    if running:  # draw the progress bar and Cancel instead of Reconstruct
        monkeypatch.setattr(panel, "active_job", lambda: object())
        job = bpy.context.window_manager.ffhquv_job
        job.fraction, job.stage, job.message = 0.4, "fit", "landmarks 2.5% IOD"
    log: list = []
    layout = RecordingLayout(log)
    panel.draw_reconstruct(layout, bpy.context)
    panel.draw_lighting(layout, bpy.context)
    panel.draw_export(layout, bpy.context)
    _check(log)
    assert ("operator", "ffhquv.preview_sheet") in log
    if running:
        progress = next(e[1] for e in log if e[0] == "progress")
        assert progress["factor"] == pytest.approx(0.4) and progress["text"] == "Fit 40%"
        assert ("operator", "ffhquv.cancel") in log and ("operator", "ffhquv.reconstruct") not in log
        assert "progress" in bpy.types.UILayout.bl_rna.functions  # exists in Blender 4.0+
    else:
        assert ("operator", "ffhquv.reconstruct") in log


def test_preferences_draw(installed: str) -> None:
    prefs = bpy.context.preferences.addons[installed].preferences
    log: list = []
    layout = RecordingLayout(log)
    type(prefs).draw(type("P", (), {"layout": layout, **{n: getattr(prefs, n) for n in prefs.bl_rna.properties.keys()
                                                          if n != "rna_type"}})(), bpy.context)
    names = [e[2] for e in log if e[0] == "prop"]
    assert {"engine_python", "engine_path", "output_root", "texture_size"} <= set(names)
    for name in names:
        assert name in prefs.bl_rna.properties
