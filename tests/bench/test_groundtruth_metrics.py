"""Known-answer tests of bench/groundtruth/metrics.py (the ground-truth benchmark's yardstick)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bench.groundtruth.metrics import (
    MetricInputError,
    albedo_delta_e,
    bs_error,
    closest_point_on_triangles,
    delta_e00,
    inter_ocular,
    landmark_error,
    linear_to_lab,
    linear_to_srgb,
    mean_colour_delta_e,
    pairwise_delta_e,
    point_triangle_distance,
    seen_border_seam,
    similarity_align,
    summarise,
    surface_error,
    uv_island_seam,
)

N = 64

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: (pair, Lab1, Lab2, dE00).
# Pair 10 is left out: its hue difference is exactly 180 deg, where round-off decides the mean hue.
SHARMA_PAIRS = [
    (1, (50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    (4, (50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    (7, (50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    (9, (50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0009), 7.1792),
    (13, (50.0, -0.0010, 2.4900), (50.0, 0.0009, -2.4900), 4.8045),
    (17, (50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    (19, (50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    (22, (50.0, 2.5, 0.0), (50.0, 3.2972, 0.0), 1.0000),
    (25, (60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    (29, (22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    (31, (90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    (34, (2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def grey_linear(lightness: float) -> float:
    """Linear RGB grey level whose CIELAB L* is ``lightness`` (inverse of L* = 116 f(Y) - 16)."""
    fy = (lightness + 16.0) / 116.0
    return fy**3 if fy > 6.0 / 29.0 else 3.0 * (6.0 / 29.0) ** 2 * (fy - 4.0 / 29.0)


def srgb_to_linear(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def flat(value: float | tuple[float, float, float], n: int = N) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float32), (n, n, 3)).copy()


def neutral_lightness_de00(l1: float, l2: float) -> float:
    """CIEDE2000 of two neutral colours: |dL| / S_L (C = H = 0)."""
    lbar = 0.5 * (l1 + l2)
    s_l = 1.0 + 0.015 * (lbar - 50.0) ** 2 / math.sqrt(20.0 + (lbar - 50.0) ** 2)
    return abs(l2 - l1) / s_l


# ------------------------------------------------------------------------------------------ colour


def test_lab_conversion_of_known_greys() -> None:
    lab = linear_to_lab(np.array([[1.0, 1.0, 1.0], [0.18, 0.18, 0.18], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(lab[:, 0], [100.0, 49.4961, 0.0], atol=1e-3)
    np.testing.assert_allclose(lab[:, 1:], 0.0, atol=1e-2)  # D65 white -> neutral
    assert linear_to_srgb(np.array(0.0031308)) == pytest.approx(0.0031308 * 12.92)
    assert linear_to_srgb(np.array(0.5)) == pytest.approx(1.055 * 0.5 ** (1 / 2.4) - 0.055)


@pytest.mark.parametrize(("pair", "lab1", "lab2", "expected"), SHARMA_PAIRS)
def test_delta_e00_sharma_2005(pair: int, lab1: tuple, lab2: tuple, expected: float) -> None:
    assert round(float(delta_e00(np.array(lab1), np.array(lab2))), 4) == expected
    assert round(float(delta_e00(np.array(lab2), np.array(lab1))), 4) == expected  # symmetric


def test_identical_albedos_give_zero() -> None:
    rng = np.random.default_rng(1)
    albedo = rng.uniform(0.02, 0.9, (N, N, 3)).astype(np.float32)
    mask = np.zeros((N, N), bool)
    mask[8:56, 10:50] = True
    # "Zero" to floating-point noise: BLAS may round the same product differently for copies at other
    # memory alignments (seen: 1.7e-15 in the full suite).
    zero = pytest.approx(0.0, abs=1e-9)
    stats = albedo_delta_e(albedo, albedo.copy(), mask)
    assert (stats.mean, stats.p95, stats.max) == (zero, zero, zero) and stats.count == int(mask.sum())
    assert mean_colour_delta_e(albedo, albedo.copy(), mask) == zero
    pairs = pairwise_delta_e({"a": albedo, "b": albedo.copy(), "c": albedo.copy()}, mask)
    assert set(pairs) == {("a", "b"), ("a", "c"), ("b", "c")} and all(v == zero for v in pairs.values())


def test_lightness_shift_end_to_end() -> None:
    """Grey L* 50 vs grey L* 55 (a* = b* = 0): dE00 = 5 / S_L with L-bar = 52.5 (= 4.9102)."""
    truth, pred = flat(grey_linear(50.0)), flat(grey_linear(55.0))
    expected = neutral_lightness_de00(50.0, 55.0)
    assert expected == pytest.approx(4.9102, abs=1e-4)
    mask = np.ones((N, N), np.float32)  # float mask (> 0.5 counts)
    stats = albedo_delta_e(pred, truth, mask)
    assert stats.count == N * N
    for value in (stats.mean, stats.p95, stats.max, mean_colour_delta_e(pred, truth, mask)):
        assert value == pytest.approx(expected, abs=2e-3)
    pairs = pairwise_delta_e({"truth": truth, "pred": pred, "same": truth.copy()}, mask)
    assert pairs[("truth", "same")] == pytest.approx(0.0, abs=1e-9)
    assert pairs[("truth", "pred")] == pytest.approx(expected, abs=2e-3)
    assert pairs[("pred", "same")] == pytest.approx(expected, abs=2e-3)


def test_skin_tone_error_averages_in_linear_rgb() -> None:
    """A checkerboard of linear 0.1 / 0.3 has the mean colour of flat linear 0.2 (not the sRGB mean)."""
    rows, cols = np.mgrid[:N, :N]
    pred = np.where(((rows + cols) % 2 == 0)[..., None], 0.1, 0.3).astype(np.float32) * np.ones(3, np.float32)
    truth = flat(0.2)
    mask = np.ones((N, N), bool)
    assert mean_colour_delta_e(pred, truth, mask) == pytest.approx(0.0, abs=1e-4)
    assert albedo_delta_e(pred, truth, mask).mean > 5.0
    # only the masked texels enter the mean: a wrong colour outside the mask is ignored
    pred2 = truth.copy()
    pred2[:, : N // 2] = 0.9
    assert mean_colour_delta_e(pred2, truth, cols >= N // 2) == pytest.approx(0.0, abs=1e-9)


def test_colour_metrics_reject_bad_inputs() -> None:
    a = flat(0.5)
    with pytest.raises(MetricInputError, match="shape"):
        albedo_delta_e(a, flat(0.5, N // 2), np.ones((N, N), bool))
    with pytest.raises(ValueError, match="no texel"):
        albedo_delta_e(a, a, np.zeros((N, N), bool))
    with pytest.raises(MetricInputError, match="mask"):
        mean_colour_delta_e(a, a, np.ones((N, N + 1), bool))


# ---------------------------------------------------------------------------- brightness symmetry


def flip_map(n: int = N) -> np.ndarray:
    """Mirror map = left-right flip of the texture grid: (row, col) -> (row, n - 1 - col)."""
    rows, cols = np.mgrid[:n, :n].astype(np.float32)
    return np.stack([rows, n - 1 - cols], axis=-1)


def symmetric_texture(n: int = N) -> np.ndarray:
    rows, cols = np.mgrid[:n, :n].astype(np.float32)
    dist = np.abs(cols - (n - 1) / 2)  # symmetric under the flip
    r = 0.2 + 0.5 * rows / n + 0.1 * np.sin(dist / 3.0)
    return np.stack([r, 0.8 * r, 0.6 * r + 0.05 * np.cos(dist)], axis=-1).astype(np.float32)


def test_bs_symmetric_pattern_is_zero() -> None:
    everything = np.ones((N, N), bool)
    for sigma in (None, 0.0, 2.0):
        res = bs_error(symmetric_texture(), flip_map(), everything, everything, blur_sigma=sigma)
        assert res.error == pytest.approx(0.0, abs=1e-3)
        assert (res.counted_share, res.filled_share) == (1.0, 0.0)


def test_bs_left_right_step_gives_the_luma_difference() -> None:
    """sRGB grey 0.4 on the left half, 0.6 on the right: luma differs by 0.2 * 255 = 51."""
    albedo = flat(srgb_to_linear(0.4))
    albedo[:, N // 2 :] = srgb_to_linear(0.6)
    everything = np.ones((N, N), bool)
    assert bs_error(albedo, flip_map(), everything, everything, blur_sigma=0.0).error == pytest.approx(51.0, abs=1e-3)
    # default blur (sigma 0.25 texels at N = 64), region away from the step: still exactly 51
    cols = np.mgrid[:N, :N][1]
    region = (cols < N // 4) | (cols >= N - N // 4)
    res = bs_error(albedo, flip_map(), everything, region)
    assert res.error == pytest.approx(51.0, abs=1e-3)
    assert res.counted_share == 1.0
    # a wide blur across the step lowers the error near the middle but never raises it
    assert 0.0 < bs_error(albedo, flip_map(), everything, everything, blur_sigma=8.0).error < 51.0


def test_bs_counts_only_texels_seen_on_both_sides() -> None:
    albedo = symmetric_texture()
    albedo[10:20, 50:60] = 1.0  # a filled (unseen) block with a wrong colour
    seen = np.ones((N, N), bool)
    seen[10:20, 50:60] = False
    region = np.zeros((N, N), bool)
    region[4:60, :] = True  # 56 x 64 texels, the block inside
    for sigma in (None, 0.0, 3.0):
        res = bs_error(albedo, flip_map(), seen, region, blur_sigma=sigma)
        assert res.error == pytest.approx(0.0, abs=1e-3)  # the block and its mirror are not counted
        assert res.filled_share == pytest.approx(100 / (56 * 64))
        assert res.counted_share == pytest.approx((56 * 64 - 2 * 100) / (56 * 64))
    # with the block counted as seen, its asymmetry shows
    assert bs_error(albedo, flip_map(), np.ones((N, N), bool), region).error > 1.0


def test_bs_mirror_outside_region_and_nothing_counted() -> None:
    everything = np.ones((N, N), bool)
    left = np.mgrid[:N, :N][1] < N // 2
    res = bs_error(symmetric_texture(), flip_map(), everything, left)  # every mirror is outside
    assert math.isnan(res.error) and res.counted_share == 0.0 and res.filled_share == 0.0
    no_mirror = np.full((N, N, 2), -1.0, np.float32)
    res = bs_error(symmetric_texture(), no_mirror, everything, everything)
    assert math.isnan(res.error) and res.counted_share == 0.0


# -------------------------------------------------------------------------------------------- seams

SEAM_N = 128
TEXEL_M = 0.0005  # 0.5 mm per texel: the 5 mm seam radius spans 10 texels


def plane_positions(n: int = SEAM_N, texel_m: float = TEXEL_M) -> np.ndarray:
    """[n, n, 3] texel points of a flat square (metres): texel (row, col) at (col, row, 0) * texel_m."""
    rows, cols = np.mgrid[:n, :n].astype(np.float64)
    return np.stack([cols, rows, np.zeros_like(cols)], axis=-1) * texel_m


def greys_by(left: np.ndarray, l_left: float, l_right: float) -> np.ndarray:
    """[n, n, 3] linear greys of L* ``l_left`` where ``left`` [n, n] is True, else ``l_right``."""
    return np.where(left[..., None], grey_linear(l_left), grey_linear(l_right)) * np.ones(3, np.float32)


def test_seen_border_seam_known_answers() -> None:
    cols = np.mgrid[:SEAM_N, :SEAM_N][1]
    seen, pos, region = cols < SEAM_N // 2, plane_positions(), np.ones((SEAM_N, SEAM_N), bool)
    flat_res = seen_border_seam(flat(0.3, SEAM_N), seen, pos, region, ring_texels=3)
    assert flat_res.mean == pytest.approx(0.0, abs=1e-9) and flat_res.count == SEAM_N  # one point per row
    step = greys_by(seen, 50.0, 55.0)  # the step exactly at the seen border
    expected = neutral_lightness_de00(50.0, 55.0)
    for ring in (None, 1, 3):  # None: 3 * 128 / 1024 -> 1 texel
        res = seen_border_seam(step, seen, pos, region, ring_texels=ring)
        assert res.mean == pytest.approx(expected, abs=2e-3) and res.worst == pytest.approx(expected, abs=2e-3)
    # outside the region nothing counts: a wrong colour there, and the border it makes, are ignored
    odd = step.copy()
    odd[:, :8] = 1.0
    odd[:16] = 0.0
    inside = (cols >= 8) & (np.mgrid[:SEAM_N, :SEAM_N][0] >= 16)
    res = seen_border_seam(odd, seen, pos, inside, ring_texels=3)
    assert res.mean == pytest.approx(expected, abs=2e-3) and res.count == SEAM_N - 16
    # a step 5 texels inside the seen side is outside 3-texel rings, inside 6-texel rings
    shifted = greys_by(cols < SEAM_N // 2 - 5, 50.0, 55.0)
    assert seen_border_seam(shifted, seen, pos, region, ring_texels=3).mean == pytest.approx(0.0, abs=1e-9)
    assert seen_border_seam(shifted, seen, pos, region, ring_texels=6).mean > 0.5


def test_seen_border_seam_gradient_points_and_empty_border() -> None:
    cols = np.mgrid[:SEAM_N, :SEAM_N][1]
    seen, pos, region = cols < SEAM_N // 2, plane_positions(), np.ones((SEAM_N, SEAM_N), bool)
    lightness = 45.0 + 10.0 * cols / SEAM_N  # 0.08 L* per texel, no step
    ramp = np.stack([np.vectorize(grey_linear)(lightness)] * 3, axis=-1)
    res = seen_border_seam(ramp, seen, pos, region, ring_texels=3)
    assert 0.0 < res.mean < 0.4  # only the distance between the rings' centroids (3 texels) shows
    assert seen_border_seam(ramp, seen, pos, region, ring_texels=3, max_points=10).count == 10
    for nothing in (np.ones_like(seen), np.zeros_like(seen)):  # no border: NaN, nothing counted
        res = seen_border_seam(ramp, nothing, pos, region)
        assert math.isnan(res.mean) and res.count == 0
    # texels 10 mm apart: no ring texel but the point's own within the 5 mm radius -> nothing counts
    assert seen_border_seam(ramp, seen, plane_positions(texel_m=0.01), region).count == 0
    with pytest.raises(MetricInputError, match="positions"):
        seen_border_seam(ramp, seen, pos[:, :, :2], region)


def two_island_strip(h: float = 0.02) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A flat 2h x h strip of two squares (metres) cut into two UV islands along their shared edge
    x = h: the left square maps to u in [0.1, 0.4] (seam at u = 0.4), the right one, turned a
    quarter, to u in [0.55, 0.85] (seam at v = 0.6). Returns vertices, faces, uvs, uv_faces."""
    xy = [(0, 0), (h, 0), (2 * h, 0), (0, h), (h, h), (2 * h, h)]
    vertices = np.array([(x, y, 0.0) for x, y in xy])
    faces = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]])
    left = [(0.1 + 0.3 * x / h, 0.3 + 0.3 * y / h) for x, y in xy]
    right = [(0.55 + 0.3 * y / h, 0.6 - 0.3 * (x - h) / h) for x, y in xy]
    uvs = np.array(left + right)
    uv_faces = np.array([[0, 1, 4], [0, 4, 3], [7, 8, 11], [7, 11, 10]])
    return vertices, faces, uvs, uv_faces


