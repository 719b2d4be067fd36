"""Ground-truth renders with Blender's Cycles, independent of the engine's own renderer.

Runs inside a Blender-as-a-module venv (bpy 4.2 LTS or 5.0; numpy only, nothing from ``engine/`` or
``ffhquv_blender/``)::

    .venv-bpy50/bin/python bench/groundtruth/cycles_render.py BATCH.json

``BATCH.json`` is ``{"jobs": [JOB, ...]}``. All jobs are checked before the first render; they then
render one after the other in this one process (the scene is reset between jobs). Each finished job
prints one JSON line on stdout, ``{"id": ..., "seconds": ...}``; Blender's own chatter goes to
stderr. A bad job stops the batch with exit status 2 and a one-line ``cycles_render: ...`` message on
stderr (exit status 1 if a render itself fails).

JOB::

    {"id": "h0_y25_hdri-city",
     "out_dir": "/abs/folder",              # created if missing
     "mesh": "/abs/head_mesh.npz",          # vertices (V,3) float head-space metres; faces (F,3) int;
                                            # face_uvs (F,3,2) per-corner UV, v up; face_part (F,) int;
                                            # part_names (P,) among skin, eye_l, eye_r, teeth_upper,
                                            # teeth_lower, tongue. Extra keys are ignored.
     "albedo": "/abs/albedo.png",           # sRGB 8-bit UV texture of the skin, row 0 = top (v = 1)
     "spec_rough": "/abs/spec_rough.png" | null,  # R roughness, G Specular IOR Level, B subsurface
                                            # weight (linear 0..1). null: 0.45, 0.5, 0.15
     "eye_color_srgb": [r, g, b],           # iris colour, sRGB 0..1
     "camera": {"K": 3x3, "R": 3x3, "t": [3], "width": W, "height": H},
     "lighting": LIGHTING,
     "samples": 64,                         # optional, default DEFAULT_SAMPLES
     "seed": 0,                             # optional, default 0
     "hair": HAIR}                          # optional: hair cards over the head (absent or null: none)

    HAIR = {"cards": "/abs/hair_cards.npz",  # vertices (V,3) float head-space metres; faces (F,3) int;
                                            # uvs (V,2): u = 2 x card index + 0..1 across the card,
                                            # v = 0 at the root -> 1 at the tip
            "rgb": [r, g, b],               # linear base colour of the hair
            "roughness": 0.38,              # optional, default HAIR_DEFAULT_ROUGHNESS
            "solid": false,                 # optional, default false; true: opaque cards (eyeglasses
                                            # frames) with a plain Principled BSDF, no strand alpha
            "metallic": 0.0}                # optional, solid cards only, 0..1, default 0
        Other keys (the generator's "digest", "version") are ignored.

    LIGHTING = {"kind": "hdri", "name": "city", "rotation_deg": 90.0, "strength": 1.0}
        name: one of Blender's bundled world HDRIs (city, courtyard, forest, interior, night, studio,
        sunrise, sunset). rotation_deg turns the lookup direction about the up axis (World mapping
        node, Rotation Z, as Blender's UI does it): the environment itself appears turned by
        -rotation_deg, i.e. clockwise seen from above.
    LIGHTING = {"kind": "lights", "ambient_rgb": [r, g, b], "lights": [LIGHT, ...]}
        ambient_rgb: uniform world radiance (linear). LIGHT, all colours linear RGB multipliers:
        {"type": "SUN", "direction": [x,y,z] (head space, head -> light), "rgb": [...],
         "strength": W/m^2, "angle_deg": 1.0}
        {"type": "AREA", "position": [x,y,z] (head-space metres), "size": metres (square),
         "rgb": [...], "power": W}                       # faces the head-space origin
        {"type": "POINT", "position": [...], "rgb": [...], "power": W, "radius": m}
    LIGHTING = {"kind": "sh", "coeffs": [[r, g, b] x 9]}
        A distant environment given as order-2 real spherical-harmonics radiance coefficients, linear RGB,
        in head space: the engine's ``params.json`` ``lighting.texture_sh_coeffs`` (basis order and
        constants of ``engine/render/sh.py``: Y00; Y1-1 ~ y, Y10 ~ z, Y11 ~ x; Y2-2 ~ xy, Y2-1 ~ yz,
        Y20 ~ 3z^2 - 1, Y21 ~ xz, Y22 ~ x^2 - y^2). The world's radiance seen along a head-space direction
        d (pointing away from the head, towards the light) is max(0, sum_k c_k Y_k(d)), per channel, built
        from shader nodes (exact, no image). Units: a white Lambertian surface then shows albedo x E / pi,
        the engine's ``sh_shading`` (up to that clamp, and to shadows and bounces, which Cycles adds).
        The clamp matters: an SH fitted to a photo's visible face only often has large negative lobes
        (behind the head, even a negative mean), and clamping them away adds light, so the face's
        shading comes out softer than the engine's own (same pattern, less contrast). Coefficients
        that are negative in every direction (a black world) are refused.

Conventions (docs/conventions.md): head space is metres, +Y up, +Z out of the face, +X toward the
head's left. Camera: OpenCV, ``pixel = K (R X + t)``, pixel centres at integer (column u, row v),
origin top-left. Head space -> Blender world is ``(x, y, z) -> (x, -z, y)`` (what Blender's OBJ
importer does). Blender's frame is continuous with pixel i spanning [i, i + 1], so the OpenCV
principal point cx sits at cx + 0.5 in it.

Outputs in ``out_dir``:
    render.exr      linear scene-referred RGB, half float, ZIP (no exposure, no view transform).
                    cv2.imread(..., cv2.IMREAD_UNCHANGED) returns it as BGR.
    mask_skin.png   8-bit grey coverage of pixels whose first visible surface is the skin part.
    mask_head.png   the same for any head part (without the hair: the bare head).
    mask_hair.png   (hair jobs only) coverage of the hair cards over pixels whose first visible
                    surface would be the skin without the hair (alpha-weighted: 1 - prod(1 - alpha)
                    over the card layers, capped by the bare skin's coverage; solid cards cover
                    fully). With hair, mask_skin.png is the skin that still shows through it.
    render.json     {"seconds", "beauty_seconds", "blender", "samples", "samples_rendered", "denoiser",
                     "hdri": {"file", "sha256"} (HDRI jobs), "sh_coeffs" (SH jobs), ...}. The bundled
                    HDRIs differ between Blender releases (4.2's studio.exr is half as bright as 5.0's):
                    keep one version per benchmark.

Render: Cycles CPU, adaptive sampling, OpenImageDenoise (albedo + normal guides, fast prefilter),
default pixel filter, view transform Standard / look None / exposure 0 (these only matter to
8-bit outputs; the EXR is the raw scene-linear film).

Seconds per job on 2 CPU cores (Blender 5.0.1, template head, yaw 25 deg; HDRI city / 3 lamps;
includes the mask render; shared machine, +-30 %):
    head 40 % of the frame height (~8 % of its area):  512^2: 32 spp 4.5 / 2.5, 64 spp 7.1 / 4.4
                                                       1024^2: 32 spp 15 / 10,   64 spp 27 / 19
    head 85 % of the frame height (~40 % of its area): 512^2: 32 spp 9.3 / 5.4,  64 spp 17 / 10
                                                       1024^2: 32 spp 33 / 20,   64 spp 57 / 36
32 samples + OIDN is the default: 64 is barely distinguishable after denoising.

Materials: skin = Principled BSDF with the albedo / spec_rough maps and Christensen-Burley
subsurface scattering; eyes = a procedural eye (sclera, iris in eye_color_srgb, limbal ring, pupil)
computed per shading point from the angle to the eyeball's forward axis (see ``eye_frame``);
teeth and tongue = constant colours. The masks come from a second, cheap Cycles render in which
every head part is an emitter (skin red, other parts green) under a black world; with hair, the cards
emit blue through their alpha in that render, and a third render without them gives the bare head.
Hair cards: Principled BSDF in the job's colour (+-HAIR_SHADE_JITTER per strand), with a procedural
strand alpha: stretched noise across each card (long streaks along it), faded at the card's edges,
root and tip (see ``hair_alpha``); more transparent bounces (HAIR_TRANSPARENT_BOUNCES) so that the
layers of cards and the skin under them are all reached. Solid cards (``"solid": true``, the
eyeglasses frames of ``bench/groundtruth/glasses.py``): an opaque Principled BSDF in the job's colour,
roughness and metallic, no jitter, no alpha; in the mask render they emit blue opaquely.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

import bpy
from mathutils import Matrix, Vector

import _cycles  # noqa: E402,I001 - Cycles' own module (build options); importable only after bpy

PARTS = ("skin", "eye_l", "eye_r", "teeth_upper", "teeth_lower", "tongue")
HDRI_NAMES = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")
HEAD_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""Head space (+Y up, +Z front) -> Blender world (+Z up, -Y front), as Blender's OBJ importer."""
OPENCV_TO_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])
"""OpenCV camera axes (x right, y down, z forward) -> Blender camera axes (x right, y up, -z forward)."""

