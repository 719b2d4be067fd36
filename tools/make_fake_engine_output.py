"""Write a realistic stand-in for an engine output folder (numpy only; runs in any Python with numpy).

Until the real engine runs end to end, the Blender add-on is developed and tested against this folder.
It follows docs/conventions.md and ffhquv_blender/MESH_NPZ.md exactly: a head-like closed mesh
(ellipsoid skull with nose, brow, chin and a narrower neck; ~3k vertices) with per-corner UVs, the parts
skin / eye_l / eye_r / teeth_upper / teeth_lower / tongue, 52 ARKit blendshapes, an sRGB albedo with
hair, brows, lips and cheeks painted in UV space, an OpenGL tangent-space normal map, a roughness map,
params.json with a camera that puts the head over the astronaut's face in skimage's astronaut.png
(512x512), head.obj/head.mtl, overlay.png and relit.png placeholders. No head.glb (the add-on never
reads it).

    python tools/make_fake_engine_output.py OUT_DIR [--photo PHOTO] [--texture-size 1024] [--expression keep]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ARKIT_NAMES", "FakeHead", "make_fake_head", "make_fake_output", "write_png"]


def _addon_names():
    """The add-on's name tables: ``ffhquv_blender/names.py`` imports nothing, so it loads by path
    without the package (whose ``__init__`` needs bpy)."""
    path = Path(__file__).resolve().parents[1] / "ffhquv_blender" / "names.py"
    spec = importlib.util.spec_from_file_location("_ffhquv_blender_names", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_NAMES = _addon_names()
ARKIT_NAMES: tuple[str, ...] = _NAMES.ARKIT_NAMES
PART_NAMES: tuple[str, ...] = _NAMES.PART_NAMES

# Head placement in head space (metres): deliberately not at the origin.
CENTER = np.array([0.0, 1.55, 0.02])
RADII = np.array([0.078, 0.115, 0.095])  # x half-width, y half-height, z half-depth
N_THETA, N_PHI = 40, 64                  # rings from top to bottom, segments around


@dataclass(frozen=True)
class FakeHead:
    """Arrays of head_mesh.npz (see MESH_NPZ.md), head space metres, UV v up."""

    neutral: np.ndarray          # (V, 3) float32
    faces: np.ndarray            # (F, 3) int32
    face_uvs: np.ndarray         # (F, 3, 2) float32
    face_part: np.ndarray        # (F,) int32
    deltas: np.ndarray           # (52, V, 3) float32
    weights: np.ndarray          # (52,) float32


def _surface(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Skin surface point for polar angle theta (0 = top) and azimuth phi (0 = front, +pi/2 = head's left)."""
    st, ct = np.sin(theta), np.cos(theta)
    x, y, z = RADII[0] * st * np.sin(phi), RADII[1] * ct, RADII[2] * st * np.cos(phi)
    front = np.clip(np.cos(phi), 0, None)
    neck = np.clip((theta - 0.72 * np.pi) / (0.28 * np.pi), 0, 1)  # narrow towards the bottom
    x, z = x * (1 - 0.45 * neck), z * (1 - 0.45 * neck) - 0.02 * neck
    nose = 0.022 * np.exp(-((phi / 0.13) ** 2 + ((theta - 0.56 * np.pi) / 0.09) ** 2)) * front
    brow = 0.007 * np.exp(-(((theta - 0.42 * np.pi) / 0.05) ** 2)) * front ** 4
    chin = 0.010 * np.exp(-((phi / 0.35) ** 2 + ((theta - 0.76 * np.pi) / 0.07) ** 2)) * front
    sockets = -0.006 * sum(np.exp(-(((phi - s) / 0.14) ** 2 + ((theta - 0.47 * np.pi) / 0.06) ** 2)) for s in (-0.36, 0.36))
    z = z + nose + brow + chin + sockets * front
    return np.stack([x, y, z], -1) + CENTER


