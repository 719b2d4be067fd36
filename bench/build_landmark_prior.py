"""Fits MediaPipe's landmark error model (``engine/fit/data/landmark_prior.json``) on training renders.

Every bare training head (t0-t11, t301-t309; never a benchmark head) is rendered with Cycles from 9
yaws (:mod:`bench.groundtruth.landmark_scenes`). On each render the engine's own detector runs and its
478 points are compared with the true ones (the true mesh's points through the engine's landmark
correspondence, projected). The residual is expressed along the head's image axes, in face sizes, with
the head rotation a PnP on the detected points gives (what the engine has at run time). Per landmark,
a ridge fit gives the bias as a cubic in sin(yaw) plus a pitch term, and the remaining squared error as
a quadratic in sin(yaw) (see :mod:`engine.fit.landmark_prior`).

It prints leave-one-head-out figures: the detected points' error against the truth before and after
the correction (mean distance, % of the true inter-ocular distance), all points and the inner face,
by yaw.

Usage: ``.venv/bin/python bench/build_landmark_prior.py`` (about 15 minutes on 2 cores the first time,
rendering 189 small scenes; about 2 minutes with the renders cached).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.groundtruth.generate import SAMPLES, load_scene, render_scenes  # noqa: E402
from bench.groundtruth.landmark_scenes import landmark_scenes  # noqa: E402
from bench.groundtruth.metrics import inter_ocular  # noqa: E402
from engine.fit import landmark_prior as LP  # noqa: E402

CACHE = REPO / ".cache" / "groundtruth_train"
RIDGE_BIAS = 1e-3
"""Ridge on the bias coefficients (the design's columns are O(1))."""
RIDGE_VAR = 1e-3


@dataclass
class Sample:
    head: str
    yaw_deg: float
    detected: np.ndarray  # (478, 2) px
    truth: np.ndarray  # (478, 2) px
    face_size: float
    R: np.ndarray  # (3, 3) head-to-camera rotation from PnP on the detections


def _pnp_rotation(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """The head rotation the engine starts from (:func:`engine.fit.landmark_fit.initial_rotation`)."""
    from engine.fit.correspondence import load_correspondence
    from engine.fit.landmark_fit import initial_rotation
    from engine.fit.pipeline import landmark_basis
    from engine.head.model import load_head_model

    return initial_rotation(landmark_basis(load_head_model(), load_correspondence()), points, width, height)


def collect(folders: list[Path], log=print) -> list[Sample]:
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks

    out = []
    for folder in folders:
        scene = load_scene(folder)
        photo = load_photo(folder / "photo.png")
        try:
            face = detect_landmarks(photo)
        except Exception as e:  # noqa: BLE001 - a render MediaPipe misses is left out, and said so
            log(f"  {scene['id']}: no face ({e})")
            continue
        w, h = face.image_size
        out.append(Sample(scene["head"]["name"], float(scene["view"]["yaw_deg"]), face.points.astype(np.float64),
                          np.asarray(scene["landmarks478"], np.float64), float(face.face_size),
                          _pnp_rotation(face.points, w, h)))
    log(f"{len(out)} of {len(folders)} renders with landmarks")
    return out


def _head_frame(s: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(478, 2) residual along the head's image axes in face sizes, pose features (P,), variance features (Q,)."""
    axes, sy, sp = LP.head_axes(s.R)
    res = (s.detected - s.truth) @ np.linalg.inv(axes).T / s.face_size
    return res, LP.pose_features(sy, sp), LP.variance_features(sy)


def _ridge(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    return np.linalg.solve(x.T @ x + lam * len(x) * np.eye(x.shape[1]), x.T @ y)


def fit(samples: list[Sample]) -> LP.LandmarkPrior:
    frames = [_head_frame(s) for s in samples]
    res = np.stack([f[0] for f in frames])  # (S, 478, 2)
    xb = np.stack([f[1] for f in frames])
    xv = np.stack([f[2] for f in frames])
    n = res.shape[1]
    bias = _ridge(xb, res.reshape(len(res), -1), RIDGE_BIAS).T.reshape(n, 2, -1)
    left = res - np.einsum("nkp,sp->snk", bias, xb)
    sq = (left ** 2).sum(-1) / 2.0  # (S, 478) per-axis squared error
    variance = _ridge(xv, sq, RIDGE_VAR).T
    frontal = np.maximum(variance @ LP.variance_features(0.0), 1e-12)
    return LP.LandmarkPrior(bias, variance, float(np.sqrt(np.median(frontal))), {})


def _errors(s: Sample, points: np.ndarray, inner: np.ndarray) -> tuple[float, float]:
    iod = inter_ocular(s.truth)
    d = np.linalg.norm(points - s.truth, axis=1) / iod
    return float(d.mean()), float(d[inner].mean())


def validate(samples: list[Sample], inner: np.ndarray, log=print) -> dict:
    """Leave-one-head-out: fit without a head, correct its renders, compare with the raw detections."""
    rows = []
    for head in sorted({s.head for s in samples}):
        prior = fit([s for s in samples if s.head != head])
        for s in (s for s in samples if s.head == head):
            corrected, _ = LP.correct_landmarks(s.detected, s.face_size, s.R, prior)
            rows.append((abs(s.yaw_deg), *_errors(s, s.detected, inner), *_errors(s, corrected, inner)))
    a = np.asarray(rows)
    out = {"renders": len(a)}
    for name, sel in (("all", np.ones(len(a), bool)), ("yaw<=10", a[:, 0] <= 10), ("yaw 20-35", (a[:, 0] > 10) & (a[:, 0] < 40)),
                      ("yaw 50", a[:, 0] >= 40)):
        m = a[sel].mean(0)
        out[name] = {"detected_all": m[1], "detected_inner": m[2], "corrected_all": m[3], "corrected_inner": m[4]}
        log(f"  {name:10s} ({sel.sum():3d}): all {100 * m[1]:.2f} -> {100 * m[3]:.2f} % IOD, "
            f"inner {100 * m[2]:.2f} -> {100 * m[4]:.2f} % IOD")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--out", type=Path, default=LP.PRIOR_PATH)
    args = ap.parse_args()
    from engine.landmarks import FACE_OVAL

    folders = render_scenes(landmark_scenes(), args.cache.resolve(), SAMPLES["subset"])
    samples = collect(folders)
    inner = np.ones(478, bool)
    inner[list(FACE_OVAL)] = False
    print("leave-one-head-out (detected -> corrected), mean distance to the true landmarks:")
    validation = validate(samples, inner)
    prior = fit(samples)
    info = {"fitted_on": f"{len(samples)} Cycles renders of {len({s.head for s in samples})} training heads "
                         "(bench/groundtruth/landmark_scenes.py), yaw -50...+50 degrees",
            "leave_one_head_out": validation}
    prior = LP.LandmarkPrior(prior.bias, prior.variance, prior.sigma_ref, info)
    args.out.write_text(json.dumps(LP.prior_to_json(prior)))
    print(f"wrote {args.out} (sigma_ref {prior.sigma_ref:.4f} face sizes)")


if __name__ == "__main__":
    sys.exit(main())