SH_CONSTANTS = (0.28209479177387814, 0.4886025119029199, 1.0925484305920792, 0.31539156525252005,
                0.5462742152960396)
"""engine/render/sh.py's normalisation constants (copied: nothing from ``engine/`` is imported here): l=0,
l=1, the xy/yz/xz terms, the (3z^2 - 1) term, the (x^2 - y^2) term."""
SH_MAX_RADIANCE = 1e4
"""A sanity bound on |coefficient| (linear radiance units): larger is a unit or format mistake."""

DEFAULT_SAMPLES = 32
MASK_SAMPLES = 16
HAS_OIDN = bool(getattr(_cycles, "with_openimagedenoise", False))  # True in the 4.2 and 5.0 wheels
NO_DENOISER_SAMPLE_FACTOR = 4
SENSOR_WIDTH_MM = 36.0

SKIN_DEFAULTS = {"roughness": 0.45, "specular": 0.5, "subsurface": 0.15}
SKIN_SSS_RADIUS = (1.0, 0.35, 0.2)
SKIN_SSS_SCALE = 0.004
SKIN_IOR = 1.4
SKIN_SSS_METHOD = "BURLEY"
"""Christensen-Burley: ~1.7x faster than random walk here and needs no closed mesh (the neck is open)."""

SCLERA_LINEAR = (0.76, 0.74, 0.70)
PUPIL_LINEAR = (0.008, 0.007, 0.007)
EYE_ROUGHNESS = 0.05
EYE_IOR = 1.376
PUPIL_RADIUS_M = 0.0019
IRIS_RADIUS_M = 0.0059
LIMBUS_SOFT_M = 0.0004
"""Iris geometry in metres, measured perpendicular to the eye's forward axis (a flat iris seen
through a clear cornea): pupil ~3.8 mm wide, iris ~11.8 mm wide, sclera blends in over 0.4 mm."""
TEETH_LINEAR, TEETH_ROUGHNESS = (0.7, 0.66, 0.58), 0.3
TONGUE_LINEAR, TONGUE_ROUGHNESS = (0.45, 0.12, 0.12), 0.4
HAIR_DEFAULT_ROUGHNESS = 0.38
HAIR_IOR = 1.55
HAIR_SHADE_JITTER = 0.3
"""A strand's colour is the base colour x (1 +- this), following the strand noise."""
HAIR_STRAND_FREQ = 14.0
"""Noise cycles across one card (~14 mm): clumps of strands ~1 mm wide."""
HAIR_STRAND_ALONG = 1.2
"""Noise cycles along one card (root to tip): long streaks."""
HAIR_STRAND_EDGES = (0.40, 0.52)
"""Noise values mapped (smoothstep) to alpha 0 -> 1: a strand's opacity."""
HAIR_EDGE_POWER = 4.0
"""Across-card fade: 1 - |2 x across - 1| ** HAIR_EDGE_POWER (0 on both edges, ~1 over the middle)."""
HAIR_TIP_FADE = 0.8
"""The alpha fades to 0 from this share of the card's length to its tip."""
HAIR_ROOT_FADE = 0.08
"""... and from 1 at this share of the card's length to 0 at its root (no blunt card ends on the scalp)."""
HAIR_TRANSPARENT_BOUNCES = 16
HAIR_MASK_RGB = (0.0, 0.0, 1.0)
BOUNCES = {"max_bounces": 8, "diffuse_bounces": 3, "glossy_bounces": 3, "transmission_bounces": 4,
           "volume_bounces": 0, "transparent_max_bounces": 4}


class JobError(ValueError):
    """A job in the batch is malformed (exit status 2)."""


# --------------------------------------------------------------------------------------------- checks

