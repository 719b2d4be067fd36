"""Renderer tests: analytic coverage, barycentrics, depth order, cameras, UV space, textures, SH, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from engine.render import (
    BackendUnavailableError,
    RenderArgumentError,
    antialias,
    antialias_construct_topology_hash,
    interpolate,
    make_context,
    opencv_to_clip,
    project_points,
    rasterize,
    resolve_backend,
    sample_image,
    sh_basis,
    sh_from_directional,
    sh_shading,
    texture,
    uv_to_clip,
)
from engine.render import _nvdiffrast_backend as ndr

CTX = make_context("cpu", backend="torch")


def ndc_tri(xy: list[tuple[float, float]], w: list[float] | None = None, z: list[float] | None = None,
            dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Clip positions [1, 3, 4] of a triangle given in NDC (optionally scaled by w for perspective)."""
    w = w or [1.0, 1.0, 1.0]
    z = z or [0.0, 0.0, 0.0]
    return torch.tensor([[[x * wi, y * wi, zi * wi, wi] for (x, y), wi, zi in zip(xy, w, z, strict=True)]], dtype=dtype)


def analytic(pos: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Brute force per pixel: inside mask [H, W] and perspective-correct barycentrics [H, W, 3] (float64)."""
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
    px, py = (2 * cols + 1) / w - 1, (2 * rows + 1) / h - 1
    p = pos.reshape(3, 4).double()
    a = p[:, 0, None, None] - px * p[:, 3, None, None]
    c = p[:, 1, None, None] - py * p[:, 3, None, None]
    b = torch.stack((a[1] * c[2] - a[2] * c[1], a[2] * c[0] - a[0] * c[2], a[0] * c[1] - a[1] * c[0]), -1)
    b = b / b.sum(-1, keepdim=True)
    return (b >= 0).all(-1), b


TRI1 = torch.tensor([[0, 1, 2]], dtype=torch.int32)


# --- rasterization -------------------------------------------------------------------------------------

def test_single_triangle_coverage_and_barycentrics_exact() -> None:
    pos = ndc_tri([(-0.83, -0.71), (0.77, -0.52), (-0.12, 0.88)])
    rast, _ = rasterize(CTX, pos, TRI1, (23, 31))
    inside, bary = analytic(pos, 23, 31)
    assert inside.sum() > 100
    assert torch.equal(rast[0, ..., 3] == 1, inside)
    assert torch.allclose(rast[0, ..., 0][inside], bary[..., 0][inside], atol=1e-12)
    assert torch.allclose(rast[0, ..., 1][inside], bary[..., 1][inside], atol=1e-12)
    assert (rast[0][~inside] == 0).all()  # background: all four channels zero


def test_perspective_correct_interpolation() -> None:
    # A triangle seen in perspective (different w): interpolating the camera-space position must give
    # the 3-D point whose projection is the pixel centre (screen-space-linear interpolation would not).
    cam = torch.tensor([[-0.4, -0.3, 1.0], [0.5, -0.2, 3.0], [0.0, 0.45, 1.6]], dtype=torch.float64)
    pos = torch.cat((cam[:, :2], torch.zeros(3, 1, dtype=torch.float64), cam[:, 2:]), -1)[None]  # x, y, 0, w=z
    h, w = 17, 19
    rast, _ = rasterize(CTX, pos, TRI1, (h, w))
    out, _ = interpolate(cam, rast, TRI1)
    inside = rast[0, ..., 3] > 0
    rows, cols = (i.double() for i in torch.nonzero(inside, as_tuple=True))
    p = out[0][inside]
    assert torch.allclose(p[:, 0] / p[:, 2], (2 * cols + 1) / w - 1.0, atol=1e-10)
    assert torch.allclose(p[:, 1] / p[:, 2], (2 * rows + 1) / h - 1.0, atol=1e-10)
    # and z/w is the depth of that point (here z_clip = 0 so z/w = 0 everywhere)
    assert (rast[0, ..., 2][inside] == 0).all()


def test_near_triangle_wins_regardless_of_order() -> None:
    a = ndc_tri([(-0.913, -0.902), (0.611, -0.807), (-0.517, 0.703)], z=[0.21, 0.2, 0.23])[0]
    b = ndc_tri([(-0.613, -0.507), (0.906, -0.611), (0.514, 0.903)], z=[-0.31, 0.52, 0.43])[0]  # crosses a
    pos = torch.cat((a, b))[None]
    tri_ab = torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int32)
    tri_ba = tri_ab.flip(0)
    ra, _ = rasterize(CTX, pos, tri_ab, (40, 40))
    rb, _ = rasterize(CTX, pos, tri_ba, (40, 40))
    in_a, ba = analytic(a[None], 40, 40)
    in_b, bb = analytic(b[None], 40, 40)
    za = (ba * a[:, 2]).sum(-1)
    zb = (bb * b[:, 2]).sum(-1)
    b_front = in_b & (~in_a | (zb < za))
    assert b_front.any() and (in_a & in_b & ~b_front).any()  # both orders of occlusion occur
    assert torch.equal(ra[0, ..., 3] == 2, b_front)
    assert torch.equal(rb[0, ..., 3] == 1, b_front)  # ids follow tri order
    assert torch.allclose(ra[0, ..., 2], rb[0, ..., 2])


def test_fragments_outside_depth_range_are_clipped() -> None:
    pos = ndc_tri([(-0.9, -0.9), (0.9, -0.9), (0.0, 0.9)], z=[-1.5, -1.5, 0.5])
    rast, _ = rasterize(CTX, pos, TRI1, (30, 30))
    zw = rast[0, ..., 2][rast[0, ..., 3] > 0]
    assert zw.numel() > 0 and zw.min() >= -1.0
    full, _ = analytic(pos, 30, 30)
    assert (rast[0, ..., 3] > 0).sum() < full.sum()


def cube() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    v = torch.tensor([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)])
    # vertex index = 4*(x>0) + 2*(y>0) + (z>0); two triangles per face, face names in order
    quads = {"-x": (0, 1, 3, 2), "+x": (4, 6, 7, 5), "-y": (0, 4, 5, 1), "+y": (2, 3, 7, 6),
             "-z": (0, 2, 6, 4), "+z": (1, 5, 7, 3)}
    faces, names = [], []
    for name, (a, b, c, d) in quads.items():
        faces += [[a, b, c], [a, c, d]]
        names += [name, name]
    return v * 0.3, torch.tensor(faces, dtype=torch.int32), names


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenCV world-to-camera (R, t) for a camera at ``eye`` looking at ``target`` (y down in the image)."""
    z = (target - eye) / (target - eye).norm()
    x = torch.cross(z, up, dim=0)
    x = x / x.norm()
    y = torch.cross(z, x, dim=0)
    R = torch.stack((x, y, z))
    return R, -R @ eye


def test_cube_shows_the_three_faces_turned_to_the_camera() -> None:
    v, f, names = cube()
    eye = torch.tensor([1.5, 1.1, 2.0])
    R, t = look_at(eye, torch.zeros(3), torch.tensor([0.0, 1.0, 0.0]))
    K = torch.tensor([[60.0, 0, 31.5], [0, 60.0, 31.5], [0, 0, 1]])
    clip = opencv_to_clip(v, K, R, t, 64, 64)[None]
    rast, _ = rasterize(CTX, clip, f, (64, 64))
    ids = rast[0, ..., 3].long()
    seen = {names[i - 1] for i in ids.unique().tolist() if i > 0}
    assert seen == {"+x", "+y", "+z"}
    for name in seen:
        count = sum(int((ids == i + 1).sum()) for i, n in enumerate(names) if n == name)
        assert count > 50
    # +y (top) is seen from above: it must be in the upper part of the image (row 0 = top)
    top_rows = torch.nonzero((ids == names.index("+y") + 1) | (ids == names.index("+y") + 2))[:, 0].float()
    side_rows = torch.nonzero((ids == names.index("+z") + 1) | (ids == names.index("+z") + 2))[:, 0].float()
    assert top_rows.mean() < side_rows.mean()


def test_shared_edges_are_watertight() -> None:
    # A fan and a grid whose shared edges pass exactly through pixel centres: every pixel centre
    # strictly inside the square must be covered by exactly one triangle (no gaps).
    n = 8
    g = torch.linspace(-0.75, 0.75, n + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    v = torch.stack((xx.reshape(-1), yy.reshape(-1), torch.zeros((n + 1) ** 2, dtype=torch.float64),
                     torch.ones((n + 1) ** 2, dtype=torch.float64)), -1)
    faces = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = i * (n + 1) + j, i * (n + 1) + j + 1, (i + 1) * (n + 1) + j, (i + 1) * (n + 1) + j + 1
            faces += [[a, b, d], [a, d, c]] if (i + j) % 2 else [[a, b, c], [b, d, c]]
    f = torch.tensor(faces, dtype=torch.int32)
    rast, _ = rasterize(CTX, v[None], f, (32, 32))  # grid lines at pixel centres 4, 8, ... -> on edges
    cols = (2 * torch.arange(32, dtype=torch.float64) + 1) / 32 - 1
    inner = (cols > -0.75) & (cols < 0.75)
    covered = rast[0, ..., 3] > 0
    assert covered[inner][:, inner].all()


def test_background_is_zero_and_batch_instanced_equals_single() -> None:
    p1 = ndc_tri([(-0.8, -0.6), (0.7, -0.7), (0.1, 0.8)], z=[0.1, 0.2, 0.3])
    p2 = ndc_tri([(-0.3, 0.9), (0.2, -0.9), (0.9, 0.3)], w=[1.0, 2.0, 1.5])
    both = torch.cat((p1, p2))
    rb, dbb = rasterize(CTX, both, TRI1, (20, 24))
    r1, db1 = rasterize(CTX, p1, TRI1, (20, 24))
    r2, db2 = rasterize(CTX, p2, TRI1, (20, 24))
    assert rb.shape == (2, 20, 24, 4) and dbb.shape == (2, 20, 24, 4)
    assert torch.equal(rb, torch.cat((r1, r2))) and torch.equal(dbb, torch.cat((db1, db2)))
    assert (rb[0][rb[0, ..., 3] == 0] == 0).all()
    # range mode: both triangles in one vertex array, one range per image; ids index tri globally
    pos_r = torch.cat((p1[0], p2[0]))
    tri_r = torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int32)
    ranges = torch.tensor([[0, 1], [1, 1]], dtype=torch.int32)
    rr, _ = rasterize(CTX, pos_r, tri_r, (20, 24), ranges=ranges)
    assert torch.equal(rr[..., :3], rb[..., :3])
    assert torch.equal(rr[1, ..., 3], rb[1, ..., 3] * 2)
    attr = torch.arange(18, dtype=torch.float64).reshape(6, 3)
    out_r, _ = interpolate(attr, rr, tri_r)
    out_i, _ = interpolate(torch.stack((attr[:3], attr[3:])), rb, TRI1)
    assert torch.allclose(out_r, out_i)


def test_rast_db_matches_finite_differences() -> None:
    pos = ndc_tri([(-0.8, -0.7), (0.8, -0.4), (-0.1, 0.9)], w=[1.0, 2.5, 1.4])
    h, w = 16, 16
    rast, db = rasterize(CTX, pos, TRI1, (h, w))
    attr = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)  # reproduces (u, v)
    out, da = interpolate(attr, rast, TRI1, rast_db=db, diff_attrs="all")
    inside = rast[0, ..., 3] > 0
    both_x = inside[:, 1:] & inside[:, :-1]
    fd_x = (rast[0, :, 1:, 0] - rast[0, :, :-1, 0])[both_x]
    mid = 0.5 * (db[0, :, 1:, 0] + db[0, :, :-1, 0])[both_x]
    assert torch.allclose(fd_x, mid, rtol=0.05, atol=1e-4)
    assert torch.allclose(da[0, ..., 0], db[0, ..., 0]) and torch.allclose(da[0, ..., 3], db[0, ..., 3])
    assert torch.allclose(out[0, ..., :2], rast[0, ..., :2])


