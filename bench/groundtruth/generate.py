"""Generates the ground-truth data into an ignored cache folder (nothing rendered is committed).

``python -m bench.groundtruth.generate [--subset] [--cache .cache/groundtruth]`` writes:

* ``albedos/NAME.png`` the ground-truth albedos (sRGB 8-bit, 1024²) and ``spec_rough.png``;
* ``heads/NAME/head_mesh.npz`` + ``head.json`` (sliders, expression, off-model displacement);
* ``renders/SCENE/photo.png`` the photo (sRGB 8-bit: Cycles' linear render, metered and exposed here),
  ``mask_skin.png``, ``mask_head.png``, ``render.exr`` and ``scene.json`` with ``K``, ``R``, ``t``
  (engine conventions), ``landmarks478`` (true MediaPipe-order points projected to pixels),
  ``landmarks478_3d``, ``exposure_gain`` and the scene description;
* for a scene with hair (:func:`bench.groundtruth.scenes.hair_scenes`) or glasses
  (:func:`bench.groundtruth.scenes.glasses_scenes`), ``hair/HEAD_HAIR_SEED.npz`` its cards and
  ``renders/SCENE/mask_hair.png`` their coverage of the skin (see ``cycles_render.py``).

A render is redone only when its ``scene.json`` inputs change. Blender runs out of process (the
``bpy`` venv, :mod:`bench.groundtruth.cycles_render`), one batch for all missing renders. The true
landmarks are the mesh's points at the landmark correspondence's surface points (the definition of where
MediaPipe's point i lies on the head): when the correspondence file changes, a cached render keeps its
pixels and gets its landmarks recomputed (``scene.json`` ``correspondence`` is the file's hash).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
import cv2  # noqa: E402

from bench.groundtruth import albedos as gt_albedos  # noqa: E402
from bench.groundtruth.glasses import FRAME_STYLES, GLASSES_VERSION  # noqa: E402
from bench.groundtruth.hair import HAIR_COLOURS, HAIR_ROUGHNESS, HAIR_VERSION, HairSpec, hair_cards  # noqa: E402
from bench.groundtruth.heads import make_head, mesh_arrays, true_landmarks_3d  # noqa: E402
from bench.groundtruth.layout import layout  # noqa: E402
from bench.groundtruth.perturb import encode_srgb8, luminance  # noqa: E402
from bench.groundtruth.scenes import Scene, camera, scenes  # noqa: E402
from bench.groundtruth.surface import spec_rough_map  # noqa: E402

__all__ = ["generate", "render_scenes", "DEFAULT_CACHE", "SUBSET_CACHE", "ALBEDO_SIZE", "SAMPLES", "load_scene"]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO / ".cache" / "groundtruth"
SUBSET_CACHE = REPO / ".cache" / "groundtruth_subset"
"""The subset's own cache: it renders some of the full set's scene ids at another size and sample count."""
ALBEDO_SIZE = 1024
GENERATOR_VERSION = 1
"""Bump to invalidate every cached render."""
METER_TARGET = 0.18
"""Metered luminance -> this linear value (middle grey), before the scene's EV offset."""
METER_HEAD_WEIGHT = 0.7
"""Centre-weighted metering: the head's mean luminance has this weight, the whole frame the rest."""
SAMPLES = {"full": 32, "subset": 8}
EYE_COLOURS = ((0.22, 0.12, 0.06), (0.28, 0.36, 0.42), (0.32, 0.24, 0.1), (0.12, 0.07, 0.04))
BPY_PYTHON = (REPO / ".venv-bpy50" / "bin" / "python", REPO / ".venv-bpy42" / "bin" / "python")


def _photo_path(source: str) -> Path:
    """A real test photo (the cache ``tools/fetch_test_photos.py`` fills from the registry)."""
    from tests.photos import photo_path

    return photo_path(source)


def _write_srgb(path: Path, linear: np.ndarray) -> None:
    cv2.imwrite(str(path), encode_srgb8(linear)[..., ::-1])


def _albedos(cache: Path, names: set[str]) -> None:
    """Writes every needed ground-truth albedo (and the shared spec/roughness map) once."""
    from engine.head.model import load_head_model

    out = cache / "albedos"
    out.mkdir(parents=True, exist_ok=True)
    lay = layout(ALBEDO_SIZE)
    raws: dict[str, gt_albedos.RawUnwrap] = {}
    for name in sorted(names):
        path = out / f"{name}.png"
        if path.is_file():
            continue
        source, tone = gt_albedos.ALBEDO_SPECS[name]
        if source not in raws:
            raws[source] = gt_albedos.raw_unwrap(_photo_path(source), ALBEDO_SIZE, source in gt_albedos.GLASSES)
        _write_srgb(path, gt_albedos.ground_truth_albedo(raws[source], tone, lay))
    sr = out / "spec_rough.png"
    if not sr.is_file():
        cv2.imwrite(str(sr), spec_rough_map(lay, load_head_model().vertices.numpy())[..., ::-1])


