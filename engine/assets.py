"""Writers for the engine's output files: OBJ + MTL, GLB (glTF 2.0), head_mesh.npz, PNG.

No third-party glTF library: the GLB is small and regular (one mesh, one primitive per part, PBR
materials, morph targets), so it is written directly with ``struct`` and ``json``.
"""
from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["MeshArrays", "Material", "write_obj", "write_glb", "write_mesh_npz", "write_png", "png_bytes",
           "unweld", "vertex_normals", "vertex_tangents"]


@dataclass(frozen=True)
class MeshArrays:
    """A triangle mesh with per-corner UVs, in head space (metres, +Y up, +Z out of the face).

    ``vertices`` (V, 3) float32; ``faces`` (F, 3) int; ``uvs`` (T, 2) float32 with v up (OBJ convention);
    ``uv_faces`` (F, 3) int into ``uvs``; ``face_part`` (F,) int into ``part_names``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    uv_faces: np.ndarray
    face_part: np.ndarray
    part_names: tuple[str, ...]


@dataclass(frozen=True)
class Material:
    """PBR material of one part. Colours are linear RGB factors; texture names are files in the output folder."""

    name: str
    base_color: tuple[float, float, float] = (0.8, 0.8, 0.8)
    roughness: float = 0.5
    base_color_texture: str | None = None
    normal_texture: str | None = None
    roughness_texture: str | None = None


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals."""
    v = vertices.astype(np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    n /= np.linalg.norm(n, axis=1, keepdims=True).clip(1e-12)
    return n.astype(np.float32)


def vertex_tangents(positions: np.ndarray, normals: np.ndarray, uvs: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 4) float32 glTF tangents: xyz along +u, orthogonal to ``normals``; w = +-1 so that
    ``cross(normal, xyz) * w`` points along +v (v up, the OBJ convention of ``uvs``, which is "up" in
    the normal map's image). Per-triangle UV derivatives, area-weighted per vertex, as MikkTSpace does
    for a mesh whose UVs are not mirrored within a triangle fan.

    ``positions``/``normals`` (V, 3), ``uvs`` (V, 2) per vertex (unwelded at UV seams), ``faces`` (F, 3).
    """
    p, t = positions.astype(np.float64), uvs.astype(np.float64)
    e1, e2 = p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]]
    d1, d2 = t[faces[:, 1]] - t[faces[:, 0]], t[faces[:, 2]] - t[faces[:, 0]]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    r = np.divide(1.0, det, out=np.zeros_like(det), where=np.abs(det) > 1e-20)[:, None]
    dpdu = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * r
    dpdv = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * r
    tan, bit = np.zeros_like(p), np.zeros_like(p)
    for k in range(3):
        np.add.at(tan, faces[:, k], dpdu)
        np.add.at(bit, faces[:, k], dpdv)
    n = normals.astype(np.float64)
    tan -= n * (tan * n).sum(1, keepdims=True)
    length = np.linalg.norm(tan, axis=1, keepdims=True)
    # No UV gradient (degenerate UVs): any direction perpendicular to the normal.
    fallback = np.cross(n, np.where(np.abs(n[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
    tan = np.where(length > 1e-12, tan / np.maximum(length, 1e-12), fallback / np.linalg.norm(fallback, axis=1, keepdims=True))
    w = np.where((np.cross(n, tan) * bit).sum(1) < 0.0, -1.0, 1.0)
    return np.concatenate([tan, w[:, None]], axis=1).astype(np.float32)


def unweld(faces: np.ndarray, uv_faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits vertices at UV seams: returns (source_vertex (W,), source_uv (W,), faces (F, 3) into them)."""
    pairs = np.stack([faces.reshape(-1), uv_faces.reshape(-1)], axis=1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return unique[:, 0], unique[:, 1], inverse.reshape(-1, 3)


def png_bytes(image: np.ndarray) -> bytes:
    """(H, W) or (H, W, C) uint8 or uint16 array, row 0 = top -> PNG file bytes."""
    import cv2

    img = np.ascontiguousarray(image)
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0, 3]]
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def write_png(path: Path, image: np.ndarray) -> None:
    Path(path).write_bytes(png_bytes(image))


def write_obj(path: Path, mesh: MeshArrays, materials: dict[str, Material] | None = None) -> None:
    """OBJ with ``vt`` (v up), one ``usemtl`` block per part and a sibling ``.mtl`` file when materials are given."""
    path = Path(path)
    lines = ["# ffhquv head: metres, +Y up, +Z out of the face"]
    if materials:
        lines.append(f"mtllib {path.with_suffix('.mtl').name}")
    lines.append("o head")
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in mesh.uvs]
    for part_id, name in enumerate(mesh.part_names):
        sel = np.nonzero(mesh.face_part == part_id)[0]
        if len(sel) == 0:
            continue
        lines.append(f"g {name}")
        if materials:
            lines.append(f"usemtl {materials[name].name}")
        f = mesh.faces[sel] + 1
        t = mesh.uv_faces[sel] + 1
        lines += [f"f {a}/{ta} {b}/{tb} {c}/{tc}" for (a, b, c), (ta, tb, tc) in zip(f, t)]
    path.write_text("\n".join(lines) + "\n")
    if materials:
        _write_mtl(path.with_suffix(".mtl"), materials)


