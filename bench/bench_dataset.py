"""Throughput and scaling of the dataset builder (engine/dataset/), not run in CI.

Builds N items from the real test photos and the ground-truth benchmark's renders
(``.cache/groundtruth/renders/*/photo.png``; cycled when N is larger), through a JSON-lines manifest, and
prints: images/min with 1 and 2 local workers on the same K = N/2 items (parallel efficiency), the full
N with 2 workers (and with ``--ray``, the same K items on a local Ray with 2 CPUs: its overhead), per-item
CPU seconds and peak RSS per worker (from the rows), report time and size, PCA time / peak RSS and the
explained variance at 10/50/100 components, and the projected time for 500 items and for N nodes.

Run: ``python bench/bench_dataset.py [--n 40] [--texture-size 256] [--quality fast] [--ray] [--out DIR]``
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.dataset.index import open_dataset  # noqa: E402


def _photos(n: int) -> list[Path]:
    from tests.photos import PHOTO_NAMES, photo_path

    pool = [Path(photo_path(name)) for name in PHOTO_NAMES]
    pool += sorted((REPO / ".cache" / "groundtruth" / "renders").glob("*/photo.png"))
    return [pool[i % len(pool)] for i in range(n)]


def _manifest(path: Path, photos: list[Path]) -> Path:
    lines = [json.dumps({"path": str(p), "id": f"{i:05d}_{p.parent.name if p.name == 'photo.png' else p.stem}"})
             for i, p in enumerate(photos)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _cli(*args: str) -> tuple[str, float]:
    """Runs ``python -m engine.dataset ARGS``; returns (the last stdout line, wall seconds)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "engine.dataset", *args], cwd=REPO, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip().splitlines()[-1], time.perf_counter() - t0


def _build(manifest: Path, out: Path, workers: int, settings: list[str], ray: bool = False) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    extra = ["--ray", "local"] if ray else []
    last, wall = _cli("build", str(manifest), "-o", str(out), "--workers", str(workers), "--progress", "none",
                         *settings, *extra)
    summary = json.loads(last)
    rows = open_dataset(out).rows
    ok = [r for r in rows if r["status"] == "ok"]
    processed = summary["ok"] + summary["error"]
    return {"workers": workers, "ray": ray, "items": processed, "ok": len(ok), "wall_s": round(wall, 1),
            "images_per_min": round(60.0 * processed / wall, 2),
            "cpu_s_per_item_median": round(float(np.median([r["cpu_s"] for r in ok])), 2),
            "wall_s_per_item_median": round(float(np.median([r["time_total_s"] for r in ok])), 2),
            "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in ok), 0)}


def _replicated(src: Path, out: Path, n: int) -> dict:
    """Report and PCA time/memory at ``n`` items without building them: the built items hard-linked under
    new ids (the timings are real; the explained variance is not, the items repeat)."""
    import os

    from engine.dataset.index import write_table

    shutil.rmtree(out, ignore_errors=True)
    (out / "items").mkdir(parents=True)
    ds = open_dataset(src)
    ok = ds.ok_rows()
    rows = []
    for i in range(n):
        row = dict(ok[i % len(ok)])
        new = f"r{i:06d}"
        (out / "items" / new).mkdir()
        for f in (ds.item_dir(row["id"])).iterdir():
            os.link(f, out / "items" / new / f.name)
        rows.append({**row, "id": new})
    write_table(out / "index.parquet", rows)
    shutil.copyfile(src / "dataset.json", out / "dataset.json")
    _, report_s = _cli("report", str(out))
    pca, _ = _cli("pca", str(out), "--components", "100", "--size", "256")
    pca = json.loads(pca)
    return {"items": n, "report_s": round(report_s, 2),
            "report_html_kb": round((out / "report.html").stat().st_size / 1024, 1),
            "pca_s": pca["seconds"], "pca_peak_rss_mb": pca["peak_rss_mb"]}


def _save(out: Path, results: dict) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--texture-size", type=int, default=256)
    ap.add_argument("--quality", default="fast")
    ap.add_argument("--ray", action="store_true", help="also time the K items on a local Ray (2 CPUs)")
    ap.add_argument("--replicate", type=int, default=500,
                    help="also time report and PCA on this many items (the built ones hard-linked; 0: skip)")
    ap.add_argument("--out", type=Path, default=REPO / ".cache" / "bench_dataset")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = ["--texture-size", str(args.texture_size), "--quality", args.quality]
    photos = _photos(args.n)
    k = max(2, args.n // 2)
    small = _manifest(args.out / "small.jsonl", photos[:k])
    full = _manifest(args.out / "full.jsonl", photos)
    results: dict = {"n": args.n, "k": k, "settings": settings}
    one = _build(small, args.out / "w1", 1, settings)
    two = _build(small, args.out / "w2", 2, settings)
    _save(args.out, {**results, "1 worker": one, "2 workers": two})
    results["k_items"] = {"1 worker": one, "2 workers": two,
                          "parallel_efficiency": round(two["images_per_min"] / (2 * one["images_per_min"]), 3)}
    if args.ray:
        ray = _build(small, args.out / "ray", 2, settings, ray=True)
        results["k_items"]["ray 2 CPUs"] = ray
        results["k_items"]["ray_overhead"] = round(two["images_per_min"] / ray["images_per_min"] - 1.0, 3)
    main_ds = args.out / "full"
    results["n_items"] = _build(full, main_ds, 2, settings)
    _save(args.out, results)

    t0 = time.perf_counter()
    _cli("report", str(main_ds))
    results["report"] = {"seconds": round(time.perf_counter() - t0, 2),
                         "html_kb": round((main_ds / "report.html").stat().st_size / 1024, 1)}
    pca, _ = _cli("pca", str(main_ds), "--components", "100", "--size", "256")
    results["pca"] = json.loads(pca)

    if args.replicate:
        results["replicated"] = _replicated(main_ds, args.out / "replicated", args.replicate)
        _save(args.out, results)

    per_item = results["n_items"]["cpu_s_per_item_median"]
    rate2 = results["n_items"]["images_per_min"]
    results["projection"] = {
        "500_items_2_cores_min": round(500 / rate2, 1),
        "images_per_min_per_core": round(60.0 / max(results["n_items"]["wall_s_per_item_median"], 1e-6), 2),
        "note": "N nodes of c cores: ~ N * c * images_per_min_per_core (items are independent; the driver "
                "commits one part per 64 rows or 5 s)",
        "cpu_s_per_item": per_item,
    }
    _save(args.out, results)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
