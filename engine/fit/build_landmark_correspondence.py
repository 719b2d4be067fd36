"""Regenerates ``engine/fit/data/landmark_correspondence.npz``: where each of MediaPipe's 478 landmarks
lies on the head mesh (a triangle and barycentric coordinates).

Method: render the template head (skin colour, darker brows, red lips, dark eyes, soft light) from
a grid of yaws and pitches, detect the 478 landmarks on every render with the same MediaPipe model the
engine uses, back-project each landmark through the rasterizer onto the surface (triangle id +
barycentrics at its pixel), take the per-landmark median of the 3D points over the views where that
surface faces the camera, and snap the median to the closest point of the allowed part (the eyeballs
for the 10 iris points, the skin for the rest). The inner-lip points are placed the same way on the template
with its jaw open (:data:`OPEN_MOUTH`): with the mouth closed both lips' inner points meet on one line and land
on the same triangles, so a fitted mouth could never open.

Run: ``python -m engine.fit.build_landmark_correspondence [--show DIR] [--inner-lips-only]``.

The shipped file is the build of ``b216798`` (the detector of that time) with its inner-lip points placed by
``--inner-lips-only``. A full build with today's detector (it averages each point with its mirror point's
measurement in the mirrored photo) moves the other points by 1 mm median, up to 17 mm on the outline, and the
whole fit with them: on the ground-truth benchmark the hard-light renders' seen-skin error went 9.2 -> 9.8
ΔE00 (the de-lighter's key-light search is sensitive to small changes of the mesh) for the same geometry, so
it waits until the fit's settings are tuned again with it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from engine.fit.camera import HEAD_TO_OPENCV_FRONT
from engine.head.model import HeadModel, load_head_model
from engine.images import Photo
from engine.landmarks import LIPS_INNER, detect_landmarks
from engine.render import interpolate, make_context, opencv_to_clip, rasterize, sh_from_directional, sh_shading

OUTPUT = Path(__file__).parent / "data" / "landmark_correspondence.npz"
SIZE = 512
FOCAL = 1.5 * SIZE
DISTANCE = 0.75
YAWS = (-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0)
PITCHES = (-10.0, 0.0, 10.0)
IRIS = np.arange(468, 478)
OPEN_MOUTH = {"jawOpen": 0.5}
"""Expression the inner-lip points (``engine.landmarks.LIPS_INNER``) are placed with: the lips apart, so the
upper lip's inner points land on the upper lip and the lower lip's on the lower (the triangles carry over
to every expression)."""

# sRGB-ish base colours per region, converted to linear below.
REGION_COLOURS = {
    "lips": (0.72, 0.38, 0.36), "eyebrows": (0.30, 0.20, 0.15), "eye_l": (0.25, 0.18, 0.14),
    "eye_r": (0.25, 0.18, 0.14), "mouth_inside": (0.35, 0.12, 0.12), "teeth_upper": (0.9, 0.88, 0.8),
    "teeth_lower": (0.9, 0.88, 0.8), "tongue": (0.6, 0.25, 0.25),
}
SKIN = (0.85, 0.66, 0.55)


def vertex_colours(model: HeadModel) -> torch.Tensor:
    """(V, 3) linear RGB: skin everywhere, region colours where the model labels them."""
    colours = torch.tensor(SKIN).repeat(model.num_vertices, 1)
    for name, rgb in REGION_COLOURS.items():
        if name in model.region_names:
            colours[model.vertex_region == model.region_id(name)] = torch.tensor(rgb)
    return colours ** 2.2


def view_rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Head space -> OpenCV camera rotation for a camera orbiting the head (yaw about +Y, pitch about +X)."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    return HEAD_TO_OPENCV_FRONT @ rx @ ry


def render_view(model: HeadModel, verts: torch.Tensor, colours: torch.Tensor, R: np.ndarray, t: np.ndarray,
                K: np.ndarray):
    """Returns (sRGB uint8 image, rast) of the template head with vertices ``verts`` (V, 3) seen by camera
    (K, R, t)."""
    ctx = make_context("cpu", backend="torch")
    clip = opencv_to_clip(verts, torch.tensor(K, dtype=torch.float32), torch.tensor(R, dtype=torch.float32),
                          torch.tensor(t, dtype=torch.float32), SIZE, SIZE)
    faces = model.faces.to(torch.int32)
    rast, _ = rasterize(ctx, clip[None], faces, (SIZE, SIZE), grad_db=False)
    normals = model.vertex_normals(verts)
    attrs = torch.cat([colours, normals], dim=1)
    out, _ = interpolate(attrs[None], rast, faces)
    albedo, n = out[..., :3], torch.nn.functional.normalize(out[..., 3:], dim=-1)
    light_dir = torch.tensor([0.3, 0.5, 1.0])  # head space: above, slightly to the head's left, in front
    coeffs = sh_from_directional(light_dir, diffuse=0.8, ambient=0.35)
    colour = albedo * sh_shading(n, coeffs)
    background = torch.full_like(colour, 0.25)
    mask = (rast[..., 3:] > 0).float()
    img = colour * mask + background * (1 - mask)
    srgb = (img.clamp(0, 1) ** (1 / 2.2) * 255 + 0.5).to(torch.uint8)[0].numpy()
    return srgb, rast[0]


def surface_point(model: HeadModel, rast: torch.Tensor, xy: np.ndarray) -> tuple[int, np.ndarray] | None:
    """Triangle index and barycentrics under pixel ``xy`` (nearest pixel), or None on background."""
    col, row = int(round(xy[0])), int(round(xy[1]))
    if not (0 <= col < SIZE and 0 <= row < SIZE):
        return None
    u, v, _, tid = rast[row, col].tolist()
    if tid <= 0:
        return None
    return int(tid) - 1, np.array([u, v, 1.0 - u - v])


def closest_points_on_triangles(points: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (N, 3) points and (F, 3, 3) triangles: index of the closest triangle and barycentrics of the point."""
    best_d = np.full(len(points), np.inf)
    best_f = np.zeros(len(points), dtype=np.int64)
    best_b = np.zeros((len(points), 3))
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    for i, p in enumerate(points):
        bary = _closest_bary(p, a, b, c)
        q = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
        d = ((q - p) ** 2).sum(1)
        k = int(np.argmin(d))
        best_d[i], best_f[i], best_b[i] = d[k], k, bary[k]
    return best_f, best_b