def _head(cache: Path, scene: Scene) -> Path:
    from engine.head.model import load_head_model

    folder = cache / "heads" / scene.head.name
    mesh = folder / "head_mesh.npz"
    if mesh.is_file():
        return mesh
    folder.mkdir(parents=True, exist_ok=True)
    model = load_head_model()
    head = make_head(model, scene.head)
    np.savez_compressed(mesh, **mesh_arrays(model, head.vertices))
    info = {"spec": asdict(scene.head), "shape": dict(zip(model.shape_names, head.shape.tolist())),
            "expression": dict(zip(model.expression_names, head.expression.tolist())),
            "displacement_rms_mm": head.displacement_rms_mm, "scale": head.scale.tolist()}
    (folder / "head.json").write_text(json.dumps(info, indent=1))
    return mesh


def _hair(cache: Path, scene: Scene, mesh: Path) -> dict:
    """Writes the scene's hair cards (``hair/HEAD_HAIR_SEED.npz``, from the true head's skin and
    landmarks); returns the job's ``hair`` field, with a digest of the cards and HAIR_VERSION (a
    frame's GLASSES_VERSION) so that the render's key follows them (the renderer ignores both)."""
    from engine.head.model import load_head_model

    with np.load(mesh) as data:
        verts, faces, part = data["vertices"], data["faces"], data["face_part"]
        skin = faces[part == list(data["part_names"]).index("skin")]
    cards = hair_cards(verts, skin, true_landmarks_3d(load_head_model(), verts), scene.hair)
    path = cache / "hair" / f"{scene.head.name}_{scene.hair.name}_{scene.hair.seed}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = cards.arrays()
    np.savez_compressed(path, **arrays)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays.values())).hexdigest()[:16]
    look, version = _card_look(scene.hair)
    return {"cards": str(path), **look, "digest": digest, "version": version}


def _card_look(hair: HairSpec) -> tuple[dict, int]:
    """(the job's ``hair`` fields of the cards' material, the version of their shader): strand hair's
    colour and roughness, or a glasses frame's opaque material."""
    if hair.style != "glasses":  # just these keys: the hair renders' cache keys on them
        return {"rgb": list(HAIR_COLOURS[hair.colour]), "roughness": HAIR_ROUGHNESS}, HAIR_VERSION
    frame = FRAME_STYLES[hair.colour]
    return ({"rgb": list(frame.rgb), "roughness": frame.roughness, "solid": True, "metallic": frame.metallic},
            GLASSES_VERSION)


def _job(cache: Path, scene: Scene, samples: int) -> dict:
    K, R, t, w, h = camera(scene.view)
    folder = cache / "renders" / scene.id
    mesh = _head(cache, scene)
    job = {
        "id": scene.id, "out_dir": str(folder), "mesh": str(mesh),
        "albedo": str(cache / "albedos" / f"{scene.head.albedo}.png"),
        "spec_rough": str(cache / "albedos" / "spec_rough.png"),
        "eye_color_srgb": list(EYE_COLOURS[scene.head.seed % len(EYE_COLOURS)]),
        "camera": {"K": K.tolist(), "R": R.tolist(), "t": t.tolist(), "width": w, "height": h},
        "lighting": scene.lighting.spec, "samples": samples, "seed": scene.head.seed,
    }
    if scene.hair is not None:  # no "hair" key at all otherwise: the bare scenes keep their keys
        job["hair"] = _hair(cache, scene, mesh)
    return job


