"""Synthetic ground truth for the texture pipeline: photos of the template head we make ourselves.

A scene is the head model with random shape sliders, a procedurally varied skin albedo (the template
albedo with a random skin tone, low-frequency colour variation and asymmetric blotches), rendered
with the engine's rasterizer at a known camera under a known light:

    photo = albedo * (AO * ambient(n) + Σ_j rgb_j max(0, n·d_j) vis_j) + Σ_j spec_j (n·h_j)^α vis_j

``ambient`` is a sky/ground environment (exactly linear in n_y), ``vis_j`` the cast shadows of each
distant light from a shadow map, AO the rasterized ambient occlusion of the scene's own mesh. The
image is rendered 2x supersampled, gets sensor noise and 8-bit sRGB quantisation, and landmarks come
from MediaPipe run on the rendered image (as for a real photo).

Exposure and white balance: every light is scaled per channel so that its unoccluded shading averaged
over the template's face-skin normals is :data:`engine.texture.delight.REFERENCE_SHADING` (what a
camera's auto exposure + white balance do). Under this normalisation the true albedo is the one
the pipeline should recover, whatever the light.

Conventions: head space metres (+Y up, +Z out of the face), OpenCV camera, linear RGB float32 images
with row 0 = top, UV textures row 0 = top (v = 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.head.model import HeadModel, load_head_model
from engine.render.camera import opencv_to_clip
from engine.render.ops import interpolate, rasterize, texture
from engine.texture.blend import dilate_fill
from engine.texture.color import lab_to_linear_rgb, linear_rgb_to_lab, linear_to_srgb, srgb_to_linear
from engine.texture.delight import (
    REFERENCE_SHADING,
    reference_normals,
    sun_visibility,
    vertex_ambient_occlusion,
)
from engine.texture.unwrap import uv_raster, vertex_normals

__all__ = [
    "DirectionalLight",
    "SceneLight",
    "SyntheticScene",
    "STANDARD_LIGHTS",
    "standard_light",
    "normalise_exposure",
    "random_shape",
    "synthetic_albedo",
    "look_at_camera",
    "render_scene",
    "make_scene",
]

HEAD_TO_OPENCV_FRONT = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class DirectionalLight:
    """A distant light: ``direction`` (3,) head space toward the light, ``rgb`` shading at normal
    incidence, ``specular`` peak of its Blinn-Phong lobe (white-ish sheen, times ``rgb``)."""

    direction: tuple[float, float, float]
    rgb: tuple[float, float, float]
    specular: float = 0.05


@dataclass(frozen=True)
class SceneLight:
    """Sky/ground ambient (shading from straight above / below) plus distant lights with cast shadows."""

    name: str
    sky: tuple[float, float, float]
    ground: tuple[float, float, float]
    lights: tuple[DirectionalLight, ...] = ()
    shininess: float = 30.0

    def ambient(self, normals: np.ndarray) -> np.ndarray:
        """(M, 3) ambient shading of unit normals (M, 3): exact for a two-hemisphere environment."""
        s = 0.5 * (1.0 + normals[:, 1:2])
        return np.asarray(self.ground)[None] + (np.asarray(self.sky) - np.asarray(self.ground))[None] * s

    def unshadowed(self, normals: np.ndarray) -> np.ndarray:
        """(M, 3) diffuse shading without occlusion or cast shadows."""
        out = self.ambient(normals)
        for li in self.lights:
            d = _unit(li.direction)
            out = out + np.clip(normals @ d, 0.0, None)[:, None] * np.asarray(li.rgb)[None]
        return out


def _unit(v: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    a = np.asarray(v, np.float64)
    return a / max(float(np.linalg.norm(a)), 1e-12)


def normalise_exposure(light: SceneLight, reference: float = REFERENCE_SHADING,
                       model: HeadModel | None = None) -> SceneLight:
    """Scale ``light`` per channel so its unoccluded shading averaged over the template's face-skin
    normals (:func:`engine.texture.delight.reference_normals`) equals ``reference`` (camera exposure +
    white balance)."""
    dirs = reference_normals(load_head_model() if model is None else model)
    gain = reference / np.maximum(light.unshadowed(dirs).mean(axis=0), 1e-9)

    def sc(c: tuple[float, float, float]) -> tuple[float, float, float]:
        return tuple(float(x) for x in np.asarray(c) * gain)  # type: ignore[return-value]

    lights = tuple(DirectionalLight(li.direction, sc(li.rgb), li.specular) for li in light.lights)
    return SceneLight(light.name, sc(light.sky), sc(light.ground), lights, light.shininess)


STANDARD_LIGHTS: tuple[SceneLight, ...] = (
    SceneLight("soft_frontal", sky=(0.55, 0.55, 0.55), ground=(0.3, 0.3, 0.3),
               lights=(DirectionalLight((0.15, 0.25, 1.0), (0.55, 0.55, 0.55), 0.03),)),
    SceneLight("hard_side", sky=(0.12, 0.12, 0.13), ground=(0.06, 0.06, 0.06),
               lights=(DirectionalLight((1.0, 0.25, 0.35), (1.6, 1.6, 1.6), 0.06),)),
    SceneLight("coloured", sky=(0.18, 0.2, 0.26), ground=(0.1, 0.09, 0.08),
               lights=(DirectionalLight((-0.6, 0.3, 0.75), (1.0, 0.72, 0.45), 0.05),
                       DirectionalLight((0.75, 0.05, 0.65), (0.3, 0.45, 0.8), 0.02))),
    SceneLight("top", sky=(0.2, 0.2, 0.2), ground=(0.08, 0.08, 0.08),
               lights=(DirectionalLight((0.05, 1.0, 0.35), (1.3, 1.3, 1.3), 0.05),)),
)
"""The bench's lights (before :func:`normalise_exposure`): soft frontal, hard side light with cast
shadows, two coloured lights (warm key, cool fill), top light."""


def standard_light(name: str) -> SceneLight:
    """One of :data:`STANDARD_LIGHTS` by name, exposure-normalised."""
    for li in STANDARD_LIGHTS:
        if li.name == name:
            return normalise_exposure(li)
    raise KeyError(f"unknown light {name!r}; choose from {[li.name for li in STANDARD_LIGHTS]}")


def random_shape(model: HeadModel, rng: np.random.Generator, count: int = 24, amount: float = 0.6) -> np.ndarray:
    """(S,) slider values: ``count`` random sliders set to uniform values within ``amount`` of their range."""
    s = np.zeros(model.num_shapes, np.float32)
    rng_ranges = model.shape_ranges.numpy()
    pick = rng.choice(model.num_shapes, size=min(count, model.num_shapes), replace=False)
    for i in pick:
        lo, hi = rng_ranges[i]
        s[i] = rng.uniform(lo * amount, hi * amount)
    return s


def synthetic_albedo(base: np.ndarray, model: HeadModel, rng: np.random.Generator) -> np.ndarray:
    """A varied skin albedo (N, N, 3) linear from ``base`` (N, N, 3) linear (e.g. the template albedo).

    Skin texels (part ``skin``) get a random tone shift in Lab (L* -24..-2: from the template's light
    tone toward darker skin, which also keeps the strongest bench lights from clipping), a smooth
    low-frequency colour field and 15-40 asymmetric soft blotches (darker, redder); eyes, teeth and
    tongue are left as they are.
    """
    n = base.shape[0]
    raster = uv_raster(model, n)
    part = np.full(n * n, -1, np.int64)
    part[raster.texels] = model.face_part.numpy()[raster.tex_face]
    skin = (part == 0).reshape(n, n)
    lab = np.asarray(linear_rgb_to_lab(np.clip(base, 0.0, 1.0)), np.float32)
    shift = np.array([rng.uniform(-24.0, -2.0), rng.uniform(-2.0, 5.0), rng.uniform(-3.0, 6.0)], np.float32)
    field_ = cv2.GaussianBlur(rng.standard_normal((n, n, 3)).astype(np.float32), (0, 0), 0.03 * n)
    field_ /= max(float(field_.std()), 1e-6)
    delta = shift[None, None] + field_ * np.array([2.5, 1.5, 1.5], np.float32)
    blot = np.zeros((n, n), np.float32)
    ys, xs = np.nonzero(skin)
    for _ in range(int(rng.integers(15, 41))):
        k = int(rng.integers(0, len(ys)))
        r = rng.uniform(0.003, 0.015) * n
        g = np.zeros((n, n), np.float32)
        cv2.ellipse(g, (int(xs[k]), int(ys[k])), (max(1, int(r)), max(1, int(r * rng.uniform(0.5, 1.0)))),
                    float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.5, 1.0)), -1)
        blot = np.maximum(blot, cv2.GaussianBlur(g, (0, 0), max(0.5, 0.35 * r)))
    delta += blot[..., None] * np.array([-7.0, 4.0, 2.0], np.float32)
    out = np.asarray(lab_to_linear_rgb(lab + delta), np.float32)
    return np.where(skin[..., None], out, base).astype(np.float32)


def look_at_camera(width: int, height: int, focal: float, distance: float, yaw_deg: float = 0.0,
                   pitch_deg: float = 0.0, offset: tuple[float, float] = (0.0, 0.0)
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, R, t) of a camera ``distance`` m in front of the head origin; the head turned by ``yaw``
    (positive: toward the head's left, +X) and ``pitch`` (positive: chin up)."""
    K = np.array([[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
    y, p = np.deg2rad(yaw_deg), np.deg2rad(pitch_deg)
    ry = np.array([[np.cos(y), 0.0, np.sin(y)], [0.0, 1.0, 0.0], [-np.sin(y), 0.0, np.cos(y)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(p), -np.sin(p)], [0.0, np.sin(p), np.cos(p)]])
    R = HEAD_TO_OPENCV_FRONT @ rx @ ry
    t = np.array([offset[0], offset[1], distance])
    return K, R, t


@dataclass
class SyntheticScene:
    """A rendered synthetic photo and its ground truth.

    ``photo`` (H, W, 3) float32 linear RGB (noisy, 8-bit quantised), ``photo_srgb`` (H, W, 3) uint8;
    ``K, R, t`` the camera; ``vertices`` (V, 3) the true posed mesh; ``landmarks`` (478, 2) MediaPipe
    landmarks detected on the render (None when not asked for / not found); ``person_mask`` (H, W)
    coverage of the head; ``albedo`` (N, N, 3) the true linear albedo; ``shading`` (H, W, 3) the true
    diffuse shading; ``light`` the (exposure-normalised) light.
    """

    photo: np.ndarray
    photo_srgb: np.ndarray
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    vertices: np.ndarray
    landmarks: np.ndarray | None
    person_mask: np.ndarray
    albedo: np.ndarray
    shading: np.ndarray
    light: SceneLight
    info: dict[str, float] = field(default_factory=dict)


def render_scene(model: HeadModel, vertices: np.ndarray, albedo: np.ndarray, light: SceneLight,
                 K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int, height: int,
                 rng: np.random.Generator, supersample: int = 2, noise: float = 0.004,
                 detect: bool = True) -> SyntheticScene:
    """Render ``vertices`` (V, 3) with ``albedo`` (N, N, 3) linear under ``light`` (see module docstring)."""
    ss = supersample
    W, H = width * ss, height * ss
    Ks = np.array(K, np.float64).copy()
    Ks[:2] *= ss
    Ks[0, 2] = (K[0, 2] + 0.5) * ss - 0.5
    Ks[1, 2] = (K[1, 2] + 0.5) * ss - 0.5
    v = torch.from_numpy(np.asarray(vertices, np.float32))
    faces = model.faces.numpy()
    tri = model.faces.to(torch.int32)
    clip = opencv_to_clip(v, *(torch.from_numpy(np.asarray(a, np.float32)) for a in (Ks, R, np.reshape(t, 3))), W, H)
    vn = vertex_normals(np.asarray(vertices, np.float32), faces)
    ao_v = vertex_ambient_occlusion(np.asarray(vertices, np.float64), faces)
    attrs = torch.from_numpy(np.concatenate([np.asarray(vertices, np.float32), vn, ao_v[:, None]], 1))
    with torch.no_grad():
        rast, _ = rasterize(None, clip[None].contiguous(), tri, (H, W), grad_db=False)
        geo, _ = interpolate(attrs[None], rast, tri)
        uv, _ = interpolate(model.uvs[None], rast, model.uv_faces.to(torch.int32))
        alb = texture(torch.from_numpy(albedo[None].astype(np.float32)), uv, boundary_mode="clamp")
    cover = (rast[0, ..., 3] > 0).numpy()
    g = geo[0].numpy()[cover].astype(np.float64)
    pos, nrm, ao = g[:, :3], g[:, 3:6], g[:, 6]
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    cam_centre = -np.asarray(R).T @ np.reshape(t, 3)
    vdir = cam_centre[None] - pos
    vdir /= np.linalg.norm(vdir, axis=1, keepdims=True)
    shade = light.ambient(nrm) * ao[:, None]
    spec = np.zeros_like(shade)
    for li in light.lights:
        d = _unit(li.direction)
        vis = sun_visibility(np.asarray(vertices, np.float64), faces, pos, nrm, d, resolution=2048)
        cos = np.clip(nrm @ d, 0.0, None) * vis
        shade += cos[:, None] * np.asarray(li.rgb)[None]
        h = vdir + d[None]
        h /= np.linalg.norm(h, axis=1, keepdims=True)
        lobe = np.where(nrm @ d > 0, np.clip(np.einsum("ij,ij->i", nrm, h), 0, None) ** light.shininess, 0.0) * vis
        spec += li.specular * lobe[:, None] * np.asarray(li.rgb)[None]
    a = alb[0].numpy()[cover].astype(np.float64)
    img = _background(H, W, rng)
    img[cover] = a * shade + spec
    shading_img = np.zeros((H, W, 3), np.float32)
    shading_img[cover] = shade
    img = cv2.resize(img.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    shading_img = cv2.resize(shading_img, (width, height), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(cover.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    img = np.clip(img + rng.normal(0.0, noise, img.shape).astype(np.float32), 0.0, 1.0)
    srgb = np.round(np.asarray(linear_to_srgb(img)) * 255.0).astype(np.uint8)
    photo = np.asarray(srgb_to_linear(srgb.astype(np.float32) / 255.0), np.float32)
    lms = _detect(srgb) if detect else None
    return SyntheticScene(photo, srgb, np.asarray(K, np.float64), np.asarray(R, np.float64),
                          np.reshape(np.asarray(t, np.float64), 3), np.asarray(vertices, np.float32), lms, mask,
                          albedo.astype(np.float32), shading_img, light)


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    top = rng.uniform(0.1, 0.45, 3)
    bottom = rng.uniform(0.05, 0.3, 3)
    s = np.linspace(0.0, 1.0, h)[:, None, None]
    img = top[None, None] * (1 - s) + bottom[None, None] * s
    return np.broadcast_to(img, (h, w, 3)).astype(np.float64).copy()


def _detect(srgb: np.ndarray) -> np.ndarray | None:
    """MediaPipe landmarks (478, 2) on the rendered image, or None if no face is found."""
    from engine.errors import EngineError
    from engine.images import Photo
    from engine.landmarks import detect_landmarks

    h, w = srgb.shape[:2]
    try:
        lm = detect_landmarks(Photo(rgb=srgb, path=Path("synthetic.png"), original_size=(w, h), scale=1.0),
                              min_face_size=32.0)
    except EngineError:
        return None
    return lm.points.astype(np.float32)


def make_scene(seed: int = 0, light: str | SceneLight = "soft_frontal", texture_size: int = 512,
               image_size: int = 640, yaw_deg: float | None = None, base_albedo: np.ndarray | None = None,
               model: HeadModel | None = None, detect: bool = True, expression: np.ndarray | None = None
               ) -> SyntheticScene:
    """A complete random scene: subject from ``seed`` (shape, albedo, camera), lit by ``light``.

    The same ``seed`` gives the same subject and camera whatever the light, so scenes that differ
    only in light can be compared. ``base_albedo`` defaults to the template albedo
    (``engine.texture.template.load_template_albedo``) at ``texture_size``.
    """
    model = load_head_model() if model is None else model
    rng = np.random.default_rng(seed)
    shape = random_shape(model, rng)
    expr = None if expression is None else torch.as_tensor(expression, dtype=torch.float32)
    vertices = model.shaped_vertices(torch.from_numpy(shape), expr).numpy()
    if base_albedo is None:
        from engine.texture.template import load_template_albedo

        base_albedo = np.asarray(load_template_albedo(texture_size), np.float32)
    albedo = synthetic_albedo(base_albedo, model, rng)
    albedo = np.asarray(dilate_fill(albedo, uv_raster(model, albedo.shape[0]).mask.astype(np.float32)), np.float32)
    yaw = float(rng.uniform(-12.0, 12.0)) if yaw_deg is None else float(yaw_deg)
    pitch = float(rng.uniform(-5.0, 5.0))
    focal = 2.2 * image_size
    K, R, t = look_at_camera(image_size, image_size, focal, 0.75, yaw, pitch,
                             (float(rng.uniform(-0.01, 0.01)), float(rng.uniform(0.0, 0.02))))
    li = standard_light(light) if isinstance(light, str) else normalise_exposure(light)
    scene = render_scene(model, vertices, albedo, li, K, R, t, image_size, image_size,
                         np.random.default_rng(seed + 1000), detect=detect)
    scene.info.update(seed=float(seed), yaw_deg=yaw, pitch_deg=pitch)
    return scene