def _vec(value, n: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise JobError(f"{what} must be {n} finite numbers, got {value!r}")
    return arr


def _existing_file(path, what: str) -> Path:
    if not isinstance(path, str) or not os.path.isabs(path):
        raise JobError(f"{what} must be an absolute path, got {path!r}")
    if not os.path.isfile(path):
        raise JobError(f"{what} does not exist: {path}")
    return Path(path)


def check_camera(cam: dict) -> dict:
    """Validated camera: K (3,3), R (3,3) orthonormalised, t (3,), width, height."""
    try:
        K = np.asarray(cam["K"], np.float64)
        R = np.asarray(cam["R"], np.float64)
        t = np.asarray(cam["t"], np.float64).reshape(-1)
        width, height = int(cam["width"]), int(cam["height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise JobError(f"camera needs K, R, t, width, height ({exc})") from None
    if K.shape != (3, 3) or R.shape != (3, 3) or t.shape != (3,):
        raise JobError("camera K and R must be 3x3 and t 3 numbers")
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(R)) and np.all(np.isfinite(t))):
        raise JobError("camera K, R, t must be finite")
    if width < 1 or height < 1:
        raise JobError(f"camera width/height must be positive, got {width}x{height}")
    fx, fy = K[0, 0], K[1, 1]
    if fx <= 0 or abs(fx - fy) > 1e-6 * abs(fx):
        raise JobError(f"camera needs fx == fy > 0 (square pixels), got fx={fx!r} fy={fy!r}")
    if K[0, 1] != 0 or K[1, 0] != 0 or not np.allclose(K[2], [0, 0, 1]):
        raise JobError(f"camera K must be [[f,0,cx],[0,f,cy],[0,0,1]], got {K.tolist()}")
    if abs(np.linalg.det(R) - 1.0) > 1e-4 or not np.allclose(R @ R.T, np.eye(3), atol=1e-4):
        raise JobError("camera R must be a rotation (orthonormal, det +1)")
    u, _, vt = np.linalg.svd(R)
    return {"K": K, "R": u @ vt, "t": t, "width": width, "height": height}


def check_sh_coeffs(coeffs) -> np.ndarray:
    """(9, 3) float64 SH radiance coefficients from a [[r, g, b] x 9] list; raises JobError."""
    try:
        arr = np.asarray(coeffs, dtype=np.float64)
    except (TypeError, ValueError):
        raise JobError(f"lighting.coeffs must be 9 x [r, g, b] numbers, got {str(coeffs)[:80]!r}") from None
    if arr.shape != (9, 3):
        raise JobError(f"lighting.coeffs must be 9 x [r, g, b] (shape (9, 3)), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise JobError("lighting.coeffs must be finite")
    if np.abs(arr).max() > SH_MAX_RADIANCE:
        raise JobError(f"lighting.coeffs beyond +-{SH_MAX_RADIANCE:g}: not linear radiance SH")
    if not np.any(sh_radiance(arr, _sphere_directions()) > 0):
        raise JobError("lighting.coeffs give no positive radiance in any direction (a black world)")
    return arr


def _sphere_directions(n: int = 2048) -> np.ndarray:
    """(n, 3) unit vectors spread evenly over the sphere (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    polar, azimuth = np.arccos(1.0 - 2.0 * i / n), math.pi * (1.0 + math.sqrt(5.0)) * i
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], 1)


def sh_radiance(coeffs: np.ndarray, directions_head: np.ndarray) -> np.ndarray:
    """(N, 3) max(0, sum_k c_k Y_k(d)) for unit head-space ``directions_head`` (N, 3): what :func:`sh_world`
    builds with nodes (numpy twin, for checks)."""
    x, y, z = np.asarray(directions_head, np.float64).T
    c0, c1, c2, c3, c4 = SH_CONSTANTS
    basis = np.stack([np.full_like(x, c0), c1 * y, c1 * z, c1 * x, c2 * x * y, c2 * y * z,
                      c3 * (3.0 * z * z - 1.0), c2 * x * z, c4 * (x * x - y * y)], 1)
    return np.maximum(basis @ np.asarray(coeffs, np.float64), 0.0)


def check_lighting(light: dict) -> dict:
    if not isinstance(light, dict) or light.get("kind") not in ("hdri", "lights", "sh"):
        raise JobError(f"lighting.kind must be 'hdri', 'lights' or 'sh', got {light!r}")
    if light["kind"] == "sh":
        if "coeffs" not in light:
            raise JobError("lighting kind 'sh' needs 'coeffs' (9 x [r, g, b])")
        return {"kind": "sh", "coeffs": check_sh_coeffs(light["coeffs"])}
    if light["kind"] == "hdri":
        if light.get("name") not in HDRI_NAMES:
            raise JobError(f"lighting.name must be one of {HDRI_NAMES}, got {light.get('name')!r}")
        return {"kind": "hdri", "name": light["name"],
                "rotation_deg": float(light.get("rotation_deg", 0.0)),
                "strength": float(light.get("strength", 1.0))}
    lamps = []
    for i, lamp in enumerate(light.get("lights", [])):
        kind = lamp.get("type") if isinstance(lamp, dict) else None
        where = f"lighting.lights[{i}]"
        try:
            if kind == "SUN":
                lamps.append({"type": "SUN", "direction": _vec(lamp["direction"], 3, where + ".direction"),
                              "rgb": _vec(lamp["rgb"], 3, where + ".rgb"), "strength": float(lamp["strength"]),
                              "angle_deg": float(lamp.get("angle_deg", 1.0))})
                if np.linalg.norm(lamps[-1]["direction"]) == 0:
                    raise JobError(f"{where}.direction must not be zero")
            elif kind == "AREA":
                lamps.append({"type": "AREA", "position": _vec(lamp["position"], 3, where + ".position"),
                              "size": float(lamp["size"]), "rgb": _vec(lamp["rgb"], 3, where + ".rgb"),
                              "power": float(lamp["power"])})
                if np.linalg.norm(lamps[-1]["position"]) == 0:
                    raise JobError(f"{where}.position must not be the origin (it faces the origin)")
            elif kind == "POINT":
                lamps.append({"type": "POINT", "position": _vec(lamp["position"], 3, where + ".position"),
                              "rgb": _vec(lamp["rgb"], 3, where + ".rgb"), "power": float(lamp["power"]),
                              "radius": float(lamp.get("radius", 0.0))})
            else:
                raise JobError(f"{where}.type must be SUN, AREA or POINT, got {kind!r}")
        except (KeyError, TypeError) as exc:
            raise JobError(f"{where} ({kind}) is missing or has a bad field: {exc}") from None
    return {"kind": "lights", "ambient_rgb": _vec(light.get("ambient_rgb", [0, 0, 0]), 3, "lighting.ambient_rgb"),
            "lights": lamps}


def load_mesh(path: Path) -> dict:
    """Arrays of a head_mesh.npz, checked: vertices, faces, face_uvs, face_part, part_names."""
    try:
        with np.load(path) as data:
            mesh = {"vertices": np.asarray(data["vertices"], np.float64),
                    "faces": np.asarray(data["faces"], np.int64),
                    "face_uvs": np.asarray(data["face_uvs"], np.float32),
                    "face_part": np.asarray(data["face_part"], np.int64),
                    "part_names": [str(n) for n in data["part_names"]]}
    except (OSError, KeyError, ValueError) as exc:
        raise JobError(f"mesh {path}: cannot read ({exc})") from None
    v, f = mesh["vertices"], mesh["faces"]
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise JobError(f"mesh {path}: vertices must be (V,3) and faces (F,3)")
    if mesh["face_uvs"].shape != (len(f), 3, 2) or mesh["face_part"].shape != (len(f),):
        raise JobError(f"mesh {path}: face_uvs must be (F,3,2) and face_part (F,)")
    if f.min() < 0 or f.max() >= len(v) or not np.all(np.isfinite(v)):
        raise JobError(f"mesh {path}: face indices out of range or non-finite vertices")
    unknown = sorted(set(mesh["part_names"]) - set(PARTS))
    if unknown:
        raise JobError(f"mesh {path}: unknown part names {unknown}")
    if mesh["face_part"].min() < 0 or mesh["face_part"].max() >= len(mesh["part_names"]):
        raise JobError(f"mesh {path}: face_part indexes past part_names")
    if "skin" not in mesh["part_names"]:
        raise JobError(f"mesh {path}: no skin part")
    return mesh


def check_job(job: dict) -> dict:
    """The job with defaults filled in and every field checked; raises JobError."""
    if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not job["id"]:
        raise JobError(f"a job needs a non-empty string 'id', got {str(job)[:80]!r}")
    try:
        out_dir = job["out_dir"]
        if not isinstance(out_dir, str) or not os.path.isabs(out_dir):
            raise JobError(f"out_dir must be an absolute path, got {out_dir!r}")
        spec = job.get("spec_rough")
        samples = int(job.get("samples", DEFAULT_SAMPLES))
        if samples < 1:
            raise JobError(f"samples must be >= 1, got {samples}")
        eye = _vec(job["eye_color_srgb"], 3, "eye_color_srgb")
        return {"id": job["id"], "out_dir": Path(out_dir),
                "mesh": _existing_file(job["mesh"], "mesh"),
                "albedo": _existing_file(job["albedo"], "albedo"),
                "spec_rough": None if spec is None else _existing_file(spec, "spec_rough"),
                "eye_color_srgb": np.clip(eye, 0.0, 1.0),
                "camera": check_camera(job["camera"]),
                "lighting": check_lighting(job["lighting"]),
                "samples": samples, "seed": int(job.get("seed", 0)),
                "hair": check_hair(job.get("hair"))}
    except KeyError as exc:
        raise JobError(f"missing field {exc}") from None


def _unit_number(hair: dict, key: str, default: float) -> float:
    """``hair[key]`` (or ``default``) as a number in [0, 1]; raises JobError."""
    try:
        value = float(hair.get(key, default))
    except (TypeError, ValueError):
        raise JobError(f"hair.{key} must be a number, got {hair[key]!r}") from None
    if not 0.0 <= value <= 1.0:
        raise JobError(f"hair.{key} must be in [0, 1], got {value!r}")
    return value


def check_hair(hair: dict | None) -> dict | None:
    """The job's ``hair`` with its defaults filled in (None: no hair); raises JobError."""
    if hair is None:
        return None
    if not isinstance(hair, dict):
        raise JobError(f"hair must be an object or null, got {hair!r}")
    solid = hair.get("solid", False)
    if not isinstance(solid, bool):
        raise JobError(f"hair.solid must be true or false, got {solid!r}")
    if "metallic" in hair and not solid:
        raise JobError("hair.metallic needs hair.solid (strand cards are never metallic)")
    try:
        return {"cards": _existing_file(hair["cards"], "hair.cards"),
                "rgb": np.clip(_vec(hair["rgb"], 3, "hair.rgb"), 0.0, 1.0),
                "roughness": _unit_number(hair, "roughness", HAIR_DEFAULT_ROUGHNESS),
                "solid": solid, "metallic": _unit_number(hair, "metallic", 0.0)}
    except KeyError as exc:
        raise JobError(f"hair is missing {exc}") from None


def load_cards(path: Path) -> dict:
    """Arrays of a hair_cards.npz, checked: vertices (V,3), faces (F,3), uvs (V,2)."""
    try:
        with np.load(path) as data:
            cards = {"vertices": np.asarray(data["vertices"], np.float64),
                     "faces": np.asarray(data["faces"], np.int64), "uvs": np.asarray(data["uvs"], np.float32)}
    except (OSError, KeyError, ValueError) as exc:
        raise JobError(f"hair cards {path}: cannot read ({exc})") from None
    v, f = cards["vertices"], cards["faces"]
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or cards["uvs"].shape != (len(v), 2):
        raise JobError(f"hair cards {path}: vertices must be (V,3), faces (F,3), uvs (V,2)")
    if len(f) == 0 or f.min() < 0 or f.max() >= len(v) or not np.all(np.isfinite(v)):
        raise JobError(f"hair cards {path}: no faces, face indices out of range or non-finite vertices")
    return cards


# ------------------------------------------------------------------------------------------ geometry

def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def camera_from_opencv(K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int, height: int) -> dict:
    """Blender camera settings reproducing ``pixel = K (R X + t)`` for head-space X.

    Sensor fit HORIZONTAL: the sensor width spans the image width, so lens = fx * sensor / W. Shifts
    are in units of the image width (Blender's unit for a horizontal fit, both axes). The optical
    axis sits at continuous frame position (cx + 0.5, cy + 0.5) from the top-left; the frame centre
    at (W / 2, H / 2); +shift_x moves the frame right, +shift_y up.
    """
    fx, cx, cy = K[0, 0], K[0, 2], K[1, 2]
    world_to_cam = OPENCV_TO_BLENDER_CAM @ R @ HEAD_TO_WORLD.T
    matrix_world = np.eye(4)
    matrix_world[:3, :3] = world_to_cam.T
    matrix_world[:3, 3] = -world_to_cam.T @ (OPENCV_TO_BLENDER_CAM @ t)
    return {"sensor_fit": "HORIZONTAL", "sensor_width": SENSOR_WIDTH_MM,
            "lens": fx * SENSOR_WIDTH_MM / width,
            "shift_x": (width / 2.0 - (cx + 0.5)) / width,
            "shift_y": ((cy + 0.5) - height / 2.0) / width,
            "matrix_world": matrix_world}


def eye_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre, forward axis, radius) of an eyeball from its vertices (any space, metres).

    Centre and radius: least-squares sphere. Axis: starts at the direction to the most +Z vertex
    (the +Z of the space the points are in must be roughly the gaze), then is re-centred on the cap
    of vertices within 30 degrees of it. MakeHuman's eyeball is a UV sphere around the gaze with no
    vertex at the pole (first ring at 11.25 degrees), so the most +Z vertex alone would put the iris
    11 degrees off; the cap's mean direction is the true pole, and follows a rotated (gazing) eye.
    """
    p = np.asarray(points, np.float64)
    a = np.c_[2.0 * p, np.ones(len(p))]
    sol = np.linalg.lstsq(a, (p ** 2).sum(1), rcond=None)[0]
    centre = sol[:3]
    radius = float(np.sqrt(sol[3] + centre @ centre))
    dirs = p - centre
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    axis = dirs[np.argmax(p[:, 2])]
    for _ in range(8):
        cap = dirs[dirs @ axis > math.cos(math.radians(30.0))]
        new = cap.sum(0) / np.linalg.norm(cap.sum(0))
        if np.allclose(new, axis, atol=1e-9):
            break
        axis = new
    return centre, axis, radius


# --------------------------------------------------------------------------------------- blender scene

def reset_scene() -> bpy.types.Scene:
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


def configure_render(scene, width: int, height: int, samples: int, seed: int) -> str:
    """Cycles CPU, adaptive sampling, OIDN when the build has it (else NO_DENOISER_SAMPLE_FACTOR x the
    samples); returns the denoiser's name."""
    scene.render.engine = "CYCLES"
    cyc = scene.cycles
    cyc.device = "CPU"
    cyc.use_adaptive_sampling = True
    cyc.seed = seed
    cyc.use_animated_seed = False
    for key, value in BOUNCES.items():
        setattr(cyc, key, value)
    if HAS_OIDN:
        cyc.samples = samples
        cyc.use_denoising = True
        cyc.denoiser = "OPENIMAGEDENOISE"
        cyc.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        cyc.denoising_prefilter = "FAST"  # ACCURATE costs ~+10 s at 1024^2 on 2 cores, no visible gain
        cyc.denoising_quality = "HIGH"
        denoiser = "OPENIMAGEDENOISE"
    else:
        cyc.samples = samples * NO_DENOISER_SAMPLE_FACTOR
        cyc.use_denoising = False
        denoiser = "none"
    render = scene.render
    render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    render.film_transparent = False
    render.use_compositing = False
    render.use_sequencer = False
    render.use_file_extension = False
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    settings = render.image_settings
    settings.file_format = "OPEN_EXR"
    settings.color_mode = "RGB"
    settings.color_depth = "16"
    settings.exr_codec = "ZIP"
    return denoiser


def add_camera(scene, cam: dict) -> None:
    params = camera_from_opencv(cam["K"], cam["R"], cam["t"], cam["width"], cam["height"])
    data = bpy.data.cameras.new("gt_camera")
    data.type = "PERSP"
    data.sensor_fit = params["sensor_fit"]
    data.sensor_width = params["sensor_width"]
    data.lens = params["lens"]
    data.shift_x, data.shift_y = params["shift_x"], params["shift_y"]
    data.clip_start, data.clip_end = 0.005, 1000.0
    obj = bpy.data.objects.new("gt_camera", data)
    scene.collection.objects.link(obj)
    obj.matrix_world = Matrix(params["matrix_world"].tolist())  # rows (a nested list would be read as columns)
    scene.camera = obj


def add_part_object(scene, name: str, vertices: np.ndarray, faces: np.ndarray, face_uvs: np.ndarray,
                    material) -> bpy.types.Object:
    """One smooth-shaded mesh object (Blender world coordinates) with per-corner UVs."""
    used, local = np.unique(faces, return_inverse=True)
    local = local.reshape(faces.shape)
    verts = vertices[used] @ HEAD_TO_WORLD.T
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", verts.astype(np.float32).ravel())
    mesh.loops.add(local.size)
    mesh.loops.foreach_set("vertex_index", local.astype(np.int32).ravel())
    mesh.polygons.add(len(local))
    mesh.polygons.foreach_set("loop_start", np.arange(0, local.size, 3, dtype=np.int32))
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", face_uvs.astype(np.float32).ravel())
    mesh.update(calc_edges=True)
    mesh.validate(verbose=False)
    mesh.polygons.foreach_set("use_smooth", np.ones(len(local), bool))
    mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    return obj


def add_head(scene, mesh: dict, materials: dict) -> dict:
    """One object per part present in the mesh; returns {part name: object}."""
    objects = {}
    for index, name in enumerate(mesh["part_names"]):
        sel = mesh["face_part"] == index
        if sel.any():
            objects[name] = add_part_object(scene, name, mesh["vertices"], mesh["faces"][sel],
                                            mesh["face_uvs"][sel], materials[name])
    return objects


# ------------------------------------------------------------------------------------------ materials

def _use_nodes(datablock) -> None:
    """Node trees are always on from Blender 5.0 (``use_nodes`` is deprecated there)."""
    if bpy.app.version < (5, 0, 0):
        datablock.use_nodes = True


def _principled(name: str):
    """A fresh node material: Principled BSDF -> Material Output; returns (material, tree, bsdf)."""
    mat = bpy.data.materials.new(name)
    _use_nodes(mat)
    tree = mat.node_tree
    tree.nodes.clear()
    bsdf = tree.nodes.new("ShaderNodeBsdfPrincipled")
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat, tree, bsdf


def _image_node(tree, path: Path, colorspace: str):
    node = tree.nodes.new("ShaderNodeTexImage")
    node.image = bpy.data.images.load(str(path), check_existing=True)
    node.image.colorspace_settings.name = colorspace
    node.interpolation = "Linear"
    node.extension = "EXTEND"
    return node


def skin_material(albedo: Path, spec_rough: Path | None):
    mat, tree, bsdf = _principled("skin")
    tree.links.new(_image_node(tree, albedo, "sRGB").outputs["Color"], bsdf.inputs["Base Color"])
    if spec_rough is None:
        bsdf.inputs["Roughness"].default_value = SKIN_DEFAULTS["roughness"]
        bsdf.inputs["Specular IOR Level"].default_value = SKIN_DEFAULTS["specular"]
        bsdf.inputs["Subsurface Weight"].default_value = SKIN_DEFAULTS["subsurface"]
    else:
        maps = tree.nodes.new("ShaderNodeSeparateColor")
        tree.links.new(_image_node(tree, spec_rough, "Non-Color").outputs["Color"], maps.inputs["Color"])
        tree.links.new(maps.outputs["Red"], bsdf.inputs["Roughness"])
        tree.links.new(maps.outputs["Green"], bsdf.inputs["Specular IOR Level"])
        tree.links.new(maps.outputs["Blue"], bsdf.inputs["Subsurface Weight"])
    bsdf.subsurface_method = SKIN_SSS_METHOD
    bsdf.inputs["Subsurface Radius"].default_value = SKIN_SSS_RADIUS
    bsdf.inputs["Subsurface Scale"].default_value = SKIN_SSS_SCALE
    bsdf.inputs["IOR"].default_value = SKIN_IOR
    return mat


def plain_material(name: str, rgb, roughness: float):
    mat, _, bsdf = _principled(name)
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    return mat


def eye_material(name: str, centre, axis, radius: float, iris_linear):
    """Procedural eye: colour = ramp(cos of the angle between (P - centre) and the gaze axis).

    P is the shading point (world space), so the iris is as sharp as the pixels allow whatever the
    eyeball's tessellation. Ramp stops are placed by distance from the axis (a flat iris behind the
    cornea): sclera | soft limbus | dark limbal ring | iris | slightly lighter collarette | pupil.
    """
    mat, tree, bsdf = _principled(name)
    nodes, links = tree.nodes, tree.links
    geo = nodes.new("ShaderNodeNewGeometry")
    sub = nodes.new("ShaderNodeVectorMath")
    sub.operation = "SUBTRACT"
    sub.inputs[1].default_value = tuple(centre)
    norm = nodes.new("ShaderNodeVectorMath")
    norm.operation = "NORMALIZE"
    dot = nodes.new("ShaderNodeVectorMath")
    dot.operation = "DOT_PRODUCT"
    dot.inputs[1].default_value = tuple(axis)
    links.new(geo.outputs["Position"], sub.inputs[0])
    links.new(sub.outputs["Vector"], norm.inputs[0])
    links.new(norm.outputs["Vector"], dot.inputs[0])
    ramp = nodes.new("ShaderNodeValToRGB")
    links.new(dot.outputs["Value"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    iris = np.asarray(iris_linear, np.float64)

    def cos_at(rho: float) -> float:
        return math.sqrt(max(0.0, 1.0 - min(1.0, rho / radius) ** 2))

    stops = [  # (distance from the axis in metres, linear colour)
        (IRIS_RADIUS_M + LIMBUS_SOFT_M, np.asarray(SCLERA_LINEAR)),
        (IRIS_RADIUS_M, iris * 0.25),
        (IRIS_RADIUS_M - 0.0007, iris * 0.85),
        (PUPIL_RADIUS_M + 0.0012, iris),
        (PUPIL_RADIUS_M + 0.0002, np.minimum(iris * 1.25 + 0.02, 1.0)),
        (PUPIL_RADIUS_M, np.asarray(PUPIL_LINEAR)),
    ]
    elements = ramp.color_ramp.elements
    while len(elements) > 1:
        elements.remove(elements[-1])
    for i, (rho, rgb) in enumerate(stops):
        element = elements[0] if i == 0 else elements.new(cos_at(rho))
        element.position = cos_at(rho)
        element.color = (*[float(c) for c in rgb], 1.0)
    bsdf.inputs["Roughness"].default_value = EYE_ROUGHNESS
    bsdf.inputs["IOR"].default_value = EYE_IOR
    return mat


def head_materials(job: dict, mesh: dict) -> dict:
    iris = srgb_to_linear(job["eye_color_srgb"])
    mats = {"skin": skin_material(job["albedo"], job["spec_rough"]),
            "teeth_upper": plain_material("teeth", TEETH_LINEAR, TEETH_ROUGHNESS),
            "tongue": plain_material("tongue", TONGUE_LINEAR, TONGUE_ROUGHNESS)}
    mats["teeth_lower"] = mats["teeth_upper"]
    for eye in ("eye_l", "eye_r"):
        if eye in mesh["part_names"]:
            sel = mesh["face_part"] == mesh["part_names"].index(eye)
            if sel.any():
                points = mesh["vertices"][np.unique(mesh["faces"][sel])]
                centre, axis, radius = eye_frame(points)  # head space: +Z is the gaze at rest
                mats[eye] = eye_material(eye, HEAD_TO_WORLD @ centre, HEAD_TO_WORLD @ axis, radius, iris)
    return mats


def emission_material(name: str, rgb):
    mat = bpy.data.materials.new(name)
    _use_nodes(mat)
    tree = mat.node_tree
    tree.nodes.clear()
    emit = tree.nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = (*rgb, 1.0)
    emit.inputs["Strength"].default_value = 1.0
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    tree.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    return mat


def _math(tree, operation: str, a, b=None, c=None):
    """A Math node ``operation`` on sockets or numbers; returns its output socket."""
    node = tree.nodes.new("ShaderNodeMath")
    node.operation = operation
    for i, x in enumerate((a, b, c)):
        if x is None:
            continue
        if isinstance(x, (int, float)):
            node.inputs[i].default_value = float(x)
        else:
            tree.links.new(x, node.inputs[i])
    return node.outputs["Value"]


def _map_range(tree, value, lo: float, hi: float, to_lo: float, to_hi: float):
    """Smoothstep Map Range of ``value`` from [lo, hi] to [to_lo, to_hi], clamped; its output socket."""
    node = tree.nodes.new("ShaderNodeMapRange")
    node.interpolation_type = "SMOOTHSTEP"
    node.clamp = True
    tree.links.new(value, node.inputs["Value"])
    for name, x in (("From Min", lo), ("From Max", hi), ("To Min", to_lo), ("To Max", to_hi)):
        node.inputs[name].default_value = x
    return node.outputs["Result"]


def hair_alpha(tree):
    """(alpha, strand noise) output sockets of a card's procedural strands, from its UV (u = 2 x card
    index + across, v = root -> tip): noise stretched HAIR_STRAND_FREQ : HAIR_STRAND_ALONG, mapped to
    alpha through HAIR_STRAND_EDGES, times the across-card edge fade and the root and tip fades."""
    nodes, links = tree.nodes, tree.links
    uv = nodes.new("ShaderNodeUVMap")
    uv.uv_map = "UVMap"
    sep = nodes.new("ShaderNodeSeparateXYZ")
    links.new(uv.outputs["UV"], sep.inputs["Vector"])
    u, v = sep.outputs["X"], sep.outputs["Y"]
    coords = nodes.new("ShaderNodeCombineXYZ")
    links.new(_math(tree, "MULTIPLY", u, HAIR_STRAND_FREQ), coords.inputs["X"])
    links.new(_math(tree, "MULTIPLY", v, HAIR_STRAND_ALONG), coords.inputs["Y"])
    noise = nodes.new("ShaderNodeTexNoise")
    links.new(coords.outputs["Vector"], noise.inputs["Vector"])
    noise.inputs["Scale"].default_value = 1.0
    noise.inputs["Detail"].default_value = 3.0
    strands = _map_range(tree, noise.outputs["Fac"], *HAIR_STRAND_EDGES, 0.0, 1.0)
    across = _math(tree, "MULTIPLY_ADD", _math(tree, "FRACT", u), 2.0, -1.0)
    edge = _math(tree, "SUBTRACT", 1.0, _math(tree, "POWER", _math(tree, "ABSOLUTE", across), HAIR_EDGE_POWER))
    ends = _math(tree, "MULTIPLY", _map_range(tree, v, HAIR_TIP_FADE, 1.0, 1.0, 0.0),
                 _map_range(tree, v, 0.0, HAIR_ROOT_FADE, 0.0, 1.0))
    return _math(tree, "MULTIPLY", _math(tree, "MULTIPLY", strands, edge), ends), noise.outputs["Fac"]


def hair_material(rgb, roughness: float):
    """Principled BSDF hair cards: colour ``rgb`` (linear) x (1 +- HAIR_SHADE_JITTER) along the strand
    noise, alpha from :func:`hair_alpha`."""
    mat, tree, bsdf = _principled("hair")
    alpha, fac = hair_alpha(tree)
    shade = tree.nodes.new("ShaderNodeVectorMath")
    shade.operation = "SCALE"
    shade.inputs["Vector"].default_value = tuple(float(c) for c in rgb)
    tree.links.new(_map_range(tree, fac, 0.3, 0.7, 1.0 - HAIR_SHADE_JITTER, 1.0 + HAIR_SHADE_JITTER),
                   shade.inputs["Scale"])
    tree.links.new(shade.outputs["Vector"], bsdf.inputs["Base Color"])
    tree.links.new(alpha, bsdf.inputs["Alpha"])
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["IOR"].default_value = HAIR_IOR
    return mat


def solid_material(rgb, roughness: float, metallic: float):
    """Opaque Principled BSDF cards (eyeglasses frames): colour ``rgb`` (linear), no strand alpha."""
    mat, _, bsdf = _principled("solid_cards")
    bsdf.inputs["Base Color"].default_value = (*[float(c) for c in rgb], 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Metallic"].default_value = metallic
    return mat


def hair_mask_material():
    """The cards in the mask render: HAIR_MASK_RGB emission through the same alpha, transparent elsewhere."""
    mat = bpy.data.materials.new("mask_hair")
    _use_nodes(mat)
    tree = mat.node_tree
    tree.nodes.clear()
    alpha, _ = hair_alpha(tree)
    emit = tree.nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = (*HAIR_MASK_RGB, 1.0)
    emit.inputs["Strength"].default_value = 1.0
    mix = tree.nodes.new("ShaderNodeMixShader")
    tree.links.new(alpha, mix.inputs["Fac"])
    tree.links.new(tree.nodes.new("ShaderNodeBsdfTransparent").outputs["BSDF"], mix.inputs[1])
    tree.links.new(emit.outputs["Emission"], mix.inputs[2])
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    tree.links.new(mix.outputs["Shader"], out.inputs["Surface"])
    return mat


def add_hair(scene, hair: dict):
    """The hair cards as one object (hair_material, or solid_material for solid cards); returns it."""
    cards = load_cards(hair["cards"])
    face_uvs = cards["uvs"][cards["faces"]]
    if hair["solid"]:
        material = solid_material(hair["rgb"], hair["roughness"], hair["metallic"])
    else:
        material = hair_material(hair["rgb"], hair["roughness"])
    return add_part_object(scene, "hair", cards["vertices"], cards["faces"], face_uvs, material)


# ------------------------------------------------------------------------------------------- lighting

def _world(name: str):
    world = bpy.data.worlds.new(name)
    _use_nodes(world)
    tree = world.node_tree
    tree.nodes.clear()
    background = tree.nodes.new("ShaderNodeBackground")
    out = tree.nodes.new("ShaderNodeOutputWorld")
    tree.links.new(background.outputs["Background"], out.inputs["Surface"])
    return world, tree, background


def hdri_path(name: str) -> Path:
    """A world HDRI bundled with this Blender. They differ between releases (4.2's studio.exr is half
    as bright as 5.0's): render a whole benchmark with one Blender version."""
    path = Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world")) / f"{name}.exr"
    if not path.is_file():
        raise JobError(f"bundled HDRI {name!r} not found at {path}")
    return path


def hdri_world(name: str, rotation_deg: float, strength: float):
    path = hdri_path(name)
    world, tree, background = _world(f"hdri_{name}")
    coords = tree.nodes.new("ShaderNodeTexCoord")
    mapping = tree.nodes.new("ShaderNodeMapping")
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(rotation_deg))
    env = tree.nodes.new("ShaderNodeTexEnvironment")
    env.image = bpy.data.images.load(str(path), check_existing=True)
    env.interpolation = "Linear"
    tree.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    tree.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    tree.links.new(env.outputs["Color"], background.inputs["Color"])
    background.inputs["Strength"].default_value = strength
    return world


def colour_world(name: str, rgb):
    world, _, background = _world(name)
    background.inputs["Color"].default_value = (*[float(c) for c in rgb], 1.0)
    background.inputs["Strength"].default_value = 1.0
    return world


def _aim(obj, direction_world: np.ndarray) -> None:
    """Point the lamp's -Z (its emitting direction) along -direction_world."""
    obj.rotation_mode = "QUATERNION"
    obj.rotation_quaternion = Vector(direction_world.tolist()).to_track_quat("Z", "Y")


def add_lamp(scene, index: int, lamp: dict) -> None:
    data = bpy.data.lights.new(f"lamp{index}_{lamp['type'].lower()}", lamp["type"])
    data.color = [float(c) for c in lamp["rgb"]]
    obj = bpy.data.objects.new(data.name, data)
    scene.collection.objects.link(obj)
    obj.visible_camera = False  # a lamp never shows up as a shape in the frame
    if lamp["type"] == "SUN":
        data.energy = lamp["strength"]
        data.angle = math.radians(lamp["angle_deg"])
        _aim(obj, HEAD_TO_WORLD @ lamp["direction"])
        return
    position = HEAD_TO_WORLD @ lamp["position"]
    obj.location = position.tolist()
    data.energy = lamp["power"]
    if lamp["type"] == "AREA":
        data.shape = "SQUARE"
        data.size = lamp["size"]
        _aim(obj, position)
    else:
        data.shadow_soft_size = lamp["radius"]


def sh_world(coeffs: np.ndarray):
    """A world whose radiance along Blender-world direction w is max(0, sum_k c_k Y_k(d)) with d the
    head-space direction of w: head (x, y, z) -> world (x, -z, y), so d = (w_x, w_z, -w_y). The direction is
    the Texture Coordinate node's Generated output, which in a world shader is the ray's direction
    (normalised again here); each basis function is a Math-node polynomial, each term a Vector Math scale
    of the coefficient's RGB, the sum clamped at 0 per channel."""
    world, tree, background = _world("sh")
    nodes, links = tree.nodes, tree.links
    coords = nodes.new("ShaderNodeTexCoord")
    unit = nodes.new("ShaderNodeVectorMath")
    unit.operation = "NORMALIZE"
    links.new(coords.outputs["Generated"], unit.inputs[0])
    sep = nodes.new("ShaderNodeSeparateXYZ")
    links.new(unit.outputs["Vector"], sep.inputs["Vector"])
    x, y = sep.outputs["X"], sep.outputs["Z"]
    z = _math(tree, "MULTIPLY", sep.outputs["Y"], -1.0)
    c0, c1, c2, c3, c4 = SH_CONSTANTS
    basis = [None,  # the constant term: the coefficient itself times c0
             _math(tree, "MULTIPLY", y, c1), _math(tree, "MULTIPLY", z, c1), _math(tree, "MULTIPLY", x, c1),
             _math(tree, "MULTIPLY", _math(tree, "MULTIPLY", x, y), c2),
             _math(tree, "MULTIPLY", _math(tree, "MULTIPLY", y, z), c2),
             _math(tree, "MULTIPLY_ADD", _math(tree, "MULTIPLY", z, z), 3.0 * c3, -c3),
             _math(tree, "MULTIPLY", _math(tree, "MULTIPLY", x, z), c2),
             _math(tree, "MULTIPLY", _math(tree, "SUBTRACT", _math(tree, "MULTIPLY", x, x),
                                           _math(tree, "MULTIPLY", y, y)), c4)]
    total = nodes.new("ShaderNodeVectorMath")  # starts as the constant term
    total.operation = "SCALE"
    total.inputs[0].default_value = tuple(float(v) for v in coeffs[0])
    total.inputs["Scale"].default_value = c0
    out = total.outputs["Vector"]
    for k in range(1, 9):
        term = nodes.new("ShaderNodeVectorMath")
        term.operation = "SCALE"
        term.inputs[0].default_value = tuple(float(v) for v in coeffs[k])
        links.new(basis[k], term.inputs["Scale"])
        add = nodes.new("ShaderNodeVectorMath")
        add.operation = "ADD"
        links.new(out, add.inputs[0])
        links.new(term.outputs["Vector"], add.inputs[1])
        out = add.outputs["Vector"]
    clamp = nodes.new("ShaderNodeVectorMath")
    clamp.operation = "MAXIMUM"
    links.new(out, clamp.inputs[0])
    clamp.inputs[1].default_value = (0.0, 0.0, 0.0)
    links.new(clamp.outputs["Vector"], background.inputs["Color"])
    background.inputs["Strength"].default_value = 1.0
    return world


def add_lighting(scene, lighting: dict) -> None:
    if lighting["kind"] == "hdri":
        scene.world = hdri_world(lighting["name"], lighting["rotation_deg"], lighting["strength"])
        return
    if lighting["kind"] == "sh":
        scene.world = sh_world(lighting["coeffs"])
        return
    scene.world = colour_world("ambient", lighting["ambient_rgb"])
    for i, lamp in enumerate(lighting["lights"]):
        add_lamp(scene, i, lamp)


# ------------------------------------------------------------------------------------------- outputs

def render_to(scene, path: Path) -> None:
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    if not path.is_file():
        raise RuntimeError(f"Cycles wrote no image at {path}")


def read_exr_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) float32, row 0 = top, via Blender's image loader."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return pixels.reshape(height, width, 4)[::-1, :, :3]


def write_grey_png(path: Path, grey: np.ndarray) -> None:
    """8-bit greyscale PNG from a (H, W) uint8 array (no imaging library in the bpy venvs)."""
    height, width = grey.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(grey, np.uint8))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
                     + chunk(b"IEND", b""))