def _key(job: dict, scene: Scene) -> str:
    blob = json.dumps({"job": {k: v for k, v in job.items() if k != "out_dir"}, "scene": scene.to_json(),
                       "version": GENERATOR_VERSION, "blender": _bpy_python().parent.parent.name}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _bpy_python() -> Path:
    for p in BPY_PYTHON:
        if p.is_file():
            return p
    raise SystemExit("no bpy venv (.venv-bpy50 or .venv-bpy42): run tools/setup.sh --blender")


def _render(jobs: list[dict], cache: Path) -> None:
    batch = cache / "batch.json"
    batch.write_text(json.dumps({"jobs": jobs}))
    script = REPO / "bench" / "groundtruth" / "cycles_render.py"
    proc = subprocess.run([str(_bpy_python()), str(script), str(batch)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"Cycles batch failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _expose(folder: Path, ev: float) -> float:
    """photo.png from render.exr: centre-weighted metering to METER_TARGET, then ``ev``; returns the gain."""
    lin = cv2.imread(str(folder / "render.exr"), cv2.IMREAD_UNCHANGED)[..., :3][..., ::-1].astype(np.float64)
    head = cv2.imread(str(folder / "mask_head.png"), cv2.IMREAD_GRAYSCALE) > 127
    lum = luminance(np.clip(lin, 0.0, None))
    metered = METER_HEAD_WEIGHT * lum[head].mean() + (1.0 - METER_HEAD_WEIGHT) * lum.mean()
    gain = METER_TARGET / max(metered, 1e-6) * 2.0 ** ev
    _write_srgb(folder / "photo.png", np.clip(lin * gain, 0.0, 1.0))
    return float(gain)


def correspondence_hash() -> str:
    """Hash of the engine's landmark correspondence file (what the true landmarks are defined by)."""
    from engine.fit.correspondence import DATA_PATH

    return hashlib.sha256(DATA_PATH.read_bytes()).hexdigest()[:16]


def _true_landmarks(mesh: str, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> dict:
    """``landmarks478`` (pixels), ``landmarks478_3d`` and the correspondence hash of the head ``mesh`` (path)."""
    from engine.head.model import load_head_model

    lm3d = true_landmarks_3d(load_head_model(), np.load(mesh)["vertices"])
    cam = lm3d @ R.T + t
    px = (cam @ K.T)[:, :2] / (cam @ K.T)[:, 2:3]
    return {"landmarks478": px.tolist(), "landmarks478_3d": lm3d.tolist(), "correspondence": correspondence_hash()}


def _finish(scene: Scene, job: dict, key: str) -> None:
    folder = Path(job["out_dir"])
    gain = _expose(folder, scene.lighting.ev)
    K, R, t = (np.asarray(job["camera"][k]) for k in ("K", "R", "t"))
    meta = {**scene.to_json(), "key": key, "K": K.tolist(), "R": R.tolist(), "t": t.tolist(),
            "image_size": [job["camera"]["width"], job["camera"]["height"]], "mesh": job["mesh"],
            "eye_color_srgb": job["eye_color_srgb"], "albedo": job["albedo"], "exposure_gain": gain,
            **_true_landmarks(job["mesh"], K, R, t), "render": json.loads((folder / "render.json").read_text())}
    (folder / "scene.json").write_text(json.dumps(meta))


def _refresh_landmarks(meta_path: Path, meta: dict) -> None:
    """Recomputes a cached render's true landmarks when the correspondence file changed since it was made."""
    if meta.get("correspondence") == correspondence_hash():
        return
    K, R, t = (np.asarray(meta[k], np.float64) for k in ("K", "R", "t"))
    meta.update(_true_landmarks(meta["mesh"], K, R, t))
    meta_path.write_text(json.dumps(meta))


def load_scene(folder: Path) -> dict:
    """The ``scene.json`` of a generated render."""
    return json.loads((Path(folder) / "scene.json").read_text())


def generate(cache: Path = DEFAULT_CACHE, subset: bool = False, log=print) -> list[Path]:
    """Makes (or reuses) every render of the full set or the subset; returns their folders."""
    # Every albedo of ALBEDO_SPECS (a second each) in the full set; the subset makes only its own.
    albedos = None if subset else set(gt_albedos.ALBEDO_SPECS)
    return render_scenes(scenes(subset), cache, SAMPLES["subset" if subset else "full"], albedos, log)


def render_scenes(todo: list[Scene], cache: Path, samples: int, albedos: set[str] | None = None,
                  log=print) -> list[Path]:
    """Makes (or reuses) the renders of ``todo`` in ``cache`` with ``samples`` per pixel; ``albedos``
    the ground-truth albedos to make (None: those the scenes use). Returns the render folders."""
    start = time.perf_counter()
    _albedos(cache, {s.head.albedo for s in todo} if albedos is None else albedos)
    jobs, pending = [], []
    for scene in todo:
        job = _job(cache, scene, samples)
        key = _key(job, scene)
        meta = Path(job["out_dir"]) / "scene.json"
        old = json.loads(meta.read_text()) if meta.is_file() else {}
        if old.get("key") == key:
            _refresh_landmarks(meta, old)
            continue
        jobs.append(job)
        pending.append((scene, job, key))
    log(f"ground truth: {len(todo)} scenes, {len(jobs)} to render ({time.perf_counter() - start:.1f} s so far)")
    if jobs:
        _render(jobs, cache)
        for scene, job, key in pending:
            _finish(scene, job, key)
    log(f"ground truth ready in {time.perf_counter() - start:.1f} s")
    return [cache / "renders" / s.id for s in todo]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subset", action="store_true", help="2 heads x 3 lightings, 512 px")
    ap.add_argument("--cache", type=Path, default=None, help=f"default {DEFAULT_CACHE} (the subset: {SUBSET_CACHE})")
    args = ap.parse_args()
    generate(args.cache or (SUBSET_CACHE if args.subset else DEFAULT_CACHE), args.subset)


if __name__ == "__main__":
    sys.exit(main())
