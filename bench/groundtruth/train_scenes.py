"""Training scenes: Cycles renders the engine's learned parts are fitted on, never benchmark scenes.

Heads t301-t309 (seeds 301-309) carry hair cards over the forehead and cheeks (four of them also
bare); heads t0-t11 (seeds 201-212) are bare, under Blender's HDRIs from a random view. Albedos are
the ground-truth tone variants (:data:`bench.groundtruth.albedos.ALBEDO_SPECS`), shapes and hair
strands are new draws; some scenes are also rendered small (:data:`SMALL_PX`).
``bench/build_hair_model.py`` renders them into ``.cache/groundtruth_train``.
:func:`glasses_train_scenes` puts eyeglasses frames (:mod:`bench.groundtruth.glasses`) on some of these
scenes (``bench/bench_hair.py --glasses --train``, same cache).
"""
from __future__ import annotations

from bench.groundtruth.hair import HairSpec
from bench.groundtruth.heads import HeadSpec
from bench.groundtruth.scenes import LIGHTINGS, Lighting, Scene, View, hard, hdri, tinted_key

__all__ = ["train_scenes", "calibration_scenes", "glasses_train_scenes", "GLASSES_TRAIN_SCENES"]

_HAIR = (
    # head, seed, expression, albedo, (view, yaw, pitch, focal mm, px), lighting, HDRI rotation, hair colour, bare twin
    ("t301", 301, "neutral", "astronaut_fair", ("y0", 0.0, 2.0, 50.0, 768), "hdri-forest", 131.0, "brown", True),
    ("t302", 302, "smile", "takeo_light", ("y20", 20.0, -2.0, 85.0, 640), "blue_key", None, "blonde", True),
    ("t303", 303, "neutral", "tongue_olive", ("y-20", -20.0, 0.0, 85.0, 640), "hdri-sunset", 273.0, "black", False),
    ("t304", 304, "talk", "breakingbad", ("y0", 0.0, -2.0, 135.0, 768), "window_tungsten", None, "brown", False),
    ("t305", 305, "smirk", "tongue_rosy", ("y10", 10.0, 3.0, 50.0, 768), "hdri-interior", 55.0, "blonde", False),
    ("t306", 306, "neutral", "einstein_medium", ("y-10", -10.0, 0.0, 85.0, 640), "hard_side", None, "brown", True),
    ("t307", 307, "smile", "takeo_light", ("y0", 0.0, 1.0, 85.0, 640), "hard_top", None, "brown", False),
    ("t308", 308, "neutral", "tongue_olive", ("y15", 15.0, 0.0, 50.0, 640), "hard_side", None, "black", False),
    ("t309", 309, "talk", "astronaut_deep", ("y-15", -15.0, 2.0, 85.0, 640), "hard_top", None, "blonde", True),
)

_BARE = (
    # head, seed, expression, albedo, (yaw, pitch, focal mm), HDRI, rotation
    ("t0", 201, "neutral", "astronaut_deep", (-2.6, 1.4, 50.0), "interior", 133.4),
    ("t1", 202, "smile", "astronaut_fair", (13.1, 2.5, 35.0), "night", 297.3),
    ("t2", 203, "open", "breakingbad", (-12.4, -1.3, 35.0), "courtyard", 214.2),
    ("t3", 204, "talk", "takeo_light", (20.5, -0.7, 50.0), "sunset", 115.0),
    ("t4", 205, "smirk", "tongue_olive", (-18.2, 0.5, 50.0), "night", 134.0),
    ("t5", 206, "neutral", "astronaut_bright", (30.2, -1.7, 85.0), "interior", 33.6),
    ("t6", 207, "smile", "einstein_medium", (-27.8, 4.6, 135.0), "sunset", 223.5),
    ("t7", 208, "open", "takeo_brown", (36.1, 1.0, 135.0), "interior", 216.5),
    ("t8", 209, "talk", "astronaut_deep", (-39.6, 4.2, 135.0), "courtyard", 215.8),
    ("t9", 210, "smirk", "astronaut_fair", (1.0, -1.8, 35.0), "studio", 121.7),
    ("t10", 211, "neutral", "breakingbad", (36.3, 3.8, 85.0), "forest", 114.7),
    ("t11", 212, "smile", "takeo_light", (-33.0, 3.9, 35.0), "courtyard", 234.1),
)


def _lighting(name: str, rotation: float | None) -> Lighting:
    light = LIGHTINGS[name]
    if rotation is None:
        return light
    return Lighting(light.name, light.klass, {**light.spec, "rotation_deg": rotation}, light.ev)


SMALL_PX = 400
"""Every hair scene and its twin, and the first half of the bare ones, are also rendered this small
(eyes about 55 px apart, as in many real photos): the cues must hold below the canonical scale."""


def _small(scene: Scene) -> Scene:
    v = scene.view
    return Scene(scene.head, View(f"{v.name}s", v.yaw_deg, v.pitch_deg, v.focal_mm, SMALL_PX), scene.lighting,
                 scene.hair)


