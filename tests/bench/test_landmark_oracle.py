"""bench/bench_landmark_oracle.py: its table, and its configurations (black box on a made-up result)."""
from __future__ import annotations

from bench.bench_landmark_oracle import CONFIGS, _settings, markdown


def test_settings_turn_off_what_their_names_say() -> None:
    assert _settings("mediapipe").landmark_prior and _settings("mediapipe").photometric is not None
    assert _settings("mediapipe, no photometric").photometric is None
    assert not _settings("true landmarks").landmark_prior
    s = _settings("true landmarks, no photometric")
    assert not s.landmark_prior and s.photometric is None


def test_markdown_gives_every_render_the_mean_and_the_worst() -> None:
    def row(face: float) -> dict:
        return {c: {"face_mm": 1.0, "face_ratio": face + i / 10, "head_mm": 1.0, "head_ratio": 0.9,
                    "lm_inner_iod": 0.03} for i, c in enumerate(CONFIGS)}

    doc = {"commit": "abc1234", "machine": "x", "date": "d", "renders": {"h0_y0": row(0.8), "h1_y25": row(0.6)}}
    md = markdown(doc)
    assert "`abc1234`" in md and "| h0_y0 | 0.80 / 0.90 / 3.00 |" in md
    assert "| **mean** | 0.70 / 0.90 / 3.00 | 0.80 / 0.90 / 3.00 |" in md
    assert "| worst face ratio | 0.80 | 0.90 | 1.00 | 1.10 |" in md