def _closest_bary(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentrics of the closest point to p on each triangle (projection, then clamped to the triangle)."""
    e0, e1, vp = b - a, c - a, p - a
    d00, d01, d11 = (e0 * e0).sum(1), (e0 * e1).sum(1), (e1 * e1).sum(1)
    d20, d21 = (vp * e0).sum(1), (vp * e1).sum(1)
    den = np.maximum(d00 * d11 - d01 * d01, 1e-18)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    bary = np.stack([1 - v - w, v, w], 1)
    inside = (bary >= 0).all(1)
    out = bary.copy()
    # Outside: clamp to the best of the three edges.
    if (~inside).any():
        verts = np.stack([a, b, c], 1)
        cand = []
        for i, j in ((0, 1), (1, 2), (2, 0)):
            pa, pb = verts[:, i], verts[:, j]
            e = pb - pa
            s = np.clip(((p - pa) * e).sum(1) / np.maximum((e * e).sum(1), 1e-18), 0, 1)
            q = pa + s[:, None] * e
            bb = np.zeros_like(bary)
            bb[:, i], bb[:, j] = 1 - s, s
            cand.append((((q - p) ** 2).sum(1), bb))
        dists = np.stack([c_[0] for c_ in cand], 1)
        pick = np.argmin(dists, 1)
        edge_bary = np.stack([c_[1] for c_ in cand], 1)[np.arange(len(a)), pick]
        out[~inside] = edge_bary[~inside]
    return out


def _expression(model: HeadModel, weights: dict[str, float]) -> torch.Tensor:
    """(E,) expression weights with the named ones set."""
    e = torch.zeros(model.num_expressions)
    for name, w in weights.items():
        e[model.expression_names.index(name)] = w
    return e


def collect(model: HeadModel, verts: torch.Tensor, K: np.ndarray, show: Path | None = None
            ) -> tuple[list[list[np.ndarray]], list]:
    """Per landmark, the 3D surface points (on ``verts`` (V, 3)) under its detections over the view grid where
    that surface faces the camera (any for the iris); and the views ``(R, t, detected points)``."""
    colours = vertex_colours(model)
    v64 = verts.numpy().astype(np.float64)
    faces = model.faces.numpy()
    normals = model.vertex_normals(verts).numpy()
    samples: list[list[np.ndarray]] = [[] for _ in range(478)]
    views = []
    for yaw in YAWS:
        for pitch in PITCHES:
            R = view_rotation(yaw, pitch)
            t = np.array([0.0, 0.0, DISTANCE]) - R @ np.array([0.0, 0.02, 0.0])
            img, rast = render_view(model, verts, colours, R, t, K)
            photo = Photo(rgb=img, path=Path(f"template_yaw{yaw:+.0f}_pitch{pitch:+.0f}.png"),
                          original_size=(SIZE, SIZE), scale=1.0)
            try:
                lms = detect_landmarks(photo)
            except Exception as err:  # noqa: BLE001 - a view without detection is skipped, and reported
                print(f"yaw {yaw:+.0f} pitch {pitch:+.0f}: no detection ({err})")
                continue
            views.append((R, t, lms.points))
            cam_centre = -R.T @ t
            for i, xy in enumerate(lms.points):
                hit = surface_point(model, rast, xy)
                if hit is None:
                    continue
                f, bary = hit
                p = (v64[faces[f]] * bary[:, None]).sum(0)
                n = (normals[faces[f]] * bary[:, None]).sum(0)
                view_dir = cam_centre - p
                facing = n @ view_dir / (np.linalg.norm(n) * np.linalg.norm(view_dir) + 1e-12)
                if facing > 0.25 or i in IRIS:
                    samples[i].append(p)
            if show is not None:
                _show(show, f"view_{yaw:+.0f}_{pitch:+.0f}", img, lms.points)
    return samples, views


def _show(folder: Path, name: str, img: np.ndarray, points: np.ndarray) -> None:
    import cv2

    from engine.overlay import draw_overlay

    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{name}.png"), draw_overlay(img, points)[..., ::-1])


def snap(model: HeadModel, verts: np.ndarray, median: np.ndarray, idx: np.ndarray, allowed: tuple[str, ...]
         ) -> tuple[np.ndarray, np.ndarray]:
    """Triangles and barycentrics of the closest points of the ``allowed`` parts of ``verts`` (V, 3) to
    ``median[idx]``."""
    faces, parts = model.faces.numpy(), model.face_part.numpy()
    allowed_faces = np.nonzero(np.isin(parts, [model.part_id(p) for p in allowed]))[0]
    f_local, b = closest_points_on_triangles(median[idx], verts[faces[allowed_faces]])
    return allowed_faces[f_local], b


def _report(points: np.ndarray, views: list, K: np.ndarray, spread: np.ndarray, which: np.ndarray, label: str) -> None:
    """Prints the reprojection error of the placed ``points`` (478, 3) ``which`` over the ``views``."""
    errors = []
    for R, t, detected in views:
        proj = (points[which] @ R.T + t) @ K.T
        proj = proj[:, :2] / proj[:, 2:]
        iod = np.linalg.norm(detected[[33, 133]].mean(0) - detected[[362, 263]].mean(0))
        errors.append(np.linalg.norm(proj - detected[which], axis=1).mean() / iod)
    print(f"{label}: views detected: {len(views)} / {len(YAWS) * len(PITCHES)}; "
          f"median spread {np.median(spread) * 1000:.2f} mm; template reprojection error "
          f"{np.mean(errors) * 100:.2f}% IOD (max view {np.max(errors) * 100:.2f}%)")


def _medians(samples: list[list[np.ndarray]], which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    missing = [int(i) for i in which if not samples[i]]
    if missing:
        raise RuntimeError(f"landmarks never seen on a facing surface: {missing[:20]}")
    median = np.zeros((478, 3))
    spread = np.zeros(478)
    for i in which:
        s = np.stack(samples[i])
        median[i] = np.median(s, axis=0)
        spread[i] = np.median(np.linalg.norm(s - median[i], axis=1))
    return median, spread


def build(show: Path | None = None, keep: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The correspondence of all 478 points; with ``keep`` (a correspondence's arrays) only the inner-lip
    points are placed and every other point is kept as it is there."""
    model = load_head_model()
    K = np.array([[FOCAL, 0, (SIZE - 1) / 2], [0, FOCAL, (SIZE - 1) / 2], [0, 0, 1.0]])
    inner = np.array(LIPS_INNER)
    rest = np.setdiff1d(np.arange(478), np.concatenate([IRIS, inner]))
    open_verts = model.shaped_vertices(None, _expression(model, OPEN_MOUTH))
    face_index = np.zeros(478, dtype=np.int64)
    bary = np.zeros((478, 3))
    spread = np.zeros(478)
    passes = [(open_verts, ((inner, ("skin",)),), "open mouth (inner lips)")]
    if keep is None:
        passes.insert(0, (model.vertices, ((IRIS, ("eye_l", "eye_r")), (rest, ("skin",))), "closed mouth"))
    else:
        face_index[:], bary[:], spread[:] = keep["face_index"], keep["barycentric"], keep["spread_m"]
    detected = int(keep["views"]) if keep is not None else len(YAWS) * len(PITCHES)
    for verts, groups, label in passes:
        folder = None if show is None else show / label.split(" (")[0].replace(" ", "_")
        samples, views = collect(model, verts, K, folder)
        which = np.concatenate([g[0] for g in groups])
        median, spr = _medians(samples, which)
        v64 = verts.numpy().astype(np.float64)
        for idx, allowed in groups:
            face_index[idx], bary[idx] = snap(model, v64, median, idx, allowed)
        spread[which] = spr[which]
        points = (v64[model.faces.numpy()[face_index]] * bary[:, :, None]).sum(1)
        _report(points, views, K, spr[which], which, label)
        detected = min(detected, len(views))
    return {"face_index": face_index, "barycentric": bary.astype(np.float32),
            "spread_m": spread.astype(np.float32), "views": np.array(detected)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=Path, help="write the landmark overlays of every view here")
    parser.add_argument("--inner-lips-only", action="store_true",
                        help="place only the inner-lip points and keep the others from the file there now")
    args = parser.parse_args()
    keep = dict(np.load(OUTPUT)) if args.inner_lips_only else None
    data = build(args.show, keep)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUTPUT, **data)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
