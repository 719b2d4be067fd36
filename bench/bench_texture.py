"""Speed of the texture pipeline (engine/texture/pipeline.py) per stage, against the targets.

Targets on this 2-core CPU: texture stages <= 5 s at 1024², <= 10 s at 2048², <= 20 s at 4096² (unwrap ..
metrics; the relit preview sheet is reported separately), within about 2 GB (the peak resident memory the
cold run adds to its process: the stage's own working memory, without the head model or the scene).
Each size runs in a fresh process state order:
the first call runs with the texture caches cleared (UV raster, mirror map, template AO, template
albedo), as a CLI run always does, so that "cold" figure is the one compared with the target; a
second call shows the warm cost. Sizes above 1024 are analysed at 1024 and get full-resolution
detail in the "detail" stage.

Run: ``python bench/bench_texture.py [--sizes 1024 2048 4096] [--image 1024] [--light hard_side] [--out DIR]``;
each size runs in its own process (so its peak memory is its own); ``DIR/texture.json`` keeps the figures
for ``bench/report.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.head.model import load_head_model  # noqa: E402
from engine.synthetic import make_scene  # noqa: E402
from engine.texture import complete, delight, template, unwrap  # noqa: E402
from engine.texture.pipeline import TextureInputs, TextureSettings, build_texture  # noqa: E402


def _clear_caches() -> None:
    """Forget what a previous call computed, as in a fresh CLI process (the head model stays loaded)."""
    for fn in (unwrap.uv_raster, complete.mirror_lookup, delight.template_ambient_occlusion,
               delight.reference_normals, template._albedo_cached, template._grey_cached):
        fn.cache_clear()

TARGETS_S = {1024: 5.0, 2048: 10.0, 4096: 20.0}
MEMORY_TARGET_GB = 2.0
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "bench_out" / "texture"
STAGES = ("unwrap", "delight", "correct", "complete", "detail", "maps", "metrics")


def _row(label: str, timings: dict[str, float]) -> str:
    core = sum(timings.get(s, 0.0) for s in STAGES)
    cells = " ".join(f"{timings.get(s, 0.0):>8.2f}" for s in STAGES)
    return f"{label:>12} {cells} {core:>8.2f} {timings.get('relit_sheet', 0.0):>8.2f}"


def _rss_gb() -> float:
    """Resident memory of this process now (Linux /proc)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 ** 3


class _PeakMemory:
    """Samples the resident memory every few milliseconds while it is entered: ``peak_gb`` above what the
    process held on entry (the stage's own working memory, not the head model's or the scene's)."""

    def __enter__(self) -> "_PeakMemory":
        self.base, self.peak, self._stop = _rss_gb(), 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_gb())
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_gb = max(self.peak, _rss_gb()) - self.base


def _one_size(size: int, image: int, light: str) -> dict:
    """Cold and warm runs of one texture size in this process; stage timings and the cold run's peak
    working memory."""
    model = load_head_model()
    scene = make_scene(0, light, texture_size=size, image_size=image, model=model)
    inp = TextureInputs(scene.photo, scene.K, scene.R, scene.t, scene.vertices, scene.landmarks,
                        scene.person_mask, size)
    runs, peaks = {}, {}
    for label in ("cold", "warm"):
        if label == "cold":
            _clear_caches()
        with _PeakMemory() as mem:
            res = build_texture(inp, model, settings=TextureSettings(debug=False))
        runs[label], peaks[label] = dict(res.timings), mem.peak_gb
        del res  # the next run must not find this one's maps still held
    return {"size": size, "runs": runs, "peak_gb": peaks["cold"]}


def _stages(timings: dict[str, float]) -> float:
    return sum(timings.get(s, 0.0) for s in STAGES)


def _verdict(row: dict) -> str:
    size, cold = row["size"], _stages(row["runs"]["cold"])
    target = TARGETS_S.get(size)
    time_ok = "OK" if target is None or cold <= target else "ABOVE TARGET"
    mem_ok = "OK" if row["peak_gb"] <= MEMORY_TARGET_GB else "ABOVE TARGET"
    return (f"{'':>12} {size}²: texture stages {cold:.2f} s cold (target <= {target:.0f} s: {time_ok}), "
            f"{_stages(row['runs']['warm']):.2f} s warm; peak working memory {row['peak_gb']:.2f} GB "
            f"(target about {MEMORY_TARGET_GB:.0f} GB: {mem_ok})")


def markdown(doc: dict) -> str:
    """The speed table for the README."""
    lines = [f"texture stages on the synthetic hard-side scene, commit `{doc['commit']}`, {doc['machine']}, "
             f"{doc['date']}.", "",
             "| texture size | stages, cold (s) | target | warm (s) | peak working memory (GB) |",
             "|---|---|---|---|---|"]
    for row in doc["sizes"]:
        target = TARGETS_S.get(row["size"], 0.0)
        lines.append(f"| {row['size']}² | {_stages(row['runs']['cold']):.2f} | <= {target:.0f} | "
                     f"{_stages(row['runs']['warm']):.2f} | {row['peak_gb']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--image", type=int, default=1024, help="working image size of the synthetic photo")
    ap.add_argument("--light", default="hard_side", help="synthetic light (hard_side exercises the sun search)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--one-size", type=int, help=argparse.SUPPRESS)  # internal: the child process
    args = ap.parse_args()
    if args.one_size:
        print(json.dumps(_one_size(args.one_size, args.image, args.light)))
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; light {args.light}, image {args.image}²")
    print(f"{'':>12} " + " ".join(f"{s:>8}" for s in STAGES) + f" {'stages':>8} {'relit':>8}")
    rows = []
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one-size", str(size), "--image", str(args.image),
                              "--light", args.light], check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        for label in ("cold", "warm"):
            print(_row(f"{size} {label}", row["runs"][label]))
        print(_verdict(row))
        rows.append(row)
    from bench.bench_groundtruth import _commit, _machine

    doc = {"commit": _commit(), "machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "sizes": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "texture.json").write_text(json.dumps(doc, indent=1))
    print(markdown(doc))


if __name__ == "__main__":
    main()
