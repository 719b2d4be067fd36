"""The de-lighting's outlier repair (engine/texture/delight/repair.py) on a real photo: breakingbad's head is
turned about 57 degrees in front of a teal car interior, so the mirror of a highlight on his near cheek lies
at the far side's outline, where the photo shows the background. The repair must not copy that teal onto
the cheek (it did: cyan dots around the mouth, mirrored onto both sides)."""
from __future__ import annotations

import numpy as np

from engine.texture.color import linear_rgb_to_lab


def test_no_background_colour_is_copied_onto_the_skin() -> None:
    from engine.api import reconstruct
    from tests.photos import photo_path

    rec = reconstruct(photo_path("breakingbad"))
    lab = np.asarray(linear_rgb_to_lab(rec.texture.debug["albedo_linear"].astype(np.float32)))
    # No skin, lip, brow or beard has a green-blue hue: a* well below 0 is the car's teal (a* about -24).
    assert int((lab[..., 1] < -10.0).sum()) == 0