def _mask_render(scene, work: Path, name: str) -> np.ndarray:
    path = work / f"{name}.exr"
    render_to(scene, path)
    return read_exr_rgb(path)


def render_masks(scene, objects: dict, work: Path, out_dir: Path, hair=None, solid: bool = False) -> None:
    """Skin / head coverage: every part an emitter (skin red, others green), black world, camera rays
    only (0 bounces), MASK_SAMPLES samples with the default pixel filter, no denoising. With ``hair``
    (the cards' object): the cards emit blue through their alpha (opaquely if ``solid``), then a
    render without them gives the bare head (mask_head.png, and the skin under the hair in
    mask_hair.png)."""
    skin, other = emission_material("mask_skin", (1.0, 0.0, 0.0)), emission_material("mask_other", (0.0, 1.0, 0.0))
    for name, obj in objects.items():
        obj.data.materials[0] = skin if name == "skin" else other
    for obj in scene.objects:
        if obj.type == "LIGHT":
            obj.hide_render = True
    scene.world = colour_world("mask_black", (0.0, 0.0, 0.0))
    cyc = scene.cycles
    cyc.samples = MASK_SAMPLES
    cyc.use_adaptive_sampling = False
    cyc.use_denoising = False
    cyc.max_bounces = 0
    scene.render.image_settings.color_depth = "32"
    to8 = lambda a: np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)  # noqa: E731
    rgb = None
    if hair is not None:
        hair.data.materials[0] = emission_material("mask_hair", HAIR_MASK_RGB) if solid else hair_mask_material()
        rgb = _mask_render(scene, work, "mask_hair")
        hair.hide_render = True
    bare = _mask_render(scene, work, "mask")
    rgb = bare if rgb is None else rgb
    write_grey_png(out_dir / "mask_skin.png", to8(rgb[..., 0]))
    write_grey_png(out_dir / "mask_head.png", to8(bare[..., 0] + bare[..., 1]))
    if hair is not None:
        write_grey_png(out_dir / "mask_hair.png", to8(np.minimum(rgb[..., 2], bare[..., 0])))


