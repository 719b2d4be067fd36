"""Training scenes for MediaPipe's landmark error model: the training heads seen from many yaws.

The bare training heads of :mod:`bench.groundtruth.train_scenes` (t0-t11, t301-t309; never benchmark
heads) are rendered at yaws -50...+50 degrees with small pitch changes, under the HDRI of their
training scene (a studio HDRI for the key-lit ones), small (512 px) and with few samples: MediaPipe's error against the true landmarks is
what is measured, not the image quality. ``bench/build_landmark_prior.py`` renders them into
``.cache/groundtruth_train`` and fits ``engine/fit/data/landmark_prior.json`` on them.
"""
from __future__ import annotations

from bench.groundtruth.heads import HeadSpec
from bench.groundtruth.scenes import Scene, View
from bench.groundtruth.train_scenes import _BARE, _HAIR, _lighting

__all__ = ["YAWS", "landmark_scenes"]

YAWS = (-50.0, -35.0, -20.0, -8.0, 0.0, 8.0, 20.0, 35.0, 50.0)
"""Yaws (degrees) every training head is seen from."""
PITCHES = (-6.0, 0.0, 6.0)
"""Pitches (degrees) cycled over the yaws."""
FOCALS = (35.0, 50.0, 85.0, 135.0)
"""Full-frame focal lengths (mm) cycled over the yaws."""
SIZE_PX = 512


def _heads() -> list[tuple[HeadSpec, str, float | None]]:
    """(head, lighting name, HDRI rotation) of every training head, bare."""
    out = [(HeadSpec(n, seed, expr, albedo), f"hdri-{hdri}", rot) for n, seed, expr, albedo, _, hdri, rot in _BARE]
    for n, seed, expr, albedo, _, light, rot, _, _ in _HAIR:  # key-lit hair heads: a studio HDRI instead
        hdri = light if light.startswith("hdri") else "hdri-studio"
        out.append((HeadSpec(n, seed, expr, albedo), hdri, rot if rot is not None else float(37 * seed % 360)))
    return out


def landmark_scenes() -> list[Scene]:
    """Every training head from every yaw in :data:`YAWS` (pitch and focal length cycled)."""
    out = []
    for h, (head, light, rot) in enumerate(_heads()):
        for i, yaw in enumerate(YAWS):
            pitch, focal = PITCHES[(i + h) % len(PITCHES)], FOCALS[(i + 2 * h) % len(FOCALS)]
            out.append(Scene(head, View(f"lm{int(yaw):+d}", yaw, pitch, focal, SIZE_PX), _lighting(light, rot)))
    return out
