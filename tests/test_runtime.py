"""engine.runtime: resolving ``--device``, and every render of a reconstruction going through the runtime."""
from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.render import ops
from engine.runtime import CPU, Runtime
from tests.photos import photo_path

ROOT = Path(__file__).resolve().parents[1]


def test_cpu_and_auto_without_cuda_resolve_to_the_torch_renderer_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Runtime.resolve("cpu") == CPU
    assert Runtime.resolve("auto") == CPU
    assert (CPU.device, CPU.backend, CPU.dtype) == (torch.device("cpu"), "torch", torch.float32)
    assert CPU.device_name == "cpu"


def test_cuda_without_cuda_is_an_input_error_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError) as err:
        Runtime.resolve("cuda")
    assert "CUDA" in str(err.value) and err.value.hint
    with pytest.raises(InputError):
        Runtime.resolve("gpu")


@pytest.mark.parametrize("has_nvdiffrast", [True, False])
def test_auto_with_cuda_picks_nvdiffrast_only_when_it_imports(monkeypatch: pytest.MonkeyPatch,
                                                              has_nvdiffrast: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(ops, "nvdiffrast_usable", lambda device: has_nvdiffrast)
    for requested in ("auto", "cuda"):
        rt = Runtime.resolve(requested)
        assert rt.device == torch.device("cuda", 0) and rt.device_name == "cuda"
        assert rt.backend == ("nvdiffrast" if has_nvdiffrast else "torch")
    assert Runtime.resolve("cpu") == CPU


def test_nvdiffrast_is_usable_only_on_cuda() -> None:
    assert not ops.nvdiffrast_usable("cpu")


def test_nvdiffrast_needs_cuda() -> None:
    with pytest.raises(ValueError):
        Runtime(torch.device("cpu"), "nvdiffrast")
    with pytest.raises(ValueError):
        Runtime(torch.device("cpu"), "opengl")  # type: ignore[arg-type]


def test_cpu_moves_nothing() -> None:
    x = torch.rand(3, 4)
    assert CPU.tensor(x) is x and CPU.host(x) is x
    tri = torch.zeros(2, 3, dtype=torch.int32)
    assert CPU.index(tri) is tri
    assert CPU.tensor(np.zeros((2, 2), np.float64)).dtype == torch.float32
    ctx = CPU.context()
    assert (ctx.backend, ctx.device) == ("torch", torch.device("cpu"))


# --- no render bypasses the runtime ----------------------------------------------------------------------

_RENDER_OPS = {"rasterize", "interpolate", "texture", "antialias"}
_STAGES = [*sorted((ROOT / "engine" / "fit").glob("*.py")), *sorted((ROOT / "engine" / "texture").glob("*.py")),
           ROOT / "engine" / "outputs.py"]


def _render_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text())
    imported = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("engine.render") for a in node.names}
    names = _RENDER_OPS & imported
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in names]


@pytest.mark.parametrize("path", [p for p in _STAGES if not p.name.startswith("build_")], ids=lambda p: p.name)
def test_every_render_call_in_the_stages_names_the_runtime(path: Path) -> None:
    """rasterize gets ``runtime.context()``, the other ops ``backend=runtime.backend`` (the offline
    ``build_*`` asset tools are exempt: they run once on the CPU)."""
    for call in _render_calls(path):
        src = ast.get_source_segment(path.read_text(), call) or ""
        if call.func.id == "rasterize":
            ok = bool(call.args) and not (isinstance(call.args[0], ast.Constant) and call.args[0].value is None)
            ok = ok and "make_context" not in src
        else:
            ok = any(kw.arg == "backend" and "runtime" in ast.unparse(kw.value) for kw in call.keywords)
        assert ok, f"{path.name}:{call.lineno}: {src.splitlines()[0]} does not use the runtime"


@dataclass(frozen=True)
class _SpyRuntime(Runtime):
    """The CPU runtime, recording which engine function asked it for a render context."""

    callers: list = field(default_factory=list, compare=False, hash=False, repr=False)

    def context(self):
        self.callers.append(inspect.stack()[1].function)
        return super().context()


def test_reconstruct_renders_every_stage_through_its_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import api
    from engine.texture import delight

    spy = _SpyRuntime()
    monkeypatch.setattr(Runtime, "resolve", staticmethod(lambda requested="auto": spy))
    delight.template_ambient_occlusion.cache_clear()  # the template AO is cached per (model, runtime)
    rec = api.reconstruct(photo_path("astronaut"), api.ReconstructOptions(texture_size=256))
    assert rec.runtime is spy
    api.write_outputs(rec, tmp_path / "out")
    seen = set(spy.callers)
    # fit (photometric), texture (camera view, AO / shadow depth maps, re-render and relit sheet), outputs
    assert {"refine_photometric", "camera_view", "_ortho_depth_maps", "render_view", "visible_faces"} <= seen, seen
    delight.template_ambient_occlusion.cache_clear()