# --- cameras and UV space -------------------------------------------------------------------------------

def test_opencv_to_clip_pixel_lands_where_projected() -> None:
    width, height = 37, 29  # non-square, odd sizes, off-centre principal point
    K = torch.tensor([[41.0, 0.0, 15.3], [0.0, 43.0, 12.6], [0.0, 0.0, 1.0]], dtype=torch.float64)
    ang = torch.tensor(0.4, dtype=torch.float64)
    R = torch.tensor([[math.cos(ang), 0, math.sin(ang)], [0, 1, 0], [-math.sin(ang), 0, math.cos(ang)]],
                     dtype=torch.float64) @ torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
    t = torch.tensor([0.02, -0.01, 0.7], dtype=torch.float64)
    for col, row in ((23, 7), (3, 25), (36, 0)):
        # head-space point that projects exactly onto pixel centre (col, row), depth 0.6
        xc = torch.linalg.solve(K, torch.tensor([col, row, 1.0], dtype=torch.float64)) * 0.6
        x = R.T @ (xc - t)
        assert torch.allclose(project_points(x[None], K, R, t)[0], torch.tensor([col, row], dtype=torch.float64))
        # tiny triangle around it (±0.3 px in the image plane)
        offs = torch.tensor([[-0.3, -0.3, 0.0], [0.3, -0.2, 0.0], [0.0, 0.3, 0.0]], dtype=torch.float64)
        corners = torch.stack([R.T @ (torch.linalg.solve(K, torch.tensor([col + o[0], row + o[1], 1.0],
                                                         dtype=torch.float64)) * 0.6 - t) for o in offs])
        clip = opencv_to_clip(corners, K, R, t, width, height)
        rast, _ = rasterize(CTX, clip[None], TRI1, (height, width))
        hit = torch.nonzero(rast[0, ..., 3] > 0)
        assert hit.tolist() == [[row, col]]
        p, _ = interpolate(corners[None], rast, TRI1)
        assert torch.allclose(p[0, row, col], x, atol=1e-9)
        zw = rast[0, row, col, 2]
        near, far = 0.01, 10.0
        assert torch.isclose(zw, torch.tensor((far + near) / (far - near) - 2 * far * near / (far - near) / 0.6,
                                              dtype=torch.float64), atol=1e-9)


