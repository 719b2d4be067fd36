"""Fits the engine's hair detector (``engine/texture/data/hair_model.json``) on training renders.

1. Renders the training scenes (:mod:`bench.groundtruth.train_scenes`: heads with hair cards, their
   bare twins, bare heads under HDRIs; with ``--model glasses`` also heads wearing glasses frames (black
   and tortoise acetate, gold metal), a frame over the skin being an occluder like hair; none is a
   benchmark scene) into ``.cache/groundtruth_train``.
2. Runs the engine on each photo and records the detector's per-texel cues
   (:func:`engine.texture.hair.hair_features`) with nothing detected, so the rest of the texture stage
   does not depend on the model being fitted.
3. Labels: texels of the true face skin whose photo pixel the hair (or the frame) covers (> 0.5,
   Cycles' coverage mask) are hair, those it leaves clear (< 0.05) and the seen face skin of a bare head are skin;
   partly covered texels are left out.
4. Fits a logistic model (every scene weighs the same, hair and skin texels balanced, a small L2
   penalty), then picks the hysteresis thresholds that maximise the balanced accuracy of the final
   mask (recall of hair texels, 1 - false alarms on skin) over the training scenes.

Usage: ``.venv/bin/python bench/build_hair_model.py [--model hair|glasses]`` (hair: 44 training renders,
``engine/texture/data/hair_model.json``; glasses: 52, ``glasses_model.json``; about 12 / 15 minutes on 2
cores with the renders cached).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from unittest import mock

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.groundtruth.generate import SAMPLES, load_scene, render_scenes  # noqa: E402
from bench.groundtruth.layout import layout  # noqa: E402
from bench.groundtruth.score import seen_face_skin  # noqa: E402
from bench.groundtruth.score_hair import hair_texels  # noqa: E402
from bench.groundtruth.train_scenes import glasses_train_scenes, train_scenes  # noqa: E402
from engine.texture import hair as H  # noqa: E402

CACHE = REPO / ".cache" / "groundtruth_train"
ROWS_PER_CLASS = 30000
"""Texels of each class sampled per scene for the fit."""
L2 = 1e-3
GRID_GROW = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)
GRID_SEED = (0.6, 0.7, 0.8, 0.9)


@dataclass
class Sample:
    """One scene: ``features`` (its cues), ``hair`` / ``skin`` (N, N) bool label masks."""

    name: str
    features: H.HairFeatures
    hair: np.ndarray
    skin: np.ndarray


def _capture(photo: Path) -> H.HairFeatures:
    """The detector's cues on ``photo`` (the engine run with a model that finds nothing)."""
    from engine.api import ReconstructOptions, reconstruct

    got: list[H.HairFeatures] = []

    def keep(*args, **kwargs):
        f = H.hair_features(*args, **kwargs)
        got.append(f)
        return f

    blank = H.HairModel(H.FEATURE_NAMES, np.zeros(len(H.FEATURE_NAMES)), np.ones(len(H.FEATURE_NAMES)),
                        np.zeros(len(H.FEATURE_NAMES)), -30.0)
    with mock.patch("engine.texture.correct.hair_features", keep), \
            mock.patch("engine.texture.correct.HairModel.load", return_value=blank):
        reconstruct(photo, ReconstructOptions(texture_size=1024))
    if len(got) != 1:
        raise RuntimeError(f"{photo}: the detector ran {len(got)} times")
    return got[0]


def _labels(folder: Path, lay, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scene = load_scene(folder)
    verts = np.load(scene["mesh"])["vertices"].astype(np.float64)
    mask = folder / "mask_hair.png"
    if scene.get("hair") and mask.is_file():
        t = hair_texels(lay, scene, verts, cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE) / 255.0)
        return t.covered & cand, t.clear & cand
    seen = seen_face_skin(lay, scene, verts)
    return np.zeros_like(cand), cand & seen


def collect(folders: list[Path], log=print) -> list[Sample]:
    lay = layout(1024)
    out = []
    for i, folder in enumerate(folders):
        feats = _capture(folder / "photo.png")
        hair, skin = _labels(folder, lay, feats.cand)
        out.append(Sample(folder.name, feats, hair, skin))
        log(f"[{i + 1}/{len(folders)}] {folder.name}: {int(hair.sum())} hair, {int(skin.sum())} skin texels")
    return out


