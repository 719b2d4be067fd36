"""Print timings and accuracy of photo loading, MediaPipe landmarks and person segmentation
on the real test photos (fetched with tools/fetch_test_photos.py).

    python bench/bench_landmarks.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_GT = ("takeo", "einstein", "breakingbad")


def _ms(fn: Callable[[], object], repeat: int) -> float:
    """Minimum over ``repeat`` runs in ms (the machine is shared: the minimum is the least
    disturbed run)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    t = time.perf_counter()
    from engine import landmarks as lm
    from engine.images import load_photo
    from tests.photos import PHOTO_NAMES, ground_truth_68, photo_path

    print(f"import engine.landmarks (mediapipe): {1000 * (time.perf_counter() - t):.0f} ms")
    t = time.perf_counter()
    lm._face_mesh()
    print(f"FaceMesh graph creation: {1000 * (time.perf_counter() - t):.1f} ms")
    warm = np.full((256, 256, 3), 128, np.uint8)
    t = time.perf_counter()
    lm._run_mesh(warm)
    print(f"first FaceMesh call (model init): {1000 * (time.perf_counter() - t):.1f} ms")
    print(f"FaceMesh call, no face, 256x256: {_ms(lambda: lm._run_mesh(warm), 20):.1f} ms")

    header = (f"{'photo':12s} {'size':>10s} {'load':>7s} {'single':>7s} {'ensem':>7s} "
              f"{'search':>6s} {'faces':>5s} {'face px':>7s} {'IOD px':>6s} {'NME68':>6s} "
              f"{'NME51':>6s}")
    print("\n" + header + "\n" + "-" * len(header))
    for name in PHOTO_NAMES:
        path = photo_path(name)
        photo = load_photo(path)
        load_ms = _ms(lambda: load_photo(path), args.repeat)
        single_ms = _ms(lambda: lm.detect_landmarks(photo, ensemble=False), args.repeat)
        ens_ms = _ms(lambda: lm.detect_landmarks(photo), args.repeat)
        face = lm.detect_landmarks(photo)
        nme = ("", "")
        if name in _GT:
            gt = ground_truth_68(name)
            err = np.linalg.norm(face.points[list(lm.IBUG68)] - gt, axis=1)
            err /= np.linalg.norm(gt[36] - gt[45])
            nme = (f"{err.mean():.4f}", f"{err[17:].mean():.4f}")
        w, h = photo.size
        print(f"{name:12s} {f'{w}x{h}':>10s} {load_ms:6.1f}  {single_ms:6.1f}  {ens_ms:6.1f}  "
              f"{face.search:>6s} {face.face_count:5d} {face.face_size:7.1f} "
              f"{face.inter_ocular:6.1f} {nme[0]:>6s} {nme[1]:>6s}")
    print("(ms: minimum of --repeat runs; NME: mean error / outer-eye-corner distance of the "
          "ground truth; NME51 excludes the 17 jaw points)")

    from tests.photos import paste, read_rgb

    astronaut = read_rgb(photo_path("astronaut"))
    print("\nsmall faces pasted on a grey canvas (both detectors miss them: tile search)")
    for canvas_side, scale in [(1600, 0.8), (2048, 0.8), (2048, 0.6)]:
        canvas = np.full((canvas_side, canvas_side, 3), 100, np.uint8)
        rgb = paste(canvas, astronaut, scale, (canvas_side // 2 - 200, canvas_side // 3))
        found = lm._find_faces(rgb)
        ms = _ms(lambda: lm._find_faces(rgb), max(1, args.repeat // 3))
        sizes = [f"{lm._size_of(f):.0f}px/{how}" for f, how in found]
        print(f"  {canvas_side}x{canvas_side}, astronaut x{scale}: {ms:7.1f} ms, found {sizes}")

    t = time.perf_counter()
    lm._selfie_segmentation()
    print(f"\nSelfieSegmentation graph creation: {1000 * (time.perf_counter() - t):.1f} ms")
    for name in ("astronaut", "einstein", "breakingbad"):
        photo = load_photo(photo_path(name))
        face = lm.detect_landmarks(photo)
        whole = _ms(lambda: lm.segment_person(photo), args.repeat)
        with_face = _ms(lambda: lm.segment_person(photo, face), args.repeat)
        print(f"segment_person {name:12s} whole image {whole:6.1f} ms, with face crop "
              f"{with_face:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
