"""Source-level guarantees of the add-on: no torch/engine imports in Blender's process, a valid manifest,
build.py's manifest rewriting, names shared with the fake engine output."""
from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import bpy
import pytest

from ffhquv_bl_testutil import REPO, submodule

ADDON_SRC = REPO / "ffhquv_blender"
FORBIDDEN_ROOTS = {"torch", "engine", "mediapipe", "cv2", "scipy", "skimage"}


def _imported_roots(path: Path) -> set[str]:
    """Top-level module names imported (absolutely) by a Python file, incl. importlib.import_module("x")."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in
              {"import_module", "__import__"} and node.args and isinstance(node.args[0], ast.Constant)):
            roots.add(str(node.args[0].value).split(".")[0])
    return roots


def test_addon_never_imports_torch_or_engine() -> None:
    files = sorted(ADDON_SRC.rglob("*.py"))
    assert len(files) >= 10
    offenders = {str(f.relative_to(REPO)): sorted(_imported_roots(f) & FORBIDDEN_ROOTS) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_import_scanner_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom torch import nn\nimport importlib\nimportlib.import_module('engine.api')\n")
    assert _imported_roots(bad) & FORBIDDEN_ROOTS == {"torch", "engine"}


def test_running_addon_has_not_loaded_torch_or_engine(installed: str) -> None:
    loaded = {name.split(".")[0] for name in sys.modules}
    assert "torch" not in loaded and "engine" not in loaded and "mediapipe" not in loaded


def test_manifest_fields() -> None:
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text(encoding="utf-8"))
    assert manifest["schema_version"] == "1.0.0"
    assert manifest["id"] == "ffhquv_blender" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert set(manifest["permissions"]) == {"files"} and manifest["permissions"]["files"]
    assert "wheels" not in manifest and "platforms" not in manifest  # written by build.py into the built copy


def test_build_writes_wheels_and_platforms_into_the_built_manifest() -> None:
    import build

    text = build.manifest_text(["linux-x64"], ["torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
                                               "pillow-11.0.0-cp311-cp311-manylinux_2_28_x86_64.whl"])
    manifest = tomllib.loads(text)
    assert manifest["platforms"] == ["linux-x64"]
    assert manifest["wheels"][0] == "./wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    assert manifest["permissions"]["files"]  # tables still parse after the insertion
    assert not any(r.startswith("numpy") for r in build.ENGINE_REQUIREMENTS)  # Blender provides numpy


def test_validator_rejects_a_broken_manifest(tmp_path: Path) -> None:
    import bl_pkg

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "__init__.py").write_text("")
    text = (REPO / "blender_manifest.toml").read_text().replace('blender_version_min = "4.2.0"',
                                                                'blender_version_min = "four"')
    (tmp_path / "x" / "blender_manifest.toml").write_text(text)
    assert bl_pkg.cli_extension(["validate", str(tmp_path / "x")]) != 0


def test_names_match_the_fake_engine_and_arkit() -> None:
    names = submodule("names")
    sys.path.insert(0, str(REPO / "tools"))
    import make_fake_engine_output as fake

    assert len(names.ARKIT_NAMES) == 52 == len(set(names.ARKIT_NAMES))
    assert names.ARKIT_NAMES == fake.ARKIT_NAMES
    assert set(names.PART_NAMES) == set(fake.PART_NAMES)


def test_operators_and_panels_registered(installed: str) -> None:
    names = submodule("names")
    for idname in (v for k, v in vars(names.OP).items() if not k.startswith("_")):
        group, op = idname.split(".")
        assert hasattr(getattr(bpy.ops, group), op), idname
    panel = getattr(bpy.types, names.PANEL.MAIN)
    assert panel.bl_category == "FFHQ-UV" and panel.bl_space_type == "VIEW_3D" and panel.bl_region_type == "UI"


def test_progress_lines_parse() -> None:
    ep = submodule("engine_process")
    parse = ep.ProgressEvent.parse
    assert parse('{"stage": "fit", "fraction": 0.42, "message": "x"}') == ep.ProgressEvent("fit", 0.42, "x")
    done = parse('{"stage": "done", "fraction": 1.0, "output": "/o", "warnings": ["w"]}')
    assert done.output == "/o" and done.warnings == ("w",)
    err = parse('{"stage": "error", "fraction": 1.0, "message": "No face.", "kind": "NoFaceError"}')
    assert err.kind == "NoFaceError" and err.message == "No face."
    assert parse("Downloading nothing...") is None and parse("{broken") is None and parse("[1, 2]") is None
    assert parse('{"stage": "fit", "fraction": 7}').fraction == 1.0


def test_overall_fraction_is_monotonic_across_stages() -> None:
    ep = submodule("engine_process")
    seq = [("load", 0.0), ("landmarks", 1.0), ("fit", 0.5), ("fit", 1.0), ("refine", 0.2), ("unknown", 0.9),
           ("texture", 1.0), ("write", 1.0), ("done", 1.0)]
    overall, values = 0.0, []
    for stage, fraction in seq:
        overall = ep.overall_fraction(stage, fraction, overall)
        values.append(overall)
    assert values == sorted(values) and values[-1] == 1.0 and 0.9 < values[-2] <= 1.0


def test_locate_engine_order_and_errors(tmp_path: Path) -> None:
    ep = submodule("engine_process")
    errors = submodule("errors")
    (tmp_path / "vendor" / "engine").mkdir(parents=True)
    (tmp_path / "vendor" / "engine" / "__main__.py").write_text("")
    bundled = ep.locate_engine(tmp_path, ("/site",), environ={})
    assert bundled.source == "bundled" and bundled.python == sys.executable
    assert bundled.pythonpath == (str(tmp_path / "vendor"), "/site")
    dev = ep.locate_engine(tmp_path, ("/site",), environ={"FFHQUV_ENGINE_PYTHON": sys.executable,
                                                          "FFHQUV_ENGINE_PATH": str(tmp_path / "vendor")})
    assert dev.source == "environment" and dev.pythonpath == (str(tmp_path / "vendor"),)
    with pytest.raises(errors.EngineNotFound):
        ep.locate_engine(tmp_path / "nowhere", (), environ={})
    with pytest.raises(errors.EngineNotFound):
        ep.locate_engine(tmp_path, (), python_override=str(tmp_path / "no-python"), environ={})