def strip_x(n: int, h: float = 0.02) -> np.ndarray:
    """[n, n] 3D x (metres) of every texel of :func:`two_island_strip`'s atlas (NaN off the islands)."""
    rows, cols = np.mgrid[:n, :n].astype(np.float64)
    u, v = (cols + 0.5) / n, 1.0 - (rows + 0.5) / n
    in_v = (v >= 0.3) & (v <= 0.6)
    x_left = np.where((u >= 0.1) & (u <= 0.4) & in_v, (u - 0.1) / 0.3 * h, np.nan)
    x_right = np.where((u >= 0.55) & (u <= 0.85) & in_v, h + (0.6 - v) / 0.3 * h, np.nan)
    return np.where(np.isfinite(x_left), x_left, x_right)


def test_uv_island_seam_known_answers() -> None:
    from bench.groundtruth.layout import island_seams_from_mesh

    seams = island_seams_from_mesh(*two_island_strip(), SEAM_N, ring_texels=3)
    assert seams.points == 39  # the 20 mm seam is 38.4 texels long on either island
    cols = np.mgrid[:SEAM_N, :SEAM_N][1]
    res = uv_island_seam(flat(0.3, SEAM_N), seams)
    assert res.mean == pytest.approx(0.0, abs=1e-9) and res.count == seams.points
    by_island = greys_by(cols < SEAM_N // 2, 50.0, 55.0)  # constant per island, a step across the seam
    res = uv_island_seam(by_island, seams)
    expected = neutral_lightness_de00(50.0, 55.0)
    assert res.mean == pytest.approx(expected, abs=2e-3) and res.worst == pytest.approx(expected, abs=2e-3)
    assert res.count == seams.points
    # a colour 6+ mm from the seam (left island, u < 0.31) is outside every neighbourhood
    far = by_island.copy()
    far[cols < 40] = 0.9
    assert uv_island_seam(far, seams).mean == pytest.approx(expected, abs=2e-3)
    # the mask decides what counts: only the left island -> no point has two sides
    assert uv_island_seam(by_island, seams, cols < SEAM_N // 2).count == 0
    # a smooth ramp along 3D x (0.1 L* per mm) runs on across the seam: only the distance between the
    # two rings' centroids (~2 mm) shows
    x = np.nan_to_num(strip_x(SEAM_N))
    ramp = np.stack([np.vectorize(grey_linear)(48.0 + 100.0 * x)] * 3, axis=-1)
    assert 0.0 < uv_island_seam(ramp, seams).mean < 0.4


def test_island_seams_of_the_head_layout() -> None:
    """The head atlas at 256²: no step on a constant albedo, the exact step on an island-coloured one."""
    from bench.groundtruth.layout import island_seams, layout, template_positions
    from engine.head.model import load_head_model

    n = 256
    lay, seams = layout(n), island_seams(n)
    res = uv_island_seam(flat(0.3, n), seams, lay.skin)
    assert res.mean == pytest.approx(0.0, abs=1e-9) and res.count > 300
    m = load_head_model()
    main = m.island_names.index("face_scalp_ears")
    island = m.uv_island.numpy()[m.uv_faces.numpy()[:, 0]][np.maximum(lay.triangle, 0)]
    res = uv_island_seam(greys_by(island == main, 50.0, 55.0), seams, lay.skin)
    assert 0.5 < res.mean < res.worst == pytest.approx(neutral_lightness_de00(50.0, 55.0), abs=2e-3)
    # the holes' islands (eye sockets, mouth inside) have real colour edges: left out of seam_skin
    holes = np.isin(island, [m.island_names.index(k) for k in ("eye_socket_l", "eye_socket_r", "mouth_inside")])
    dark_holes = greys_by(holes, 20.0, 55.0)
    assert uv_island_seam(dark_holes, seams, lay.skin).worst > 20.0
    res = uv_island_seam(dark_holes, seams, lay.seam_skin)
    assert res.mean == pytest.approx(0.0, abs=1e-9) and res.count > 300
    pos = template_positions(n)
    assert np.isfinite(pos[lay.covered]).all() and np.isnan(pos[~lay.covered]).all()
    smooth = (0.3 + 0.5 * np.nan_to_num(pos)).clip(0.0, 1.0)  # varies only with the 3D position
    assert uv_island_seam(smooth, seams, lay.skin).mean < 0.3


# ---------------------------------------------------------------------------------------- geometry


def icosphere(subdivisions: int = 2, radius: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Closed icosphere (metres): vertices [V, 3], faces [F, 3] outward-wound."""
    t = (1.0 + 5.0**0.5) / 2.0
    verts = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
             (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]  # fmt: skip
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
             (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
             (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]  # fmt: skip
    v = [np.asarray(p, float) / np.linalg.norm(p) for p in verts]
    for _ in range(subdivisions):
        cache: dict[tuple[int, int], int] = {}

        def mid(i: int, j: int) -> int:
            key = (min(i, j), max(i, j))
            if key not in cache:
                m = v[i] + v[j]
                v.append(m / np.linalg.norm(m))
                cache[key] = len(v) - 1
            return cache[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    return np.array(v) * radius, np.array(faces, np.int64)


def grid_patch(n: int = 11, size: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Flat square patch in the z = 0 plane (metres): (n x n) vertices, 2 (n-1)^2 triangles."""
    ys, xs = np.mgrid[:n, :n] * (size / (n - 1))
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], axis=1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    return verts, faces


def test_closest_point_on_a_triangle_in_every_region() -> None:
    a, b, c = np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])
    cases = [  # (point, expected closest point)
        ((0.2, 0.2, 3.0), (0.2, 0.2, 0.0)),  # face
        ((0.25, 0.25, -0.5), (0.25, 0.25, 0.0)),  # face, other side
        ((-1.0, -1.0, 0.0), (0.0, 0.0, 0.0)),  # vertex A
        ((2.0, -1.0, 1.0), (1.0, 0.0, 0.0)),  # vertex B
        ((-0.5, 3.0, 0.0), (0.0, 1.0, 0.0)),  # vertex C
        ((0.5, -2.0, 1.0), (0.5, 0.0, 0.0)),  # edge AB
        ((-3.0, 0.5, 0.0), (0.0, 0.5, 0.0)),  # edge CA
        ((1.0, 1.0, 0.0), (0.5, 0.5, 0.0)),  # edge BC
        ((0.3, 0.3, 0.0), (0.3, 0.3, 0.0)),  # on the triangle
    ]
    p = np.array([q for q, _ in cases])
    m = len(p)
    got = closest_point_on_triangles(p, np.tile(a, (m, 1)), np.tile(b, (m, 1)), np.tile(c, (m, 1)))
    np.testing.assert_allclose(got, [e for _, e in cases], atol=1e-12)
    d = point_triangle_distance(p, np.stack([a, b, c]), np.array([[0, 1, 2]]))
    np.testing.assert_allclose(d, [3.0, 0.5, 2**0.5, 3**0.5, 4.25**0.5, 5**0.5, 3.0, 0.5**0.5, 0.0], atol=1e-12)