def _write_mtl(path: Path, materials: dict[str, Material]) -> None:
    lines = ["# ffhquv materials (PBR extension keys Pr / map_Pr / norm as read by Blender's OBJ importer)"]
    seen = set()
    for mat in materials.values():
        if mat.name in seen:
            continue
        seen.add(mat.name)
        r, g, b = mat.base_color
        lines += [f"newmtl {mat.name}", f"Kd {r:.4f} {g:.4f} {b:.4f}", "Ka 0 0 0", "Ks 0.04 0.04 0.04",
                  f"Pr {mat.roughness:.3f}", "illum 2"]
        if mat.base_color_texture:
            lines.append(f"map_Kd {mat.base_color_texture}")
        if mat.roughness_texture:
            lines.append(f"map_Pr {mat.roughness_texture}")
        if mat.normal_texture:
            lines.append(f"norm {mat.normal_texture}")
        lines.append("")
    path.write_text("\n".join(lines))


def write_mesh_npz(path: Path, mesh: MeshArrays, neutral_vertices: np.ndarray, blendshape_names: list[str],
                   blendshape_deltas: np.ndarray, expression_weights: np.ndarray | None = None) -> None:
    """The exact arrays the Blender add-on builds its objects from (see ffhquv_blender/MESH_NPZ.md)."""
    face_uvs = mesh.uvs[mesh.uv_faces].astype(np.float32)
    np.savez_compressed(
        path,
        vertices=mesh.vertices.astype(np.float32),
        neutral_vertices=neutral_vertices.astype(np.float32),
        faces=mesh.faces.astype(np.int32),
        face_uvs=face_uvs,
        face_part=mesh.face_part.astype(np.int32),
        part_names=np.array(mesh.part_names),
        blendshape_names=np.array(blendshape_names),
        blendshape_deltas=blendshape_deltas.astype(np.float32),
        expression_weights=np.zeros(len(blendshape_names), np.float32) if expression_weights is None
        else np.asarray(expression_weights, np.float32),
    )


# ---------------------------------------------------------------------------------------------- GLB

_FLOAT, _UINT32 = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