# ---------------------------------------------------------------------------------------------- jobs

def render_job(job: dict) -> dict:
    start = time.perf_counter()
    cam = job["camera"]
    mesh = load_mesh(job["mesh"])
    scene = reset_scene()
    denoiser = configure_render(scene, cam["width"], cam["height"], job["samples"], job["seed"])
    samples_rendered = scene.cycles.samples
    add_camera(scene, cam)
    add_lighting(scene, job["lighting"])
    objects = add_head(scene, mesh, head_materials(job, mesh))
    hair = None if job["hair"] is None else add_hair(scene, job["hair"])
    solid = hair is not None and job["hair"]["solid"]
    if hair is not None and not solid:
        scene.cycles.transparent_max_bounces = HAIR_TRANSPARENT_BOUNCES
    job["out_dir"].mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cycles_gt_"))
    try:
        render_to(scene, work / "render.exr")
        beauty_s = time.perf_counter() - start
        render_masks(scene, objects, work, job["out_dir"], hair, solid)
        shutil.move(str(work / "render.exr"), str(job["out_dir"] / "render.exr"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - start
    info = {"id": job["id"], "seconds": round(seconds, 3), "beauty_seconds": round(beauty_s, 3),
            "blender": bpy.app.version_string, "samples": job["samples"],
            "samples_rendered": samples_rendered, "denoiser": denoiser,
            "width": cam["width"], "height": cam["height"], "seed": job["seed"],
            "mask_samples": MASK_SAMPLES, "subsurface_method": SKIN_SSS_METHOD}
    if hair is not None:
        info["hair"] = {"triangles": len(hair.data.polygons), "rgb": job["hair"]["rgb"].tolist(),
                        "roughness": job["hair"]["roughness"]}
        if solid:
            info["hair"].update(solid=True, metallic=job["hair"]["metallic"])
        else:
            info["hair"]["transparent_bounces"] = HAIR_TRANSPARENT_BOUNCES
    if job["lighting"]["kind"] == "sh":
        info["sh_coeffs"] = job["lighting"]["coeffs"].tolist()
    if job["lighting"]["kind"] == "hdri":
        path = hdri_path(job["lighting"]["name"])
        info["hdri"] = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (job["out_dir"] / "render.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def load_batch(path: str) -> list[dict]:
    try:
        batch = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise JobError(f"cannot read batch {path}: {exc}") from None
    jobs = batch.get("jobs") if isinstance(batch, dict) else None
    if not isinstance(jobs, list) or not jobs:
        raise JobError(f"{path}: expected {{\"jobs\": [JOB, ...]}} with at least one job")
    checked = []
    for i, job in enumerate(jobs):
        try:
            checked.append(check_job(job))
            load_mesh(checked[-1]["mesh"])
            if checked[-1]["hair"] is not None:
                load_cards(checked[-1]["hair"]["cards"])
        except (JobError, KeyError, TypeError, ValueError) as exc:  # JobError is a ValueError
            name = job.get("id", f"#{i}") if isinstance(job, dict) else f"#{i}"
            detail = exc if isinstance(exc, JobError) else f"bad or missing field ({type(exc).__name__}: {exc})"
            raise JobError(f"job {name!r}: {detail}") from None
    ids = [job["id"] for job in checked]
    if len(set(ids)) != len(ids):
        raise JobError("job ids must be unique")
    return checked


def main(argv: list[str]) -> int:
    # JSON lines go to the real stdout; everything else written to fd 1 (Blender's render log) goes
    # to stderr so that stdout stays machine-readable.
    sys.stdout.flush()
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    if len(argv) != 2:
        print("usage: cycles_render.py BATCH.json", file=sys.stderr)
        return 2
    try:
        jobs = load_batch(argv[1])
    except JobError as exc:
        print(f"cycles_render: {exc}", file=sys.stderr)
        return 2
    for job in jobs:
        try:
            info = render_job(job)
        except JobError as exc:
            print(f"cycles_render: job {job['id']!r}: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # noqa: BLE001 - report which job failed, then stop
            print(f"cycles_render: job {job['id']!r} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        results.write(json.dumps({"id": info["id"], "seconds": info["seconds"]}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
