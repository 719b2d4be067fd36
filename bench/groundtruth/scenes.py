"""What the ground-truth benchmark renders: heads, views, lightings, and the list of scenes.

A scene is one Cycles render: a head (shape, expression, albedo) seen from a view under a lighting.
The full set crosses 6 heads with 10 lightings each (every one of Blender's 8 world HDRIs, hard side
and top keys with <= 5 % ambient, amber and blue keys, a window + tungsten mix, -1.5 / +1.5 EV),
each head from its own view (yaw 0, +-25, +-45 degrees; 35-135 mm; 512-1024 px). The subset (2 heads
x 3 lightings) is the machinery check. :func:`hair_scenes` are scenes of the full set with synthetic
hair cards over the forehead and cheeks (:mod:`bench.groundtruth.hair`, ``bench/bench_hair.py``),
:func:`glasses_scenes` the same scenes with eyeglasses frames (:mod:`bench.groundtruth.glasses`,
``bench/bench_hair.py --glasses``).

Lighting directions are head space (+X the head's left, +Y up, +Z out of the face), from the head
toward the light. Camera: OpenCV ``pixel = K (R X + t)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bench.groundtruth.hair import HairSpec
from bench.groundtruth.heads import HeadSpec

__all__ = ["View", "Lighting", "Scene", "HEADS", "LIGHTINGS", "VIEWS", "HDRIS", "scenes", "camera",
           "hair_scenes", "HAIR_SCENES", "glasses_scenes", "GLASSES_SCENES"]

HDRIS = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")
SENSOR_WIDTH_MM = 36.0
"""Focal lengths are full-frame equivalents."""
FRAME_FILL = 0.62
"""The head's height (0.27 m, crown to neck) spans this share of the image height."""
HEAD_HEIGHT_M = 0.27
AIM_POINT = (0.0, -0.02, 0.03)
"""The camera aims here (head space): between the eyes and the mouth, slightly in front."""


@dataclass(frozen=True)
class View:
    name: str
    yaw_deg: float
    pitch_deg: float
    focal_mm: float
    size: int


@dataclass(frozen=True)
class Lighting:
    """``klass`` groups the figures (hdri, hard, coloured, mixed, exposure); ``spec`` is the
    renderer's LIGHTING JSON; ``ev`` is added to the metered exposure."""

    name: str
    klass: str
    spec: dict
    ev: float = 0.0


@dataclass(frozen=True)
class Scene:
    """``hair`` None: the bare head (its id and JSON are then exactly those of a scene without the field)."""

    head: HeadSpec
    view: View
    lighting: Lighting
    hair: HairSpec | None = None

    @property
    def id(self) -> str:
        base = f"{self.head.name}_{self.view.name}_{self.lighting.name}"
        return base if self.hair is None else f"{base}_{self.hair.name}"

    def to_json(self) -> dict:
        out = {"id": self.id, "head": asdict(self.head), "view": asdict(self.view),
               "lighting": asdict(self.lighting)}
        if self.hair is not None:
            out["hair"] = asdict(self.hair)
        return out


def _unit(v: tuple[float, float, float]) -> list[float]:
    a = np.asarray(v, np.float64)
    return (a / np.linalg.norm(a)).round(5).tolist()


def _sun(direction, rgb, strength, angle=1.0) -> dict:
    return {"type": "SUN", "direction": _unit(direction), "rgb": list(rgb), "strength": strength, "angle_deg": angle}


def hard(name: str, direction: tuple[float, float, float]) -> Lighting:
    """A sun of the given direction (towards the light, head space) with 4 % ambient."""
    key = 4.0
    ambient = 0.04 * key / np.pi  # uniform radiance: irradiance pi * L = 4 % of the key's
    return Lighting(name, "hard", {"kind": "lights", "ambient_rgb": [ambient] * 3,
                                   "lights": [_sun(direction, (1.0, 1.0, 1.0), key, 1.0)]})


def tinted_key(name: str, rgb: tuple[float, float, float], direction) -> Lighting:
    """A soft coloured key (``rgb``) from ``direction`` with 12 % neutral ambient."""
    key = 3.0
    return Lighting(name, "coloured", {"kind": "lights", "ambient_rgb": [0.12 * key / np.pi] * 3,
                                       "lights": [_sun(direction, rgb, key, 4.0)]})


def _window_tungsten() -> Lighting:
    window = {"type": "AREA", "position": [-0.75, 0.3, 0.65], "size": 0.8, "rgb": [0.86, 0.93, 1.0], "power": 60.0}
    bulb = {"type": "POINT", "position": [0.6, 0.15, 0.7], "rgb": [1.0, 0.6, 0.3], "power": 80.0, "radius": 0.05}
    return Lighting("window_tungsten", "mixed", {"kind": "lights", "ambient_rgb": [0.2, 0.19, 0.17],
                                                 "lights": [window, bulb]})


def hdri(name: str, rotation: float, ev: float = 0.0, klass: str | None = None) -> Lighting:
    """One of Blender's world HDRIs rotated by ``rotation`` degrees, ``ev`` off the metered exposure
    (class ``exposure`` when ``ev`` is not 0)."""
    klass = klass or ("hdri" if ev == 0 else "exposure")
    label = f"hdri-{name}" if ev == 0 else f"ev{ev:+.1f}"
    return Lighting(label, klass, {"kind": "hdri", "name": name, "rotation_deg": rotation, "strength": 1.0}, ev)