@dataclass
class _GltfBuilder:
    buffer: bytearray = field(default_factory=bytearray)
    views: list = field(default_factory=list)
    accessors: list = field(default_factory=list)
    images: list = field(default_factory=list)

    def _view(self, data: bytes, target: int | None = None) -> int:
        while len(self.buffer) % 4:
            self.buffer.append(0)
        view = {"buffer": 0, "byteOffset": len(self.buffer), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.buffer.extend(data)
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None, with_bounds: bool = False) -> int:
        comp = _UINT32 if array.dtype.kind in "ui" else _FLOAT
        data = np.ascontiguousarray(array, dtype=np.uint32 if comp == _UINT32 else np.float32)
        acc = {"bufferView": self._view(data.tobytes(), target), "componentType": comp,
               "count": int(data.shape[0]), "type": kind}
        if with_bounds:
            flat = data.reshape(data.shape[0], -1)
            acc["min"] = [float(x) for x in flat.min(axis=0)]
            acc["max"] = [float(x) for x in flat.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def image(self, png: bytes) -> int:
        self.images.append({"bufferView": self._view(png), "mimeType": "image/png"})
        return len(self.images) - 1


def write_glb(path: Path, mesh: MeshArrays, materials: dict[str, Material], textures: dict[str, np.ndarray],
              morph_names: list[str] | None = None, morph_deltas: np.ndarray | None = None) -> None:
    """glTF 2.0 binary: one mesh, one primitive per part, PBR materials with embedded PNG maps.

    ``textures`` maps the texture names used by ``materials`` to uint8 images (row 0 = top).
    A roughness texture is packed into the green channel of glTF's metallic-roughness image.
    ``morph_deltas`` (M, V, 3) become morph targets named in ``mesh.extras.targetNames``.
    """
    src_v, src_uv, corner_faces = unweld(mesh.faces, mesh.uv_faces)
    positions = mesh.vertices[src_v].astype(np.float32)
    normals = vertex_normals(mesh.vertices, mesh.faces)[src_v]
    uv = mesh.uvs[src_uv].astype(np.float32).copy()
    tangents = vertex_tangents(positions, normals, uv, corner_faces)
    uv[:, 1] = 1.0 - uv[:, 1]  # glTF's v points down
    b = _GltfBuilder()
    attrs = {
        "POSITION": b.accessor(positions, "VEC3", _ARRAY_BUFFER, with_bounds=True),
        "NORMAL": b.accessor(normals, "VEC3", _ARRAY_BUFFER),
        "TEXCOORD_0": b.accessor(uv, "VEC2", _ARRAY_BUFFER),
        "TANGENT": b.accessor(tangents, "VEC4", _ARRAY_BUFFER),
    }
    targets = []
    if morph_deltas is not None and len(morph_deltas):
        for delta in morph_deltas:
            targets.append({"POSITION": b.accessor(delta[src_v].astype(np.float32), "VEC3", _ARRAY_BUFFER,
                                                   with_bounds=True)})
    gl_textures, gl_materials, material_index = [], [], {}
    texture_index: dict[str, int] = {}

    def tex(name: str, image: np.ndarray) -> int:
        if name not in texture_index:
            gl_textures.append({"sampler": 0, "source": b.image(png_bytes(image))})
            texture_index[name] = len(gl_textures) - 1
        return texture_index[name]

    for part in mesh.part_names:
        mat = materials[part]
        if mat.name in material_index:
            continue
        pbr = {"baseColorFactor": [*mat.base_color, 1.0], "metallicFactor": 0.0, "roughnessFactor": mat.roughness}
        entry: dict = {"name": mat.name, "pbrMetallicRoughness": pbr}
        if mat.base_color_texture:
            pbr["baseColorFactor"] = [1.0, 1.0, 1.0, 1.0]
            pbr["baseColorTexture"] = {"index": tex(mat.base_color_texture, textures[mat.base_color_texture])}
        if mat.roughness_texture:
            rough = textures[mat.roughness_texture]
            rough = rough if rough.ndim == 2 else rough[..., 0]
            packed = np.stack([np.zeros_like(rough), rough, np.zeros_like(rough)], axis=-1)
            pbr["roughnessFactor"] = 1.0
            pbr["metallicRoughnessTexture"] = {"index": tex(mat.roughness_texture + "#mr", packed)}
        if mat.normal_texture:
            entry["normalTexture"] = {"index": tex(mat.normal_texture, textures[mat.normal_texture])}
        gl_materials.append(entry)
        material_index[mat.name] = len(gl_materials) - 1
    primitives = []
    for part_id, part in enumerate(mesh.part_names):
        sel = corner_faces[mesh.face_part == part_id]
        if len(sel) == 0:
            continue
        mat = materials[part]
        used = {k: v for k, v in attrs.items()
                if (k != "TANGENT" or mat.normal_texture)
                and (k != "TEXCOORD_0" or mat.base_color_texture or mat.normal_texture or mat.roughness_texture)}
        prim = {"attributes": used, "indices": b.accessor(sel.reshape(-1).astype(np.uint32), "SCALAR",
                                                            _ELEMENT_ARRAY_BUFFER),
                "material": material_index[materials[part].name], "mode": 4}
        if targets:
            prim["targets"] = targets
        primitives.append(prim)
    gl_mesh: dict = {"name": "head", "primitives": primitives}
    if targets:
        gl_mesh["weights"] = [0.0] * len(targets)
        gl_mesh["extras"] = {"targetNames": list(morph_names or [])}
    doc = {
        "asset": {"version": "2.0", "generator": "ffhquv engine"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "head", "mesh": 0}],
        "meshes": [gl_mesh],
        "materials": gl_materials,
        "accessors": b.accessors,
        "bufferViews": b.views,
        "buffers": [{"byteLength": 0}],
    }
    if b.images:
        doc["images"] = b.images
        doc["textures"] = gl_textures
        doc["samplers"] = [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}]
    while len(b.buffer) % 4:
        b.buffer.append(0)
    doc["buffers"][0]["byteLength"] = len(b.buffer)
    _write_glb_container(Path(path), doc, bytes(b.buffer))


def _write_glb_container(path: Path, doc: dict, binary: bytes) -> None:
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    total = 12 + 8 + len(js) + 8 + len(binary)
    out = io.BytesIO()
    out.write(struct.pack("<III", 0x46546C67, 2, total))
    out.write(struct.pack("<II", len(js), 0x4E4F534A))
    out.write(js)
    out.write(struct.pack("<II", len(binary), 0x004E4942))
    out.write(binary)
    path.write_bytes(out.getvalue())