def _rows(s: Sample, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, w) sampled rows of one scene; each class of the scene weighs 1 in total."""
    flat_hair, flat_skin = s.hair[s.features.cand], s.skin[s.features.cand]
    xs, ys, ws = [], [], []
    for label, sel in ((1.0, flat_hair), (0.0, flat_skin)):
        idx = np.nonzero(sel)[0]
        if len(idx) == 0:
            continue
        idx = rng.choice(idx, min(len(idx), ROWS_PER_CLASS), replace=False)
        xs.append(s.features.values[idx].astype(np.float64))
        ys.append(np.full(len(idx), label))
        ws.append(np.full(len(idx), 1.0 / len(idx)))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = L2, iters: int = 30
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, weights, bias) of a weighted L2-penalised logistic regression (Newton steps);
    the two classes are reweighted to the same total."""
    w = w.copy()
    for label in (0.0, 1.0):
        w[y == label] /= w[y == label].sum()
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = np.concatenate([(x - mean) / scale, np.ones((len(x), 1))], axis=1)
    beta = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + reg * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return mean, scale, beta[:-1], float(beta[-1])


def mask_scores(samples: list[Sample], model: H.HairModel) -> tuple[float, float, list[tuple[str, float, float]]]:
    """(mean recall over hair scenes, mean false-alarm share over all scenes, per scene (name, recall,
    false alarms)) of the final mask."""
    rows = []
    for s in samples:
        mask = H.hair_mask(H.hair_probability(s.features, model), s.features.cand, model)
        rec = float((mask & s.hair).sum() / s.hair.sum()) if s.hair.sum() else float("nan")
        rows.append((s.name, rec, float((mask & s.skin).sum() / max(int(s.skin.sum()), 1))))
    recalls = [r for _, r, _ in rows if np.isfinite(r)]
    return float(np.mean(recalls)), float(np.mean([f for _, _, f in rows])), rows


def build(samples: list[Sample], log=print) -> tuple[H.HairModel, dict]:
    rng = np.random.default_rng(0)
    parts = [_rows(s, rng) for s in samples]
    x, y, w = (np.concatenate(p) for p in zip(*parts))
    mean, scale, weights, bias = fit_logistic(x, y, w)
    model = H.HairModel(H.FEATURE_NAMES, mean, scale, weights, bias)
    best = None
    for grow in GRID_GROW:
        for seed in GRID_SEED:
            if seed <= grow:
                continue
            m = replace(model, grow=grow, seed=seed)
            rec, fa, _ = mask_scores(samples, m)
            score = 0.5 * (rec + 1.0 - fa)
            log(f"grow {grow:.2f} seed {seed:.2f}: recall {rec:.3f}, false alarms {fa:.3f}, balanced {score:.3f}")
            if best is None or score > best[0]:
                best = (score, m, rec, fa)
    score, model, rec, fa = best
    _, _, rows = mask_scores(samples, model)
    for name, r, f in rows:
        log(f"  {name}: recall {r:.3f}, false alarms {f:.3f}")
    info = {"fitted_on": f"{len(samples)} training renders (bench/groundtruth/train_scenes.py), "
                         f"{int(y.sum())} hair and {int((1 - y).sum())} skin texels sampled",
            "train_recall": round(rec, 4), "train_false_alarms": round(fa, 4), "train_balanced": round(score, 4)}
    return model, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--model", choices=("hair", "glasses"), default="hair",
                    help="hair: the training scenes with hair cards and bare heads (hair_model.json); glasses: "
                         "those and the training heads wearing glasses frames (glasses_model.json)")
    ap.add_argument("--out", type=Path, default=None, help="default: the engine's data file of --model")
    args = ap.parse_args()
    glasses = args.model == "glasses"
    out = args.out or (H.GLASSES_MODEL_PATH if glasses else H.MODEL_PATH)
    scenes = train_scenes() + (glasses_train_scenes() if glasses else [])
    folders = render_scenes(scenes, args.cache.resolve(), SAMPLES["full"])
    model, info = build(collect(folders))
    out.write_text(model.to_json({"generated_by": f"bench/build_hair_model.py --model {args.model}", **info}))
    print(f"wrote {out}: {info}")


if __name__ == "__main__":
    main()
