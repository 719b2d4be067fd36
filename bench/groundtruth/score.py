"""Per-render scores of one reconstruction against its ground truth, and the tables over many renders.

Every figure is measured on what the photo actually showed (the true head's own visibility from the
true camera, with our depth buffer), never on texels the engine filled from the mirror or a template,
except the whole-face ΔE, which deliberately includes the unseen part (the truth has it), and the
seam figures, which measure the engine's own output against itself (its photo/fill border and its UV
island borders, over the whole head skin).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from bench.groundtruth import metrics as M
from bench.groundtruth.layout import Layout, island_seams, template_positions
from bench.groundtruth.runner import EngineOutput
from bench.groundtruth.visibility import texel_view

__all__ = ["score_render", "pairwise_between_lightings", "aggregate", "METRIC_KEYS", "seen_face_skin", "seams"]

METRIC_KEYS = (
    "de_seen", "de_seen_p95", "de_face", "tone_de", "tone_ev", "tone_colour_de", "bs_both_seen", "bs_truth", "filled_share",
    "seam_seen_border", "seam_seen_border_truth", "seam_uv_islands", "centre_border_l", "centre_border_l_truth",
    "geom_face_mm", "geom_head_mm", "geom_face_template_mm", "geom_head_template_mm",
    "lm_before_iod", "lm_after_iod", "lm_inner_before_iod", "lm_inner_after_iod", "lm_detected_iod",
    "identity_photo_render", "seconds",
)
"""The per-render figures (the pairwise ΔE between lightings and the view identity are per head)."""


def seen_face_skin(lay: Layout, scene: dict, vertices: np.ndarray) -> np.ndarray:
    """[N, N] bool: face skin the true camera saw on the true head."""
    w, h = scene["image_size"]
    view = texel_view(lay, vertices, np.asarray(scene["K"]), np.asarray(scene["R"]), np.asarray(scene["t"]), w, h)
    return view.visible & lay.face_skin


def _geometry(out: EngineOutput, truth_vertices: np.ndarray, template: np.ndarray, lay: Layout,
              face_vertices: np.ndarray, skin_vertices: np.ndarray) -> dict[str, float]:
    faces = lay.faces
    res = {}
    for label, verts in (("", out.vertices), ("_template", template)):
        face = M.surface_error(verts, truth_vertices, faces, face_vertices)
        head = M.surface_error(verts, truth_vertices, faces, skin_vertices)
        res[f"geom_face{label}_mm"] = face.mean_mm
        res[f"geom_head{label}_mm"] = head.mean_mm
    return res


def seams(albedo: np.ndarray, from_photo: np.ndarray, lay: Layout) -> dict[str, float]:
    """Seam ΔE00 of an albedo over the covered head skin but its holes (``lay.seam_skin``): across the
    border of the texels taken from the photo (``from_photo`` [N, N] bool) and across the UV island
    borders (3D neighbourhoods on the template, :func:`bench.groundtruth.metrics.seen_border_seam` /
    ``uv_island_seam``)."""
    skin = lay.seam_skin
    border = M.seen_border_seam(albedo, from_photo, template_positions(lay.size), skin)
    islands = M.uv_island_seam(albedo, island_seams(lay.size), skin)
    return {"seam_seen_border": border.mean, "seam_uv_islands": islands.mean}


def _landmarks(out: EngineOutput, scene: dict, inner: np.ndarray) -> dict[str, float]:
    true = np.asarray(scene["landmarks478"])
    iod = M.inter_ocular(true)
    return {
        "lm_before_iod": M.landmark_error(out.landmarks_parametric, true, iod),
        "lm_after_iod": M.landmark_error(out.landmarks, true, iod),
        "lm_inner_before_iod": M.landmark_error(out.landmarks_parametric, true, iod, inner),
        "lm_inner_after_iod": M.landmark_error(out.landmarks, true, iod, inner),
        "lm_detected_iod": M.landmark_error(out.landmarks_detected, true, iod),
    }


def score_render(out: EngineOutput, truth_albedo: np.ndarray, truth_vertices: np.ndarray, scene: dict,
                 lay: Layout, model_parts: dict[str, np.ndarray], seen: np.ndarray) -> dict[str, float]:
    """Every per-render figure of :data:`METRIC_KEYS` but the identity (added by the caller).

    ``model_parts``: ``template`` (V, 3) unfitted head, ``face_vertices`` / ``skin_vertices`` (V,)
    bool, ``inner_landmarks`` (478,) bool (not the face oval); ``seen`` (N, N) bool the face skin the
    true camera saw (:func:`seen_face_skin`). ``seam_seen_border_truth``: the true albedo across the
    engine's photo/fill border, the natural colour change there (brows, lips and eyelids it may run
    along), to read ``seam_seen_border`` against. ``centre_border_l`` / ``_truth``: how much lighter (L*)
    the centre of the face the engine took from the photo is than its border, on the engine's albedo and on
    the true one
    (:func:`bench.groundtruth.metrics.centre_border_lightness`)."""
    de = M.albedo_delta_e(out.albedo, truth_albedo, seen)
    whole = M.albedo_delta_e(out.albedo, truth_albedo, lay.face & lay.covered)
    bs = M.bs_error(out.albedo, lay.mirror_rowcol, out.from_photo & seen, lay.face_skin)
    bs_truth = M.bs_error(truth_albedo, lay.mirror_rowcol, out.from_photo & seen, lay.face_skin)
    res = {
        "de_seen": de.mean, "de_seen_p95": de.p95, "de_face": whole.mean,
        "tone_de": M.mean_colour_delta_e(out.albedo, truth_albedo, seen),
        **dict(zip(("tone_ev", "tone_colour_de"), M.mean_colour_split(out.albedo, truth_albedo, seen))),
        "bs_both_seen": bs.error, "bs_truth": bs_truth.error, "filled_share": bs.filled_share,
        "seconds": out.seconds,
        **seams(out.albedo, out.from_photo, lay),
        "seam_seen_border_truth": M.seen_border_seam(truth_albedo, out.from_photo, template_positions(lay.size),
                                                     lay.seam_skin).mean,
        "centre_border_l": M.centre_border_lightness(out.albedo, seen & out.from_photo),
        "centre_border_l_truth": M.centre_border_lightness(truth_albedo, seen & out.from_photo),
    }
    res.update(_geometry(out, truth_vertices, model_parts["template"], lay, model_parts["face_vertices"],
                         model_parts["skin_vertices"]))
    res.update(_landmarks(out, scene, model_parts["inner_landmarks"]))
    return res


def pairwise_between_lightings(albedos: dict[str, np.ndarray], seen: np.ndarray) -> dict[str, float]:
    """Mean ΔE00 between the albedos of one head and view under each pair of lightings, over the
    face skin the view saw; keys ``"a|b"``."""
    pairs = M.pairwise_delta_e(albedos, seen)
    return {f"{a}|{b}": v for (a, b), v in pairs.items()}


def aggregate(rows: list[dict], key: str = "klass") -> dict[str, dict[str, dict]]:
    """{group: {metric: {mean, worst, count}}} over ``rows`` grouped by ``key``, plus ``all``.

    "worst" is the maximum, except for nothing here (every figure is an error: higher is worse)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r[key]].append(r)
        groups["all"].append(r)
    out = {}
    for g, rs in groups.items():
        keys = sorted({k for r in rs for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        out[g] = {k: M.summarise([float(r[k]) for r in rs if k in r]) for k in keys}
    return out


def pairwise_summary(pairs_by_head: dict[str, dict[str, float]], klass_of: dict[str, str]) -> dict[str, dict]:
    """Pairwise ΔE grouped by the lighting classes involved: ``all``, and per class every pair with
    at least one lighting of that class (``hard`` = pairs involving a hard light)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for pairs in pairs_by_head.values():
        for name, v in pairs.items():
            a, b = name.split("|")
            groups["all"].append(v)
            for k in {klass_of[a], klass_of[b]}:
                groups[k].append(v)
    return {k: M.summarise(v) for k, v in groups.items()}