def train_scenes() -> list[Scene]:
    """Every training scene: the hair scenes (and their bare twins), the bare HDRI scenes, then the
    small copies."""
    out = []
    for name, seed, expr, albedo, view, light, rot, colour, twin in _HAIR:
        head, v, lit = HeadSpec(name, seed, expr, albedo), View(*view), _lighting(light, rot)
        if twin:
            out.append(Scene(head, v, lit))
        out.append(Scene(head, v, lit, HairSpec("fringe+cheeks", colour, seed + 100)))
    for name, seed, expr, albedo, (yaw, pitch, focal), hdri, rot in _BARE:
        out.append(Scene(HeadSpec(name, seed, expr, albedo), View("v0", yaw, pitch, focal, 640),
                         _lighting(f"hdri-{hdri}", rot)))
    n_hair = len(out) - len(_BARE)
    return out + [_small(s) for s in out[:n_hair] + out[n_hair:n_hair + len(_BARE) // 2]]


_CALIBRATION = (
    # head, seed, expression, albedo, (yaw, pitch, focal mm, px), lighting
    ("c0", 401, "neutral", "astronaut_fair", (5.0, 1.0, 50.0, 640), hard("hard_left", (-0.9, 0.2, 0.35))),
    ("c1", 402, "smile", "takeo_brown", (-15.0, -1.0, 85.0, 640), hard("hard_above", (-0.2, 0.95, 0.3))),
    ("c2", 403, "talk", "einstein_dark", (20.0, 2.0, 85.0, 640), tinted_key("warm_key", (1.0, 0.7, 0.4), (0.5, 0.3, 0.8))),
    ("c3", 404, "neutral", "breakingbad", (-30.0, 0.0, 50.0, 640), tinted_key("cool_key", (0.5, 0.7, 1.0), (-0.6, 0.2, 0.8))),
    ("c4", 405, "smirk", "tongue_olive", (10.0, -2.0, 135.0, 768), hdri("studio", 100.0, -1.0)),
    ("c5", 406, "open", "astronaut_deep", (-5.0, 3.0, 50.0, 640), hdri("courtyard", 40.0, +1.0)),
    ("c6", 407, "neutral", "tongue_rosy", (35.0, 0.0, 85.0, 640), hdri("sunset", 300.0)),
    ("c7", 408, "smile", "einstein_medium", (0.0, 2.0, 85.0, 768), hard("hard_low_side", (0.9, -0.1, 0.4))),
    ("c8", 409, "talk", "takeo_light", (-40.0, 1.0, 35.0, 1024), hdri("night", 200.0, +1.5)),
    ("c9", 410, "neutral", "astronaut", (15.0, -3.0, 50.0, 512), hdri("forest", 10.0, -2.0)),
    ("c10", 411, "smirk", "breakingbad_tan", (-20.0, 2.0, 85.0, 640), tinted_key("magenta_key", (0.9, 0.55, 0.9), (0.4, 0.5, 0.8))),
    ("c11", 412, "open", "einstein_dark", (25.0, 0.0, 135.0, 768), hdri("interior", 250.0, +1.5)),
)


def calibration_scenes() -> list[Scene]:
    """Bare heads under every benchmark lighting class (hard, coloured, HDRI, exposure -2..+1.5 EV) with
    new heads, views, light directions and colours: what the exposure and light-colour estimate is tuned on.
    None is a benchmark scene (different heads, views and lights)."""
    return [Scene(HeadSpec(name, seed, expr, albedo), View("v0", *view), light)
            for name, seed, expr, albedo, view, light in _CALIBRATION]


GLASSES_TRAIN_SCENES = (
    ("t301_y0_hdri-forest", "black"),
    ("t306_y-10_hard_side", "gold"),
    ("c2_v0_warm_key", "tortoise"),
    ("c3_v0_cool_key", "black"),
    ("t5_v0_hdri-interior", "gold"),
    ("t11_v0_hdri-courtyard", "tortoise"),
    ("t0_v0s_hdri-interior", "black"),
    ("t4_v0s_hdri-night", "gold"),
)
"""(scene id of :func:`train_scenes` or :func:`calibration_scenes`, frame colour): yaw -33..+30 degrees,
HDRIs with their rotations, a hard side key, warm and cool tinted keys; the 768 px frontal 50 mm face
down to the 400 px ones (eyes about 55 px apart); black, gold and tortoise frames; every albedo different."""


def glasses_train_scenes(bare: bool = False) -> list[Scene]:
    """The scenes of :data:`GLASSES_TRAIN_SCENES` wearing their frames (seeded by the head's seed, as
    :func:`bench.groundtruth.scenes.glasses_scenes`), or with ``bare`` the same scenes without them: the
    training scenes themselves, so the bare twins are renders shared with ``bench/build_hair_model.py``.
    What the glasses detector may be tuned on; the benchmark's glasses scenes stay out of it."""
    pool = {s.id: s for s in train_scenes() + calibration_scenes()}
    out = []
    for scene_id, colour in GLASSES_TRAIN_SCENES:
        s = pool[scene_id]
        out.append(s if bare else Scene(s.head, s.view, s.lighting, HairSpec("glasses", colour, s.head.seed)))
    return out