def test_uv_space_raster_row0_is_texture_top() -> None:
    h, w = 8, 12
    uvs = torch.tensor([[0.0, 1.0], [0.5, 1.0], [0.0, 0.5], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]],
                       dtype=torch.float64)
    tri = torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int32)  # 1: top-left corner; 2: big diagonal half
    rast, _ = rasterize(CTX, uv_to_clip(uvs)[None], tri, (h, w))
    ids = rast[0, ..., 3]
    assert ids[0, 0] == 1 and ids[h - 1, 0] == 0 and ids[0, w - 1] == 2 and ids[h - 1, w - 1] == 2
    out, _ = interpolate(uvs[None], rast, tri)
    rows, cols = torch.nonzero(ids > 0, as_tuple=True)
    assert torch.allclose(out[0, rows, cols, 0], (cols.double() + 0.5) / w)
    assert torch.allclose(out[0, rows, cols, 1], 1 - (rows.double() + 0.5) / h)


# --- texture and image sampling -------------------------------------------------------------------------

def test_texture_texel_centres_and_bilinear() -> None:
    th, tw = 5, 7
    tex = torch.rand(1, th, tw, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rows, cols = torch.meshgrid(torch.arange(th), torch.arange(tw), indexing="ij")
    uv = torch.stack(((cols + 0.5) / tw, 1 - (rows + 0.5) / th), -1)[None].double()
    for mode in ("wrap", "clamp", "zero"):
        assert torch.allclose(texture(tex, uv, boundary_mode=mode), tex)
        assert torch.allclose(texture(tex, uv, filter_mode="nearest", boundary_mode=mode), tex)
    # half-way between texel (1, 2) and (1, 3), and a quarter towards row 2
    uv_mid = torch.tensor([[[[3.0 / tw, 1 - 1.75 / th]]]], dtype=torch.float64)
    expect = 0.75 * 0.5 * (tex[0, 1, 2] + tex[0, 1, 3]) + 0.25 * 0.5 * (tex[0, 2, 2] + tex[0, 2, 3])
    assert torch.allclose(texture(tex, uv_mid)[0, 0, 0], expect)
    # wrap: left of texel column 0 blends with the last column; clamp: stays at column 0
    uv_edge = torch.tensor([[[[0.0, 1 - 0.5 / th]]]], dtype=torch.float64)
    assert torch.allclose(texture(tex, uv_edge, boundary_mode="wrap")[0, 0, 0], 0.5 * (tex[0, 0, 0] + tex[0, 0, -1]))
    assert torch.allclose(texture(tex, uv_edge, boundary_mode="clamp")[0, 0, 0], tex[0, 0, 0])
    assert torch.allclose(texture(tex, uv_edge, boundary_mode="zero")[0, 0, 0], 0.5 * tex[0, 0, 0])
    with pytest.raises(RenderArgumentError):
        texture(tex, uv, filter_mode="linear-mipmap-linear", backend="torch")


def test_gradcheck_texture_and_sample_image() -> None:
    g = torch.Generator().manual_seed(4)
    tex = torch.rand(1, 4, 5, 2, dtype=torch.float64, generator=g, requires_grad=True)
    uv = (torch.rand(1, 3, 3, 2, dtype=torch.float64, generator=g) * 1.4 - 0.2).requires_grad_()
    for mode in ("wrap", "clamp", "zero"):
        assert torch.autograd.gradcheck(lambda t, c, m=mode: texture(t, c, boundary_mode=m), (tex, uv),
                                        eps=1e-6, atol=1e-6)
    xy = (torch.rand(1, 6, 2, dtype=torch.float64, generator=g) * 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda t, c: sample_image(t, c), (tex, xy), eps=1e-6, atol=1e-6)


def test_texture_matches_grid_sample_reference() -> None:
    g = torch.Generator().manual_seed(8)
    tex = torch.rand(2, 6, 9, 4, dtype=torch.float64, generator=g)
    uv = torch.rand(2, 5, 7, 2, dtype=torch.float64, generator=g) * 1.6 - 0.3
    grid = torch.stack((2 * uv[..., 0] - 1, 1 - 2 * uv[..., 1]), -1)
    for ours, theirs in (("clamp", "border"), ("zero", "zeros")):
        for filt, mode in (("linear", "bilinear"), ("nearest", "nearest")):
            ref = torch.nn.functional.grid_sample(tex.permute(0, 3, 1, 2), grid, mode=mode, padding_mode=theirs,
                                                  align_corners=False).permute(0, 2, 3, 1)
            assert torch.allclose(texture(tex, uv, filter_mode=filt, boundary_mode=ours), ref, atol=1e-12)
    # wrap equals clamp-free sampling of a 3x3 tiled texture at the centre tile
    tiled = tex.repeat(1, 3, 3, 1)
    uv_c = torch.remainder(uv, 1.0) / 3 + 1 / 3
    assert torch.allclose(texture(tex, uv, boundary_mode="wrap"), texture(tiled, uv_c, boundary_mode="clamp"))


def test_sample_image_at_pixel_centres() -> None:
    img = torch.rand(2, 6, 9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    xy = torch.tensor([[[4.0, 2.0], [0.0, 0.0]], [[8.0, 5.0], [2.5, 1.0]]], dtype=torch.float64)
    out = sample_image(img, xy)
    assert torch.allclose(out[0, 0], img[0, 2, 4]) and torch.allclose(out[0, 1], img[0, 0, 0])
    assert torch.allclose(out[1, 0], img[1, 5, 8])
    assert torch.allclose(out[1, 1], 0.5 * (img[1, 1, 2] + img[1, 1, 3]))


# --- antialias --------------------------------------------------------------------------------------

def test_antialias_blends_by_edge_coverage() -> None:
    # a right-side vertical silhouette edge at screen x = 10.3 px (columns 9 | 10)
    h, w = 12, 20
    xe = 2 * 10.3 / w - 1
    pos = ndc_tri([(-0.9, -1.5), (xe, -1.5), (xe, 1.5)] , dtype=torch.float64)
    pos = torch.cat((pos, ndc_tri([(-0.9, -1.5), (xe, 1.5), (-0.9, 1.5)])), 1)
    tri = torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int32)
    rast, _ = rasterize(CTX, pos, tri, (h, w))
    fg = (rast[..., 3:] > 0).double()
    color = fg * 1.0 + (1 - fg) * 0.2
    out = antialias(color, rast, pos, tri)
    full = lambda x: torch.full((h,), x, dtype=torch.float64)  # noqa: E731
    assert torch.allclose(out[0, :, 10, 0], full(0.3 * 1.0 + 0.7 * 0.2))
    assert torch.allclose(out[0, :, 9, 0], full(1.0)) and torch.allclose(out[0, :, 11, 0], full(0.2))
    # the interior diagonal edge (shared by the two triangles) is not a silhouette: left alone
    assert torch.allclose(out[0, :, :10], color[0, :, :10])


def test_antialias_shared_edge_is_silhouette_only_when_folded() -> None:
    h, w = 16, 16
    tri = torch.tensor([[0, 1, 2], [1, 0, 3]], dtype=torch.int32)
    topo = antialias_construct_topology_hash(tri)
    assert topo.opposite.tolist() == [[-1, -1, 3], [-1, -1, 2]]
    color = torch.rand(1, h, w, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    cols = slice(5, 11)  # away from the corners, where the other edges take over
    for v3, folded in (((0.013, -1.6, 0.5), False), ((0.013, 0.2, 0.5), True)):
        pos = torch.tensor([[-0.807, -0.8, 0.0, 1.0], [0.809, -0.8, 0.0, 1.0], [0.011, 0.8, 0.0, 1.0],
                            [*v3, 1.0]], dtype=torch.float64)[None]
        rast, _ = rasterize(CTX, pos, tri, (h, w))
        out = antialias(color, rast, pos, tri, topo)
        # the shared edge 0-1 lies between rows 1 and 2 (NDC y = -0.8 -> 1.6 px)
        assert (rast[0, 2, cols, 3] == 1).all()
        assert (rast[0, 1, cols, 3] == (0 if folded else 2)).all()
        changed = ~torch.isclose(out[0, 1:3, cols], color[0, 1:3, cols]).all(-1)
        assert bool(changed.any()) == folded


# --- gradients ---------------------------------------------------------------------------------------

def _grad_scene() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pos = torch.tensor([[[-0.71, -0.63, 0.1, 1.0], [0.68, -0.52, 0.3, 1.3], [0.05, 0.74, 0.2, 0.9],
                         [0.5, 0.4, 0.5, 1.1]]], dtype=torch.float64)
    tri = torch.tensor([[0, 1, 2], [1, 3, 2]], dtype=torch.int32)
    attr = torch.tensor([[[0.3, -1.2], [0.9, 0.4], [-0.5, 0.8], [0.2, 0.1]]], dtype=torch.float64)
    return pos, tri, attr


def test_gradcheck_interpolate_through_barycentrics() -> None:
    pos, tri, attr = _grad_scene()

    def f(p: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        rast, db = rasterize(CTX, p, tri, (7, 6))
        out, da = interpolate(a, rast, tri, rast_db=db, diff_attrs=[1])
        return torch.cat((out, da), -1)

    assert torch.autograd.gradcheck(f, (pos.clone().requires_grad_(), attr.clone().requires_grad_()),
                                    eps=1e-6, atol=1e-6)


def test_gradcheck_without_db_and_broadcast_attr() -> None:
    pos, tri, attr = _grad_scene()
    pos2 = torch.cat((pos, pos * torch.tensor([0.9, 1.1, 1.0, 1.05], dtype=torch.float64)))

    def f(p: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        rast, db = rasterize(CTX, p, tri, (6, 7), grad_db=False)
        assert db.shape[-1] == 0
        return interpolate(a, rast, tri)[0]

    assert torch.autograd.gradcheck(f, (pos2.clone().requires_grad_(), attr.clone().requires_grad_()),
                                    eps=1e-6, atol=1e-6)


def test_hand_written_backward_matches_autograd_reference() -> None:
    # a bigger scene (two images, overlapping random triangles) against plain autograd formulas
    g = torch.Generator().manual_seed(5)
    nv, h, w = 60, 24, 20
    pos = torch.rand(2, nv, 4, dtype=torch.float64, generator=g) * 1.6 - 0.8
    pos[..., 3] = 1.0 + torch.rand(2, nv, dtype=torch.float64, generator=g)
    pos[..., :3] *= pos[..., 3:]
    tri = torch.randperm(nv, generator=g)[: 3 * 18].view(18, 3).int()
    attr = torch.rand(2, nv, 3, dtype=torch.float64, generator=g)
    up = torch.rand(2, h, w, 3, dtype=torch.float64, generator=g)
    p1, a1 = pos.clone().requires_grad_(), attr.clone().requires_grad_()
    rast, _ = rasterize(CTX, p1, tri, (h, w), grad_db=False)
    (interpolate(a1, rast, tri)[0] * up).sum().backward()
    # reference: same visibility, barycentrics from per-pixel vertex gathers with autograd
    p2, a2 = pos.clone().requires_grad_(), attr.clone().requires_grad_()
    ids = rast[..., 3].long()
    bi, ri, ci = torch.nonzero(ids > 0, as_tuple=True)
    vv = tri.long()[ids[bi, ri, ci] - 1]  # [P, 3]
    r = p2[bi[:, None], vv][..., (0, 1, 3)]
    qx, qy = (2 * ci.double() + 1) / w - 1, (2 * ri.double() + 1) / h - 1
    e = r[..., 0] - qx[:, None] * r[..., 2], r[..., 1] - qy[:, None] * r[..., 2]
    b = torch.stack([e[0][:, (k + 1) % 3] * e[1][:, (k + 2) % 3] - e[0][:, (k + 2) % 3] * e[1][:, (k + 1) % 3]
                     for k in range(3)], 1)
    b = b / b.sum(1, keepdim=True)
    out = (b[..., None] * a2[bi[:, None], vv]).sum(1)
    (out * up[bi, ri, ci]).sum().backward()
    assert ids.gt(0).sum() > 200
    assert torch.allclose(p1.grad, p2.grad, atol=1e-9) and torch.allclose(a1.grad, a2.grad, atol=1e-12)


def test_gradcheck_antialias() -> None:
    pos, tri, _ = _grad_scene()
    color = torch.rand(1, 9, 8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        rast, _ = rasterize(CTX, pos, tri, (9, 8))

    def f(p: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return antialias(c, rast, p, tri)

    pos_g = pos.clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (pos_g, color.clone().requires_grad_()), eps=1e-6, atol=1e-6)
    out = f(pos_g, color)
    (g,) = torch.autograd.grad(out.sum(), pos_g)
    assert g.abs().sum() > 0  # silhouettes do move the image


def test_gradient_moves_vertices_toward_target() -> None:
    pos, tri, attr = _grad_scene()
    target, _ = interpolate(attr, rasterize(CTX, pos, tri, (12, 12))[0], tri)
    start = pos.clone()
    start[..., 0] += 0.03
    p = start.clone().requires_grad_()
    out, _ = interpolate(attr, rasterize(CTX, p, tri, (12, 12))[0], tri)
    loss = (out - target).square().sum()
    loss.backward()
    assert p.grad[..., 0].sum() > 0  # shifting left reduces the error


# --- spherical harmonics -------------------------------------------------------------------------------

def _sphere_grid(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    th = (torch.arange(n, dtype=torch.float64) + 0.5) * math.pi / n
    ph = (torch.arange(2 * n, dtype=torch.float64) + 0.5) * math.pi / n
    t, p = torch.meshgrid(th, ph, indexing="ij")
    d = torch.stack((torch.sin(t) * torch.cos(p), torch.sin(t) * torch.sin(p), torch.cos(t)), -1).reshape(-1, 3)
    wts = (torch.sin(t) * (math.pi / n) ** 2).reshape(-1)
    return d, wts


def test_sh_basis_orthonormal_and_known_values() -> None:
    d, wts = _sphere_grid()
    y = sh_basis(d)
    gram = (y * wts[:, None]).T @ y
    assert torch.allclose(gram, torch.eye(9, dtype=torch.float64), atol=1e-4)
    yz = sh_basis(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    assert torch.allclose(yz[[0, 2, 6]], torch.tensor([0.282095, 0.488603, 0.630783], dtype=torch.float64), atol=1e-6)
    assert torch.allclose(yz[[1, 3, 4, 5, 7, 8]], torch.zeros(6, dtype=torch.float64))
    yx = sh_basis(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert math.isclose(float(yx[3]), 0.488603, abs_tol=1e-6) and math.isclose(float(yx[8]), 0.546274, abs_tol=1e-6)


def test_sh_shading_lambertian_convention() -> None:
    d = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    d = d / d.norm()
    coeffs = sh_from_directional(d, diffuse=torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64), ambient=0.25)
    assert coeffs.shape == (1, 9, 3)
    n = torch.stack((d, -d))[None]
    s = sh_shading(n, coeffs)
    assert torch.allclose(s[0, 0], 0.25 + 1.0625 * torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64))
    assert torch.allclose(s[0, 1], 0.25 + 0.0625 * torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64))
    # a uniform environment of radiance L (only L00 = L * sqrt(4 pi)) shades every normal with L
    uni = torch.zeros(1, 9, 3, dtype=torch.float64)
    uni[0, 0] = 0.7 * math.sqrt(4 * math.pi)
    dd, _ = _sphere_grid(10)
    assert torch.allclose(sh_shading(dd[None], uni), torch.full((1, dd.shape[0], 3), 0.7, dtype=torch.float64))
    # order-2 approximation of max(0, n.d): close over the sphere (known worst case ~0.07 at the terminator)
    approx = sh_shading(dd[None], sh_from_directional(d, 1.0, 0.0))[0, :, 0]
    assert (approx - (dd @ d).clamp_min(0)).abs().max() < 0.1


def test_sh_shading_equals_basis_expansion_and_gradcheck() -> None:
    g = torch.Generator().manual_seed(7)
    n = torch.randn(2, 4, 5, 3, dtype=torch.float64, generator=g)
    c = torch.randn(2, 9, 3, dtype=torch.float64, generator=g)
    bands = torch.tensor([1.0] + [2.0 / 3.0] * 3 + [0.25] * 5, dtype=torch.float64)
    ref = (sh_basis(n).reshape(2, -1, 9) @ (c * bands[:, None])).reshape(2, 4, 5, 3)
    assert torch.allclose(sh_shading(n, c), ref, atol=1e-12)
    assert torch.autograd.gradcheck(sh_shading, (n.requires_grad_(), c.requires_grad_()))
    assert torch.autograd.gradcheck(sh_shading, (n[:1].detach().requires_grad_(), c))  # broadcast normals


# --- backends and argument checks -------------------------------------------------------------------

def test_backend_selection() -> None:
    assert resolve_backend("torch", "cpu") == "torch"
    assert resolve_backend("auto", "cpu") == "torch"
    with pytest.raises(BackendUnavailableError):
        resolve_backend("nvdiffrast", "cpu")
    with pytest.raises(RenderArgumentError):
        resolve_backend("opengl", "cpu")
    assert make_context().backend == "torch"


def test_nvdiffrast_texture_wrapper_flips_v(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    class FakeDr:
        @staticmethod
        def texture(tex: torch.Tensor, uv: torch.Tensor, filter_mode: str, boundary_mode: str) -> torch.Tensor:
            seen["uv"] = uv
            return tex

    monkeypatch.setattr(ndr, "_dr", lambda: FakeDr)
    ndr.texture(torch.zeros(1, 2, 2, 1), torch.tensor([[[[0.25, 0.9]]]]), "linear", "wrap")
    assert torch.allclose(seen["uv"], torch.tensor([[[[0.25, 0.1]]]]))


def test_bad_arguments_raise_typed_errors() -> None:
    pos = ndc_tri([(-0.5, -0.5), (0.5, -0.5), (0.0, 0.5)], dtype=torch.float32)
    with pytest.raises(RenderArgumentError):
        rasterize(CTX, pos, TRI1.float(), (8, 8))
    with pytest.raises(RenderArgumentError):
        rasterize(CTX, pos[..., :3], TRI1, (8, 8))
    with pytest.raises(RenderArgumentError):
        rasterize(CTX, pos, torch.tensor([[0, 1, 5]], dtype=torch.int32), (8, 8))
    with pytest.raises(RenderArgumentError):
        rasterize(CTX, pos, TRI1, (0, 8))


def test_real_head_front_view_shows_front_faces() -> None:
    head_model = pytest.importorskip("engine.head.model")
    m = head_model.load_head_model()
    v = torch.as_tensor(m.vertices, dtype=torch.float32)
    f = torch.as_tensor(m.faces, dtype=torch.int32)
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # camera on +Z looking at the face, image y down
    centre = (v.max(0).values + v.min(0).values) / 2
    t = -(R @ centre) + torch.tensor([0.0, 0.0, 0.6])
    K = torch.tensor([[200.0, 0, 63.5], [0, 200.0, 63.5], [0, 0, 1]])
    clip = opencv_to_clip(v, K, R, t, 128, 128)[None]
    rast, _ = rasterize(CTX, clip, f, (128, 128))
    ids = rast[0, ..., 3].long()
    cov = ids > 0
    assert 0.1 < cov.float().mean() < 0.6
    # signed screen area of the visible triangles: the camera sees their outer side (y-down image,
    # counter-clockwise head-space winding seen from outside -> negative in this NDC)
    fl = f.long()[ids[cov] - 1]
    p = clip[0, :, :2] / clip[0, :, 3:]
    a, b, c = p[fl[:, 0]], p[fl[:, 1]], p[fl[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    assert (area < 0).float().mean() > 0.995
    # the head is left-right symmetric, so is its silhouette
    assert cov[:, :64].sum() == pytest.approx(float(cov[:, 64:].sum()), rel=0.03)


def test_antialias_range_mode_matches_instanced_mode() -> None:
    pos, tri, _ = _grad_scene()
    pos2 = pos[0] * torch.tensor([0.8, 1.1, 1.0, 1.0], dtype=torch.float64)
    inst = torch.stack((pos[0], pos2))
    both = torch.cat((pos[0], pos2))
    tri_r = torch.cat((tri, tri + 4))
    ranges = torch.tensor([[0, 2], [2, 2]], dtype=torch.int32)
    color = torch.rand(2, 10, 9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    ri, _ = rasterize(CTX, inst, tri, (10, 9))
    rr, _ = rasterize(CTX, both, tri_r, (10, 9), ranges=ranges)
    out_i = antialias(color, ri, inst, tri)
    out_r = antialias(color, rr, both, tri_r)
    assert not torch.allclose(out_i, color)
    assert torch.allclose(out_i, out_r)


def test_antialiased_silhouette_recovers_head_translation() -> None:
    # Only the antialiased coverage mask carries information about the translation here, so this
    # converges only if antialias sends correct gradients into the vertex positions.
    head_model = pytest.importorskip("engine.head.model")
    m = head_model.load_head_model()
    v = torch.as_tensor(m.vertices, dtype=torch.float32)
    f = torch.as_tensor(m.faces, dtype=torch.int32)
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    t_true = -(R @ ((v.max(0).values + v.min(0).values) / 2)) + torch.tensor([0.0, 0.0, 0.6])
    K = torch.tensor([[100.0, 0, 31.5], [0, 100.0, 31.5], [0, 0, 1]])
    topo = antialias_construct_topology_hash(f)

    def render(t: torch.Tensor) -> torch.Tensor:
        clip = opencv_to_clip(v, K, R, t, 64, 64)[None]
        rast, _ = rasterize(CTX, clip, f, (64, 64), grad_db=False)
        return antialias((rast[..., 3:] > 0).float(), rast, clip, f, topo)

    with torch.no_grad():
        target = render(t_true)
    t = (t_true + torch.tensor([0.02, -0.015, 0.0])).requires_grad_()
    opt = torch.optim.Adam([t], lr=2e-3)
    for _ in range(70):
        opt.zero_grad()
        (render(t) - target).square().sum().backward()
        opt.step()
    err = (t.detach() - t_true)[:2].abs().max()
    assert err < 1.5e-3  # from 20 mm to about a millimetre (a pixel here is ~6 mm)