def test_closest_point_on_degenerate_triangles() -> None:
    """Zero-area triangles (collinear or repeated corners) act as their edges."""
    p = np.array([[1.5, 1.0, 0.0], [3.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    expected = np.array([[1.5, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    for corners in (((0, 0, 0), (1, 0, 0), (2, 0, 0)), ((0, 0, 0), (0, 0, 0), (2, 0, 0))):
        a, b, c = (np.tile(np.asarray(x, float), (3, 1)) for x in corners)
        np.testing.assert_allclose(closest_point_on_triangles(p, a, b, c), expected, atol=1e-12)
    point = np.tile([1.0, 0.0, 0.0], (3, 1))
    np.testing.assert_allclose(closest_point_on_triangles(p, point, point, point), point)


def test_similarity_align_recovers_a_known_transform() -> None:
    src = np.random.default_rng(2).normal(size=(50, 3))
    rot = Rotation.from_euler("xyz", [20, -35, 70], degrees=True).as_matrix()
    dst = 1.7 * src @ rot.T + np.array([0.3, -1.0, 2.0])
    scale, r, t = similarity_align(src, dst)
    assert scale == pytest.approx(1.7)
    np.testing.assert_allclose(r, rot, atol=1e-10)
    np.testing.assert_allclose(t, [0.3, -1.0, 2.0], atol=1e-10)
    # a mirrored copy is still fitted with a proper rotation (det +1), never a reflection
    _, r_m, _ = similarity_align(src, src * [-1.0, 1.0, 1.0])
    assert np.linalg.det(r_m) == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [1.0, 1.3])
def test_surface_error_zero_under_rigid_and_similarity_transforms(scale: float) -> None:
    truth, faces = icosphere()
    rot = Rotation.from_euler("zyx", [40, 15, -60], degrees=True).as_matrix()
    pred = scale * truth @ rot.T + np.array([0.02, -0.5, 1.0])
    region = truth[:, 2] > 0.0  # the front half
    stats = surface_error(pred, truth, faces, region)
    for value in (stats.mean_mm, stats.median_mm, stats.p95_mm, stats.vertex_mean_mm):
        assert value == pytest.approx(0.0, abs=1e-6)


def test_surface_error_known_normal_offset_and_tangential_slide() -> None:
    """Interior of a flat patch pushed 2 mm along the normal (aligned on the untouched border): 2 mm
    everywhere; slid 1 mm within the plane: 0 mm to the surface but 1 mm per vertex."""
    truth, faces = grid_patch()
    n = 11
    ij = np.mgrid[:n, :n].reshape(2, -1)
    border = (ij == 0).any(axis=0) | (ij == n - 1).any(axis=0)
    interior = ~border
    pushed = truth.copy()
    pushed[interior, 2] += 0.002
    stats = surface_error(pushed, truth, faces, interior, align_mask=border)
    for value in (stats.mean_mm, stats.median_mm, stats.p95_mm, stats.vertex_mean_mm):
        assert value == pytest.approx(2.0, abs=1e-9)
    slid = truth.copy()
    slid[interior, 0] += 0.001
    stats = surface_error(slid, truth, faces, interior, align_mask=border)
    assert stats.mean_mm == pytest.approx(0.0, abs=1e-9) and stats.p95_mm == pytest.approx(0.0, abs=1e-9)
    assert stats.vertex_mean_mm == pytest.approx(1.0, abs=1e-9)


def test_point_to_surface_matches_brute_force_on_a_sphere() -> None:
    """The k-nearest-centroid candidates find the exact nearest triangle on a regular mesh."""
    verts, faces = icosphere(2, 1.0)
    pts = np.random.default_rng(3).normal(size=(200, 3)) * 0.8
    tri = verts[faces]
    m, f = len(pts), len(faces)
    q = np.repeat(pts, f, axis=0)
    t = np.tile(tri, (m, 1, 1))
    brute = np.linalg.norm(closest_point_on_triangles(q, t[:, 0], t[:, 1], t[:, 2]) - q, axis=1)
    np.testing.assert_allclose(point_triangle_distance(pts, verts, faces), brute.reshape(m, f).min(1), atol=1e-12)


# --------------------------------------------------------------------------------------- landmarks


def test_landmark_error_and_inter_ocular() -> None:
    pts = np.random.default_rng(4).uniform(0, 500, (478, 2))
    pts[[33, 133, 362, 263]] = [(100, 200), (140, 200), (200, 200), (240, 200)]  # eye centres 120, 220
    iod = inter_ocular(pts)
    assert iod == pytest.approx(100.0)
    assert landmark_error(pts + [3.0, 4.0], pts, iod) == pytest.approx(0.05)  # 5 px / 100 px
    pred = pts + [3.0, 4.0]
    pred[:10] += 1000.0  # masked out
    mask = np.ones(478, bool)
    mask[:10] = False
    assert landmark_error(pred, pts, iod, mask) == pytest.approx(0.05)
    assert landmark_error(pts, pts, iod) == 0.0
    with pytest.raises(MetricInputError):
        landmark_error(pts, pts, 0.0)


def test_summarise_ignores_nan() -> None:
    assert summarise([1.0, float("nan"), 3.0, 2.0]) == {"mean": 2.0, "worst": 3.0, "count": 3}
    empty = summarise([float("nan")])
    assert math.isnan(empty["mean"]) and math.isnan(empty["worst"]) and empty["count"] == 0


def test_centre_border_lightness_sees_a_lighter_centre_and_nothing_on_an_even_face() -> None:
    """A disc of skin lighter toward its middle (the astronaut's de-lit face) against the same disc even."""
    from bench.groundtruth.metrics import centre_border_lightness

    n = 256
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - n / 2, xx - n / 2)
    seen = r < 100
    even = np.full((n, n, 3), 0.3)
    assert abs(centre_border_lightness(even, seen)) < 1e-6
    lighter = even * (1.0 + 0.8 * np.clip(1.0 - r / 100.0, 0.0, 1.0))[..., None]
    assert centre_border_lightness(lighter, seen) > 5.0
    assert math.isnan(centre_border_lightness(even, r < 5))  # no centre band