LIGHTINGS: dict[str, Lighting] = {
    **{f"hdri-{h}": hdri(h, 0.0) for h in HDRIS},
    "hard_side": hard("hard_side", (0.95, 0.12, 0.28)),
    "hard_top": hard("hard_top", (0.08, 1.0, 0.22)),
    "amber_key": tinted_key("amber_key", (1.0, 0.62, 0.28), (-0.5, 0.35, 0.8)),
    "blue_key": tinted_key("blue_key", (0.45, 0.66, 1.0), (0.55, 0.3, 0.8)),
    "window_tungsten": _window_tungsten(),
    "ev-1.5": hdri("studio", 20.0, -1.5, "exposure"),
    "ev+1.5": hdri("studio", 20.0, +1.5, "exposure"),
}
"""Every lighting by name (HDRI rotations are set per head in :func:`scenes`)."""

VIEWS = (
    View("y0", 0.0, 3.0, 50.0, 768),
    View("y25", 25.0, -2.0, 85.0, 640),
    View("y-45", -45.0, 4.0, 35.0, 1024),
    View("y-25", -25.0, 0.0, 135.0, 768),
    View("y45", 45.0, -4.0, 85.0, 512),
    View("y0b", 0.0, -3.0, 135.0, 1024),
)
"""One view per head (the i-th head uses the i-th view)."""

HEADS = (
    HeadSpec("h0", 11, "neutral", "astronaut"),
    HeadSpec("h1", 12, "smile", "takeo_brown"),
    HeadSpec("h2", 13, "talk", "einstein_medium"),
    HeadSpec("h3", 14, "neutral", "breakingbad_tan"),
    HeadSpec("h4", 15, "smirk", "tongue_rosy"),
    HeadSpec("h5", 16, "open", "einstein_dark"),
)
FIXED_LIGHTINGS = ("hard_side", "hard_top", "amber_key", "blue_key", "window_tungsten", "ev-1.5", "ev+1.5")
HDRIS_PER_HEAD = 3


def scenes(subset: bool = False) -> list[Scene]:
    """The full benchmark (6 heads x 10 lightings) or the subset (2 heads x 3 lightings, small)."""
    out = []
    heads = HEADS[:2] if subset else HEADS
    for i, head in enumerate(heads):
        view = VIEWS[i]
        if subset:
            view = View(view.name, view.yaw_deg, view.pitch_deg, view.focal_mm, 512)
            names = [f"hdri-{HDRIS[(5 + i) % len(HDRIS)]}", "hard_side", "amber_key"]
        else:
            names = [f"hdri-{HDRIS[(HDRIS_PER_HEAD * i + k) % len(HDRIS)]}" for k in range(HDRIS_PER_HEAD)]
            names += list(FIXED_LIGHTINGS)
        for name in names:
            light = LIGHTINGS[name]
            if light.spec["kind"] == "hdri" and light.klass == "hdri":
                rot = float((head.seed * 137 + 53 * names.index(name)) % 360)
                light = Lighting(light.name, light.klass, {**light.spec, "rotation_deg": rot}, light.ev)
            out.append(Scene(head, view, light))
    return out


HAIR_SCENES = (
    ("h0", ("hdri-city", "hard_side"), "fringe+cheeks", "brown"),
    ("h1", ("hdri-studio", "amber_key"), "fringe+cheeks", "blonde"),
    ("h5", ("hdri-courtyard", "hard_top"), "fringe+cheeks", "black"),
)
"""(head, lightings of its full-set scenes, hair style, hair colour): one HDRI and one hard or
coloured key per head; the frontal, the +25 degree and the 135 mm frontal view."""


GLASSES_SCENES = (
    ("h0", ("hdri-city", "hard_side"), "glasses", "black"),
    ("h1", ("hdri-studio", "amber_key"), "glasses", "gold"),
    ("h5", ("hdri-courtyard", "hard_top"), "glasses", "black"),
)
"""The same heads and lightings as :data:`HAIR_SCENES` (so the bare twins are the very same renders)
wearing eyeglasses frames (:mod:`bench.groundtruth.glasses`): black acetate, thin gold metal."""


def _dressed(table: tuple, bare: bool) -> list[Scene]:
    """The full set's scenes of ``table`` ((head, lightings, style, colour) rows) with their cards
    (seeded by the head's seed), or with ``bare`` the same scenes without them."""
    out = []
    for s in scenes():
        for head, lights, style, colour in table:
            if s.head.name == head and s.lighting.name in lights:
                hair = None if bare else HairSpec(style, colour, s.head.seed)
                out.append(Scene(s.head, s.view, s.lighting, hair))
    return out


def hair_scenes(bare: bool = False) -> list[Scene]:
    """The full set's scenes of :data:`HAIR_SCENES` with their hair (seeded by the head's seed), or
    with ``bare`` the same scenes without it (the baseline)."""
    return _dressed(HAIR_SCENES, bare)


def glasses_scenes(bare: bool = False) -> list[Scene]:
    """The full set's scenes of :data:`GLASSES_SCENES` with their glasses, or with ``bare`` the same
    scenes without them (the baseline: the hair bench's bare scenes)."""
    return _dressed(GLASSES_SCENES, bare)


def camera(view: View) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(K, R, t, width, height) of ``view``: the head turned by yaw/pitch, framed by FRAME_FILL."""
    w = h = view.size
    f = view.focal_mm / SENSOR_WIDTH_MM * w
    K = np.array([[f, 0.0, (w - 1) / 2.0], [0.0, f, (h - 1) / 2.0], [0.0, 0.0, 1.0]])
    yaw, pitch = np.deg2rad(view.yaw_deg), np.deg2rad(view.pitch_deg)
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    head_to_cam = np.diag([1.0, -1.0, -1.0])  # camera in front of the face, looking at -Z
    R = head_to_cam @ rx @ ry
    distance = f * HEAD_HEIGHT_M / (FRAME_FILL * h)
    t = np.array([0.0, 0.0, distance]) - R @ np.asarray(AIM_POINT)
    return K, R, t, w, h
