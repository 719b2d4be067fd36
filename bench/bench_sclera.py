"""Where the skin tone's exposure error comes from (issue #9): the eye whites' shading, measured against the
ground-truth renders.

    python bench/bench_sclera.py [--out bench_out/sclera] [--only h5_y0b_hard_top h3_y-25_hard_top ...]

The calibration (``engine/texture/calibrate.py``) divides each eye white's photo colour by its estimated
shading: the de-lighting's shading of the lid skin around the eye (``lid``) times a lid -> eye-white ratio
(``ratio``: the template's ambient occlusion of the eyeball over the lids'). On a benchmark render both are
known: the true lid shading is the render's lid colour over the true albedo there, the true eye-white
shading is the eye white's photo colour over the Cycles eye material's sclera albedo
(``cycles_render.SCLERA_LINEAR``). Per eye this prints

* ``true ratio``: true eye-white shading / true lid shading;
* ``engine ratio``: the engine's eye-white shading / its modelled lid shading (after its own corrections);
* ``error EV``: log2(engine ratio / true ratio): > 0 means the engine thinks the eye white is lit more than
  it is, so the gain comes out low and the albedo too bright by that much (before the skin prior's bound
  and the two eyes' average).

The JSON also keeps, per eye, what the engine knows of the light there (``lid_sun_share``, ``sun_share``,
``sun_up``), to look for what predicts the error.

Bench only: the engine's ``sclera_shading`` is wrapped in this process to read its inputs; nothing of the
engine changes. Writes ``sclera.json`` and ``sclera.md`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_groundtruth import _commit, _machine, _read_linear  # noqa: E402
from bench.groundtruth.generate import DEFAULT_CACHE, REPO, load_scene  # noqa: E402
from bench.groundtruth.perturb import luminance  # noqa: E402
from bench.groundtruth.runner import run_engine  # noqa: E402

DEFAULT_OUT = REPO / "bench_out" / "sclera"


def _render_sclera() -> tuple[float, float, float]:
    """``SCLERA_LINEAR`` of ``bench/groundtruth/cycles_render.py``, read from its source (the module imports
    bpy, which this process does not have)."""
    import ast

    tree = ast.parse((REPO / "bench" / "groundtruth" / "cycles_render.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "SCLERA_LINEAR" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("SCLERA_LINEAR not found in cycles_render.py")


SCLERA_LINEAR = _render_sclera()
def _lum(rgb) -> float:
    return float(luminance(rgb))


class _Probe:
    """Wraps ``engine.texture.pipeline.sclera_shading``: per call, the modelled and true lid shading and the
    shading it returned (the true albedo is set per scene in ``truth``)."""

    def __init__(self) -> None:
        import engine.texture.calibrate as calibrate
        import engine.texture.pipeline as pipeline

        self.calls: list[dict] = []
        self.truth: np.ndarray | None = None
        self._inner = calibrate.sclera_shading
        pipeline.sclera_shading = self._wrapped

    def _wrapped(self, delit, unwrap, model, vertices, camera_centre, part, vertex_ao, lid_ao, settings, skin_rgb=None):
        from engine.texture.calibrate import _eyeball, lid_texels

        out = self._inner(delit, unwrap, model, vertices, camera_centre, part, vertex_ao, lid_ao, settings, skin_rgb)
        near = lid_texels(unwrap, model, _eyeball(model, vertices, part)[1], settings)
        truth = self.truth
        if truth.shape[0] != near.shape[0]:
            truth = cv2.resize(truth, near.shape[::-1], interpolation=cv2.INTER_AREA)
        self.calls.append({
            "part": part, "used": out is not None,
            "model_lid": _lum(np.median(delit.shading[near], axis=0)) if near.any() else float("nan"),
            "true_lid": _lum(np.median(unwrap.color[near] / np.maximum(truth[near], 1e-3), axis=0))
            if near.any() else float("nan"),
            "engine_shade": _lum(out) if out is not None else float("nan"),
            **_light_features(delit, unwrap, near)})
        return out


def _light_features(delit, unwrap, near: np.ndarray) -> dict:
    """What the engine knows of the light at the lids: the share of their modelled shading that the sun
    gives (``lid_sun_share``, median of ``cos(normal, sun) * visibility * sun / shading``), the sun's share of
    the whole light at normal incidence (``sun_share``) and its direction's up component (``sun_up``, head
    space)."""
    from engine.texture.delight.model import lambert_basis

    light = delit.lighting
    sun = _lum(light.sun_rgb)
    ambient = _lum(lambert_basis(np.eye(3)[2:])[0, 0] * light.sh[0])  # the SH's constant term, as shading
    share = 0.0
    if near.any() and np.any(light.sun_direction):
        cos = np.clip(unwrap.normal[near] @ light.sun_direction, 0.0, None) * delit.sun_visibility[near]
        share = float(np.median(np.clip(cos * sun / np.maximum(luminance(delit.shading[near]), 1e-6), 0.0, 1.0)))
    return {"lid_sun_share": share, "sun_share": sun / max(sun + ambient, 1e-6),
            "sun_up": float(light.sun_direction[1])}


def _eyes(probe: _Probe, metrics: dict) -> list[dict]:
    """The calibration's eye samples (``eye{j}_colour``) beside the probe's calls that made them (calls whose
    shading came back, in order)."""
    used = [c for c in probe.calls if c["used"]]
    out = []
    for j, call in enumerate(used):
        if f"calibration_eye{j}_colour_g" not in metrics:
            break
        colour = [metrics[f"calibration_eye{j}_colour_{c}"] for c in "rgb"]
        true_eye = _lum(colour) / _lum(SCLERA_LINEAR)
        true_ratio = true_eye / max(call["true_lid"], 1e-6)
        engine_ratio = call["engine_shade"] / max(call["model_lid"], 1e-6)
        out.append({**call, "true_eye": true_eye, "true_ratio": true_ratio, "engine_ratio": engine_ratio,
                    "error_ev": float(np.log2(max(engine_ratio, 1e-6) / max(true_ratio, 1e-6))),
                    "clipped": float(metrics.get(f"calibration_eye{j}_clipped", 0.0))})
    return out


def run(out_dir: Path, cache: Path, only: list[str] | None) -> dict:
    probe = _Probe()
    folders = sorted(p for p in (cache / "renders").iterdir() if (p / "photo.png").is_file())
    if only:
        folders = [f for f in folders if f.name in set(only)]
    rows = []
    for i, folder in enumerate(folders):
        scene = load_scene(folder)
        probe.truth, probe.calls = _read_linear(Path(scene["albedo"])), []
        out = run_engine(folder / "photo.png")
        eyes = _eyes(probe, out.engine_metrics)
        rows.append({"id": scene["id"], "klass": scene["lighting"]["klass"], "eyes": eyes,
                     "source_sclera": float(out.engine_metrics.get("calibration_source_sclera", 0.0))})
        print(f"[{i + 1}/{len(folders)}] {scene['id']}: " + ", ".join(
            f"{e['part']} true {e['true_ratio']:.2f} engine {e['engine_ratio']:.2f} ({e['error_ev']:+.2f} EV)"
            for e in eyes))
    errs = [e["error_ev"] for r in rows for e in r["eyes"] if e["clipped"] <= 0.25]
    doc = {"commit": _commit(), "machine": _machine(), "rows": rows,
           "mean_abs_error_ev": float(np.mean(np.abs(errs))) if errs else float("nan"),
           "mean_error_ev": float(np.mean(errs)) if errs else float("nan")}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sclera.json").write_text(json.dumps(doc, indent=1))
    (out_dir / "sclera.md").write_text(markdown(doc))
    return doc


def markdown(doc: dict) -> str:
    lines = [f"Eye-white shading against the truth, commit `{doc['commit']}`, {doc['machine']}: lid -> eye-white "
             f"shading ratio, true and the engine's, and the exposure error it makes (EV, > 0: albedo too bright).",
             "", "| render | eye | true ratio | engine ratio | error EV |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        for e in r["eyes"]:
            lines.append(f"| {r['id']} | {e['part']} | {e['true_ratio']:.2f} | {e['engine_ratio']:.2f} | "
                         f"{e['error_ev']:+.2f} |")
    lines += ["", f"Unclipped eyes: mean error {doc['mean_error_ev']:+.2f} EV, mean |error| "
                  f"{doc['mean_abs_error_ev']:.2f} EV."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--only", nargs="*", help="render ids (default: every cached render)")
    args = ap.parse_args()
    doc = run(args.out, args.cache, args.only)
    print(markdown(doc))


if __name__ == "__main__":
    main()
