"""Geometry benchmark: per-stage times for the astronaut photo (fresh process, model loading included)
and fit quality (mean 2D landmark error in % of the inter-ocular distance) on every real test photo.

Run: ``.venv/bin/python bench/bench_geometry.py [--out DIR]``. Overlays land in DIR for a look.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.photos import photo_path  # noqa: E402

PHOTOS = ("astronaut", "takeo", "tongue", "breakingbad", "einstein")


def run(photo: Path, out: Path, extra: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "engine", "reconstruct", str(photo), "-o", str(out), "--overwrite",
                           "--progress", "none", *extra], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{photo.name}: {proc.stderr.strip().splitlines()[-1]}")
    return wall, json.loads((out / "params.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ffhquv_bench_geometry")
    parser.add_argument("--quality", default="fast", choices=("fast", "best"))
    args = parser.parse_args()
    print(f"{'photo':<12} {'wall s':>7} {'fit s':>6} {'lm err %IOD':>11} {'parametric':>10} {'median':>7} {'visible':>8} {'IOD px':>7}")
    for name in PHOTOS:
        out = args.out / name
        wall, params = run(photo_path(name), out, ["--no-texture", "--quality", args.quality])
        m, t = params["metrics"], params["timings"]
        print(f"{name:<12} {wall:7.2f} {t['fit']:6.2f} {m['landmark_error_iod'] * 100:11.2f} "
              f"{m['landmark_error_parametric_iod'] * 100:10.2f} {m['landmark_error_median_iod'] * 100:7.2f} "
              f"{m['landmark_error_visible_iod'] * 100:8.2f} "
              f"{m['inter_ocular_px']:7.1f}")
        if name == "astronaut":
            stages = ", ".join(f"{k} {v:.2f}" for k, v in t.items())
            print(f"  astronaut stages (s): {stages}; process wall incl. imports {wall:.2f}")
    print(f"overlays: {args.out}/<photo>/overlay.png")


if __name__ == "__main__":
    main()
