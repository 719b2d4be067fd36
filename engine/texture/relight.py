"""Re-rendering with the recovered albedo: the re-render check and the relit preview sheet.

* :func:`rerender` renders ``albedo * shading + specular`` with the *estimated* lighting at the
  photo's camera, so it can be compared with the photo (PSNR inside the face-skin mask from the
  landmarks: the face oval without eyes and inner mouth).
* :func:`render_relit_sheet` puts the photo beside the head rendered with the recovered albedo under
  four different lights (order-2 SH, no shadows), so a person sees at a glance whether the albedo is
  evenly lit (no baked shadow moving against the new light) and still looks like the photo.

Uses the engine's rasterizer (``engine.render``); images are (H, W, 3) float32 linear RGB unless
called ``*_srgb`` (uint8), row 0 = top.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.head.model import HeadModel
from engine.landmarks import FACE_OVAL, LEFT_EYE, LEFT_EYEBROW, LIPS_OUTER, RIGHT_EYE, RIGHT_EYEBROW
from engine.render.camera import opencv_to_clip
from engine.render.ops import interpolate, rasterize, texture
from engine.render.sh import sh_from_directional, sh_shading
from engine.runtime import CPU, Runtime
from engine.texture.color import linear_to_srgb
from engine.texture.delight import LightingModel, ShadowMap, sun_visibility, template_ambient_occlusion
from engine.texture.metrics import psnr
from engine.texture.unwrap import vertex_normals

__all__ = ["RenderedView", "Rerender", "RELIT_LIGHTS", "render_view", "face_skin_mask", "rerender",
           "render_relit_sheet"]


def _relit_lights() -> tuple[tuple[str, np.ndarray], ...]:
    def sh(direction: tuple[float, float, float], rgb: tuple[float, float, float], ambient: float) -> np.ndarray:
        c = sh_from_directional(torch.tensor(direction, dtype=torch.float64), torch.tensor(rgb, dtype=torch.float64),
                                ambient)
        return c[0].numpy().astype(np.float32)

    return (
        ("front", sh((0.0, 0.2, 1.0), (0.85, 0.85, 0.85), 0.3)),
        ("left", sh((-1.0, 0.3, 0.4), (1.1, 1.05, 1.0), 0.2)),
        ("right_warm", sh((1.0, 0.2, 0.5), (1.15, 0.95, 0.75), 0.2)),
        ("top", sh((0.0, 1.0, 0.3), (1.0, 1.0, 1.05), 0.25)),
    )


RELIT_LIGHTS: tuple[tuple[str, np.ndarray], ...] = _relit_lights()
"""(name, SH radiance coefficients (9, 3)) of the four preview lights, head space."""


@dataclass
class RenderedView:
    """The head rasterized at a camera: per-pixel albedo (H, W, 3), head-space normal and position
    (H, W, 3), per-vertex-interpolated AO (H, W), coverage (H, W) bool and triangle id (H, W)."""

    albedo: np.ndarray
    normal: np.ndarray
    position: np.ndarray
    ao: np.ndarray
    mask: np.ndarray
    face_id: np.ndarray


def render_view(model: HeadModel, vertices: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                width: int, height: int, albedo: np.ndarray, vertex_ao: np.ndarray | None = None,
                rast: torch.Tensor | None = None, runtime: Runtime = CPU) -> RenderedView:
    """Rasterize the posed head (V, 3) with ``albedo`` (N, N, 3) linear at camera ``K, R, t``.

    ``rast`` may pass a rasterization of exactly this mesh and camera made with the same ``runtime``
    (e.g. ``CameraView.rast``). The render runs on ``runtime``; the returned arrays are numpy.
    """
    v = np.asarray(vertices, np.float32)
    faces = model.faces.numpy()
    tri = model.faces.to(torch.int32)
    cam = [torch.from_numpy(np.asarray(a, np.float32)) for a in (K, R, np.reshape(t, 3))]
    clip = opencv_to_clip(torch.from_numpy(v), *cam, width, height)[None].contiguous()
    ao = template_ambient_occlusion(model, runtime) if vertex_ao is None else vertex_ao
    attrs = np.concatenate([v, vertex_normals(v, faces), ao[:, None].astype(np.float32)], axis=1)
    tri = runtime.index(tri)
    with torch.no_grad():
        if rast is None or tuple(rast.shape[1:3]) != (height, width):
            rast, _ = rasterize(runtime.context(), runtime.tensor(clip), tri, (height, width), grad_db=False)
        geo, _ = interpolate(runtime.tensor(torch.from_numpy(attrs)[None]), rast, tri, backend=runtime.backend)
        uv, _ = interpolate(runtime.tensor(model.uvs[None]), rast, runtime.index(model.uv_faces),
                            backend=runtime.backend)
        alb = texture(runtime.tensor(torch.from_numpy(np.ascontiguousarray(albedo, np.float32))[None]), uv,
                      boundary_mode="clamp", backend=runtime.backend)
    g = runtime.host(geo[0]).numpy()
    nrm = g[..., 3:6]
    nrm = nrm / np.maximum(np.linalg.norm(nrm, axis=-1, keepdims=True), 1e-12)
    fid = runtime.host(rast[0, ..., 3]).numpy().astype(np.int64) - 1
    return RenderedView(runtime.host(alb[0]).numpy(), nrm.astype(np.float32), g[..., :3], g[..., 6], fid >= 0,
                        fid.astype(np.int32))


def face_skin_mask(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W) bool: inside the face oval, outside the eye openings, the brows and the mouth (lips
    included), each dilated by a few percent of the inter-ocular distance."""
    lm = np.asarray(landmarks, np.float64)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(lm[list(FACE_OVAL)] * 4).astype(np.int32)], 1, shift=2)
    holes = np.zeros_like(mask)
    for loop in (LEFT_EYE, RIGHT_EYE, LIPS_OUTER):
        cv2.fillPoly(holes, [np.round(lm[list(loop)] * 4).astype(np.int32)], 1, shift=2)
    for chain in (LEFT_EYEBROW, RIGHT_EYEBROW):
        hull = cv2.convexHull(lm[list(chain)].astype(np.float32))[:, 0]
        cv2.fillPoly(holes, [np.round(hull * 4).astype(np.int32)], 1, shift=2)
    iod = float(np.linalg.norm(lm[LEFT_EYE[0]] - lm[RIGHT_EYE[0]]))
    r = max(1, int(round(0.06 * iod)))
    holes = cv2.dilate(holes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return (mask > 0) & (holes == 0)


@dataclass
class Rerender:
    """``image`` (H, W, 3) linear re-render (photo outside the head), ``mask`` (H, W) bool face skin
    compared, ``psnr`` in dB on sRGB-encoded values inside ``mask``."""

    image: np.ndarray
    mask: np.ndarray
    psnr: float


def rerender(photo: np.ndarray, model: HeadModel, vertices: np.ndarray, K: np.ndarray, R: np.ndarray,
             t: np.ndarray, albedo: np.ndarray, lighting: LightingModel, landmarks: np.ndarray | None,
             shadow: ShadowMap | None = None, rast: torch.Tensor | None = None,
             not_skin: np.ndarray | None = None, person_mask: np.ndarray | None = None,
             runtime: Runtime = CPU) -> Rerender:
    """Photo vs ``albedo ⊙ estimated shading + specular`` at the photo's camera (see module doc).

    ``not_skin`` (N, N) bool/float texels that are not face skin in the photo (hair, glasses, beard,
    nostrils, brows: what the correction stage replaced) and ``person_mask`` (H, W) in [0, 1] (the
    selfie segmentation) remove pixels from the compared face-skin mask: where hair covers the skin
    in the photo there is no skin to compare with.

    ``shadow``: the sun's shadow map from the de-lighting (recomputed if None and there is a sun);
    ``rast``: the camera rasterization of this mesh at the photo's size, made on ``runtime`` (recomputed
    if None). The renders run on ``runtime``; the comparison is numpy on the CPU.
    """
    h, w = photo.shape[:2]
    view = render_view(model, vertices, K, R, t, w, h, albedo, rast=rast, runtime=runtime)
    sel = view.mask
    nrm = view.normal[sel].astype(np.float64)
    pos = view.position[sel].astype(np.float64)
    vis = None
    if shadow is not None:
        vis = shadow.visibility(pos, nrm)
    elif np.any(lighting.sun_direction):
        vis = sun_visibility(np.asarray(vertices, np.float64), model.faces.numpy(), pos, nrm, lighting.sun_direction,
                             512, runtime=runtime)
    centre = -np.asarray(R, np.float64).T @ np.reshape(np.asarray(t, np.float64), 3)
    vdir = centre[None] - pos
    vdir /= np.maximum(np.linalg.norm(vdir, axis=1, keepdims=True), 1e-12)
    shade = lighting.diffuse(nrm, view.ao[sel].astype(np.float64), vis, vdir)
    spec = lighting.specular(nrm, vdir, vis)
    img = photo.astype(np.float32).copy()
    img[sel] = view.albedo[sel] * shade + spec
    mask = sel.copy()
    if not_skin is not None:
        ns = np.repeat(np.asarray(not_skin, np.float32)[..., None], 3, axis=2)
        mask &= render_view(model, vertices, K, R, t, w, h, ns, rast=rast, runtime=runtime).albedo[..., 0] < 0.5
    if person_mask is not None:
        mask &= np.asarray(person_mask, np.float32) >= 0.5
    if landmarks is not None:
        mask &= face_skin_mask(landmarks, w, h)
    mask &= cv2.erode(sel.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    value = float("nan")
    if mask.any():
        value = psnr(np.asarray(linear_to_srgb(np.clip(img, 0, 1))), np.asarray(linear_to_srgb(np.clip(photo, 0, 1))),
                     mask.astype(np.float32))
    return Rerender(img, mask, value)


def _crop_box(mask: np.ndarray, margin: float = 0.12) -> tuple[int, int, int, int]:
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0, 0, w, h
    cx, cy = 0.5 * (xs.min() + xs.max()), 0.5 * (ys.min() + ys.max())
    half = 0.5 * max(xs.max() - xs.min(), ys.max() - ys.min()) * (1.0 + margin)
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    x1, y1 = int(round(cx + half)), int(round(cy + half))
    return x0, y0, x1, y1


def _crop(img: np.ndarray, box: tuple[int, int, int, int], fill: float) -> np.ndarray:
    x0, y0, x1, y1 = box
    h, w = img.shape[:2]
    out = np.full((y1 - y0, x1 - x0) + img.shape[2:], fill, img.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out


def render_relit_sheet(photo_srgb: np.ndarray, model: HeadModel, vertices: np.ndarray, K: np.ndarray,
                       R: np.ndarray, t: np.ndarray, albedo: np.ndarray,
                       lights: tuple[tuple[str, np.ndarray], ...] = RELIT_LIGHTS, panel: int = 384,
                       max_render: int = 768, runtime: Runtime = CPU) -> np.ndarray:
    """(panel, panel * (1 + len(lights)), 3) uint8 sRGB: the photo crop, then one render per light.

    Renders at the photo's camera (downscaled so the long side is at most ``max_render``) with the
    recovered ``albedo`` (N, N, 3) linear, shaded by each light's SH (head space) times AO. The render
    runs on ``runtime``; the shading of its pixels is on the CPU.
    """
    h, w = photo_srgb.shape[:2]
    s = min(1.0, max_render / max(h, w))
    rw, rh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    Ks = np.asarray(K, np.float64).copy()
    Ks[:2] *= s
    Ks[0, 2] = (K[0, 2] + 0.5) * s - 0.5
    Ks[1, 2] = (K[1, 2] + 0.5) * s - 0.5
    small = cv2.resize(photo_srgb, (rw, rh), interpolation=cv2.INTER_AREA) if s < 1.0 else photo_srgb
    view = render_view(model, vertices, Ks, R, t, rw, rh, albedo, runtime=runtime)
    box = _crop_box(view.mask)
    panels = [cv2.resize(_crop(small, box, 0), (panel, panel), interpolation=cv2.INTER_AREA)]
    nrm = torch.from_numpy(view.normal[view.mask].astype(np.float32))[None]
    for _, coeffs in lights:
        shade = sh_shading(nrm, torch.from_numpy(coeffs)[None])[0].numpy() * view.ao[view.mask][:, None]
        img = np.full((rh, rw, 3), 0.02, np.float32)
        img[view.mask] = view.albedo[view.mask] * np.clip(shade, 0.0, None)
        srgb = np.round(np.asarray(linear_to_srgb(np.clip(img, 0, 1))) * 255).astype(np.uint8)
        panels.append(cv2.resize(_crop(srgb, box, 5), (panel, panel), interpolation=cv2.INTER_AREA))
    return np.concatenate(panels, axis=1)