def _grid_mesh(n_theta: int, n_phi: int, point_fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed lat-long mesh: vertices (2 poles + rings), triangles, per-corner UVs (seam-correct)."""
    thetas = np.pi * np.arange(1, n_theta) / n_theta
    phis = -np.pi + 2 * np.pi * np.arange(n_phi) / n_phi
    tt, pp = np.meshgrid(thetas, phis, indexing="ij")
    verts = np.concatenate([point_fn(np.array([0.0]), np.array([0.0])), point_fn(tt, pp).reshape(-1, 3),
                            point_fn(np.array([np.pi]), np.array([0.0]))])
    top, bottom = 0, len(verts) - 1

    def ring(i: int, j: int) -> int:  # i in 1..n_theta-1, j may equal n_phi (wraps)
        return 1 + (i - 1) * n_phi + (j % n_phi)

    def uv(i: int, j: int) -> tuple[float, float]:
        return (j / n_phi, 1.0 - i / n_theta)

    faces, uvs = [], []
    for j in range(n_phi):  # pole fans, counter-clockwise seen from outside
        faces.append((top, ring(1, j + 1), ring(1, j)))
        uvs.append((((j + 0.5) / n_phi, 1.0), uv(1, j + 1), uv(1, j)))
        faces.append((bottom, ring(n_theta - 1, j), ring(n_theta - 1, j + 1)))
        uvs.append((((j + 0.5) / n_phi, 0.0), uv(n_theta - 1, j), uv(n_theta - 1, j + 1)))
    for i in range(1, n_theta - 1):
        for j in range(n_phi):
            a, b, c, d = ring(i, j), ring(i, j + 1), ring(i + 1, j + 1), ring(i + 1, j)
            faces += [(a, b, c), (a, c, d)]
            uvs += [(uv(i, j), uv(i, j + 1), uv(i + 1, j + 1)), (uv(i, j), uv(i + 1, j + 1), uv(i + 1, j))]
    return verts, np.array(faces, np.int64), np.array(uvs, np.float32)


def _ellipsoid(center: np.ndarray, radii: np.ndarray, n_theta: int = 12, n_phi: int = 16):
    def point(theta, phi):
        st = np.sin(theta)
        return np.stack([radii[0] * st * np.sin(phi), radii[1] * np.cos(theta), radii[2] * st * np.cos(phi)], -1) + center
    return _grid_mesh(n_theta, n_phi, point)


def _front_z(x: float, y: float) -> float:
    """z of the skin surface in front of (x, y), by ray marching the parametric surface (coarse, fine for a fake)."""
    tt, pp = np.meshgrid(np.linspace(0.25, 0.85, 240) * np.pi, np.linspace(-1.2, 1.2, 240), indexing="ij")
    pts = _surface(tt, pp)
    k = np.argmin((pts[..., 0] - x) ** 2 + (pts[..., 1] - y) ** 2)
    return float(pts.reshape(-1, 3)[k, 2])


def _gauss(points: np.ndarray, center: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-np.sum((points - center) ** 2, axis=-1) / (2 * sigma ** 2))


def make_fake_head(expression: str = "keep") -> FakeHead:
    """Build the fake head mesh, its parts and 52 blendshapes (all non-zero, some anatomically placed)."""
    parts = [_grid_mesh(N_THETA, N_PHI, _surface)]
    eye_y = CENTER[1] + 0.012
    eye_centers = []
    for side in (1.0, -1.0):  # eye_l is on +X
        x = side * 0.031
        c = np.array([x, eye_y, _front_z(x, eye_y) - 0.006])
        eye_centers.append(c)
        parts.append(_ellipsoid(c, np.array([0.0115] * 3)))
    mouth_y = CENTER[1] - 0.052
    mz = _front_z(0.0, mouth_y) - 0.02
    parts.append(_ellipsoid(np.array([0.0, mouth_y + 0.005, mz]), np.array([0.022, 0.005, 0.012]), 6, 16))
    parts.append(_ellipsoid(np.array([0.0, mouth_y - 0.006, mz]), np.array([0.021, 0.005, 0.012]), 6, 16))
    parts.append(_ellipsoid(np.array([0.0, mouth_y - 0.004, mz - 0.012]), np.array([0.017, 0.006, 0.022]), 8, 16))

    verts_l, faces_l, uvs_l, part_l = [], [], [], []
    offset = 0
    for pid, (v, f, uv) in enumerate(parts):
        verts_l.append(v)
        faces_l.append(f + offset)
        uvs_l.append(uv)
        part_l.append(np.full(len(f), pid, np.int32))
        offset += len(v)
    neutral = np.concatenate(verts_l).astype(np.float32)
    faces = np.concatenate(faces_l).astype(np.int32)
    face_part = np.concatenate(part_l)
    vert_part = np.zeros(len(neutral), np.int32)
    vert_part[faces.ravel()] = np.repeat(face_part, 3)
    deltas = _blendshapes(neutral, vert_part, eye_centers, mouth_y)
    weights = np.zeros(len(ARKIT_NAMES), np.float32)
    if expression == "keep":
        for name, w in (("jawOpen", 0.15), ("mouthSmileLeft", 0.6), ("mouthSmileRight", 0.55), ("browInnerUp", 0.2)):
            weights[ARKIT_NAMES.index(name)] = w
    return FakeHead(neutral=neutral, faces=faces, face_uvs=np.concatenate(uvs_l).astype(np.float32),
                    face_part=face_part, deltas=deltas, weights=weights)


def _blendshapes(verts: np.ndarray, vert_part: np.ndarray, eyes: list[np.ndarray], mouth_y: float) -> np.ndarray:
    """(52, V, 3) float32 offsets: jaw, blinks, smiles, brows, tongue placed on the anatomy, the rest as bumps."""
    skin, front = vert_part == 0, verts[:, 2] > CENTER[2]
    deltas = np.zeros((len(ARKIT_NAMES), len(verts), 3), np.float32)
    lower_face = skin & front & (verts[:, 1] < mouth_y) & (verts[:, 1] > CENTER[1] - 0.11)
    jaw = np.where(lower_face, np.clip((mouth_y - verts[:, 1]) / 0.02, 0, 1), 0.0)
    jaw[np.isin(vert_part, (4, 5))] = 1.0
    rng = np.random.default_rng(7)
    for k, name in enumerate(ARKIT_NAMES):
        d = deltas[k]
        side = 1.0 if name.endswith("Left") else -1.0 if name.endswith("Right") else 0.0
        if name == "jawOpen":
            d[:, 1] = -0.016 * jaw
            d[:, 2] = -0.004 * jaw
        elif name.startswith("eyeBlink"):
            eye = eyes[0] if side > 0 else eyes[1]
            w = _gauss(verts, eye + [0, 0.006, 0.008], 0.008) * skin
            d[:, 1] = -0.006 * w
        elif name.startswith("eyeLook"):
            part = 1 if side > 0 else 2
            direction = {"Up": (0, 1), "Down": (0, -1), "In": (-side, 0), "Out": (side, 0)}[name[7:-4] if side > 0 else name[7:-5]]
            m = (vert_part == part) & (verts[:, 2] > (eyes[0][2] if side > 0 else eyes[1][2]))
            d[m, 0], d[m, 1] = 0.003 * direction[0], 0.003 * direction[1]
        elif name.startswith("mouthSmile"):
            w = _gauss(verts, np.array([side * 0.024, mouth_y, _front_z(side * 0.024, mouth_y)]), 0.012) * skin
            d[:, 0], d[:, 1] = side * 0.004 * w, 0.006 * w
        elif name == "tongueOut":
            d[vert_part == 5, 2] = 0.03
        elif name.startswith("brow"):
            x = 0.0 if name == "browInnerUp" else side * 0.035
            y = CENTER[1] + 0.035
            w = _gauss(verts, np.array([x, y, _front_z(x, y)]), 0.014) * skin
            d[:, 1] = (-0.004 if "Down" in name else 0.005) * w
        else:  # a small bump along the surface normal at a face location tied to the name
            x, y = side * 0.03 if side else rng.uniform(-0.03, 0.03), CENTER[1] + rng.uniform(-0.08, 0.02)
            p = np.array([x, y, _front_z(x, y)])
            w = _gauss(verts, p, 0.012) * skin
            n = verts - CENTER
            n /= np.linalg.norm(n, axis=1, keepdims=True)
            d[:] = 0.003 * w[:, None] * n
    return deltas


def _box_blur(img: np.ndarray, r: int) -> np.ndarray:
    """Separable box blur with wrap-around, (H, W) float."""
    out = img
    for axis in (0, 1):
        c = np.cumsum(np.concatenate([out.take(range(-r - 1, 0), axis=axis), out, out.take(range(0, r), axis=axis)], axis=axis), axis=axis)
        n = out.shape[axis]
        out = (c.take(range(2 * r + 1, 2 * r + 1 + n), axis=axis) - c.take(range(0, n), axis=axis)) / (2 * r + 1)
    return out


def _textures(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(albedo sRGB uint8 (S,S,3), normal uint8 (S,S,3) OpenGL, roughness uint8 (S,S)), row 0 = v top."""
    rows = (np.arange(size) + 0.5) / size
    theta = np.pi * rows[:, None] * np.ones((1, size))
    phi = (2 * np.pi * (np.arange(size) + 0.5) / size - np.pi)[None, :] * np.ones((size, 1))
    rng = np.random.default_rng(3)
    noise = _box_blur(rng.standard_normal((size, size)), max(1, size // 256))

    def blob(p0, t0, sp, st):
        return np.exp(-(((phi - p0) / sp) ** 2 + ((theta - t0 * np.pi) / st) ** 2))

    skin = np.array([0.87, 0.67, 0.57]) * (1 + 0.03 * noise[..., None])
    cheeks = blob(-0.5, 0.58, 0.22, 0.12) + blob(0.5, 0.58, 0.22, 0.12)
    skin = skin * (1 - 0.12 * cheeks[..., None]) + np.array([0.85, 0.45, 0.45]) * 0.12 * cheeks[..., None]
    lips = np.clip(blob(0.0, 0.655, 0.23, 0.035) * 1.6, 0, 1)
    brows = np.clip((blob(-0.38, 0.40, 0.2, 0.022) + blob(0.38, 0.40, 0.2, 0.022)) * 1.4, 0, 1)
    back = np.abs(phi) > 1.3
    hair = np.clip(((0.33 * np.pi - theta) / 0.06 + 0.5), 0, 1)
    hair = np.maximum(hair, back * np.clip(((0.58 * np.pi - theta) / 0.06 + 0.5), 0, 1))
    hair_col = np.array([0.42, 0.28, 0.16]) * (1 + 0.15 * noise[..., None])
    albedo = skin
    for mask, col in ((lips, np.array([0.72, 0.33, 0.33])), (brows, np.array([0.30, 0.20, 0.13])), (hair, hair_col)):
        albedo = albedo * (1 - mask[..., None]) + col * mask[..., None]
    albedo8 = (np.clip(albedo, 0, 1) * 255 + 0.5).astype(np.uint8)

    height = _box_blur(rng.standard_normal((size, size)), 1) * (1 - hair) + 0.6 * hair * np.sin(phi * 300)
    gv, gu = np.gradient(height)  # gv along rows (v down), gu along columns (u right)
    n = np.stack([-gu * 0.25, gv * 0.25, np.ones_like(gu)], -1)  # +Y = +v = up the texture
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    normal8 = ((n * 0.5 + 0.5) * 255 + 0.5).astype(np.uint8)

    rough = 0.55 - 0.15 * blob(0.0, 0.45, 0.25, 0.2) - 0.2 * lips + 0.15 * hair + 0.02 * noise
    rough8 = (np.clip(rough, 0, 1) * 255 + 0.5).astype(np.uint8)
    return albedo8, normal8, rough8


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an 8-bit PNG: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint8, row 0 = top."""
    img = np.ascontiguousarray(image, np.uint8)
    h, w = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * channels)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 3)) + chunk(b"IEND", b""))


def _camera() -> dict:
    """A camera that puts the fake head over the astronaut's face (512x512), slight yaw and pitch."""
    yaw, pitch = np.radians(8.0), np.radians(-4.0)
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    R = np.diag([1.0, -1.0, -1.0]) @ rx @ ry  # head +Z (face) toward the camera
    K = np.array([[600.0, 0, 250.0], [0, 600.0, 262.0], [0, 0, 1]])
    target_px, depth = np.array([226.0, 112.0]), 0.74
    ray = np.linalg.solve(K, np.array([*target_px, 1.0])) * depth  # camera-space point of the head centre
    t = ray - R @ CENTER
    return {"K": K.tolist(), "R": R.tolist(), "t": t.tolist(), "image_size": [512, 512]}


def _write_obj(out: Path, head: FakeHead, verts: np.ndarray) -> None:
    lines = ["mtllib head.mtl"] + [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    uv = head.face_uvs.reshape(-1, 2)
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in uv]
    for pid, name in enumerate(PART_NAMES):
        lines.append(f"usemtl {name}")
        for fi in np.nonzero(head.face_part == pid)[0]:
            a, b, c = head.faces[fi] + 1
            t0 = 3 * fi + 1
            lines.append(f"f {a}/{t0} {b}/{t0 + 1} {c}/{t0 + 2}")
    (out / "head.obj").write_text("\n".join(lines) + "\n")
    mtl = [f"newmtl {n}\nKd 0.8 0.8 0.8" + ("\nmap_Kd albedo.png" if n == "skin" else "") for n in PART_NAMES]
    (out / "head.mtl").write_text("\n\n".join(mtl) + "\n")


def make_fake_output(out_dir: Path, photo: Path | None = None, texture_size: int = 1024, expression: str = "keep") -> Path:
    """Write the whole fake output folder into ``out_dir`` (created) and return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    head = make_fake_head(expression)
    verts = head.neutral + np.einsum("k,kvc->vc", head.weights, head.deltas)
    np.savez_compressed(
        out / "head_mesh.npz", format_version=np.int32(1), vertices=verts.astype(np.float32),
        neutral_vertices=head.neutral, faces=head.faces, face_uvs=head.face_uvs, face_part=head.face_part,
        part_names=np.array(PART_NAMES), blendshape_names=np.array(ARKIT_NAMES),
        blendshape_deltas=head.deltas.astype(np.float16), expression_weights=head.weights,
    )
    albedo, normal, rough = _textures(texture_size)
    write_png(out / "albedo.png", albedo)
    write_png(out / "normal.png", normal)
    write_png(out / "roughness.png", rough)
    small = np.linspace(0, 255, 256, dtype=np.uint8)
    write_png(out / "overlay.png", np.stack([np.tile(small, (256, 1))] * 3, -1))
    write_png(out / "relit.png", np.stack([np.tile(small[:, None], (1, 1024))] * 3, -1))
    _write_obj(out, head, verts)
    params = {
        **_camera(), "eye_color_srgb": [0.36, 0.25, 0.16], "photo": str(Path(photo).resolve()) if photo else None,
        "expression": {n: float(w) for n, w in zip(ARKIT_NAMES, head.weights)},
        "options": {"texture_size": texture_size, "expression": expression}, "fake": True,
    }
    (out / "params.json").write_text(json.dumps(params, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--photo", type=Path, default=None)
    parser.add_argument("--texture-size", type=int, default=1024)
    parser.add_argument("--expression", choices=("keep", "neutral"), default="keep")
    args = parser.parse_args(argv)
    print(make_fake_output(args.out_dir, args.photo, args.texture_size, args.expression))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
