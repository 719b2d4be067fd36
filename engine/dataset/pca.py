"""``pca`` / ``sample``: a linear texture basis of the ok items' albedos, streamed (memory independent of N).

Randomized PCA (Halko, Martinsson & Tropp 2011, algorithm 4.4 / 5.1) in three or more streaming passes
over the albedo PNGs, each resized to ``size``² (area average) and read as sRGB values in [0, 1]:

1. mean and a Gaussian sketch ``Y = Ω^T X`` (k x d, k = components + 10) in one pass: with
   per-row random vectors ω_i, ``Σ ω_i (x_i - μ) = Σ ω_i x_i - (Σ ω_i) μ``;
2. ``power_iterations`` passes ``Z = X̃^T (X̃ Q)`` (sharpen the range when the spectrum decays slowly);
3. the projected covariance ``C = Σ (x̃_i Q)^T (x̃_i Q)`` (k x k) and the total variance; eigenvectors of
   C rotate Q into the principal components.

Memory: a few d x k float32 arrays (d = 3·size²: 256² and k = 110 is 86 MB each), whatever N is.
The npz holds ``mean`` (size, size, 3) float32, ``components`` (K, size, size, 3) float32 (unit norm
over the flattened texel vector), ``explained_variance`` (K,), ``explained_variance_ratio`` (K,),
``ids`` (N,), ``size``, ``n_items``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engine.dataset.index import open_dataset
from engine.errors import InputError

__all__ = ["fit_pca", "sample", "load_albedo"]

OVERSAMPLE = 10
BATCH = 32


def load_albedo(path: Path, size: int) -> np.ndarray:
    """(size*size*3,) float32 sRGB in [0, 1] of an item's albedo (area-resized when not ``size``²)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"cannot read {path}")
    img = img[..., ::-1]
    if img.shape[0] != size or img.shape[1] != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return (img.astype(np.float32) / 255.0).reshape(-1)


def _batches(paths: list[Path], size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(paths), BATCH):
        yield np.stack([load_albedo(p, size) for p in paths[start:start + BATCH]])


def fit_pca(dataset: str | os.PathLike, output: str | os.PathLike | None = None, size: int = 256,
            components: int = 100, power_iterations: int = 1, seed: int = 0) -> dict[str, Any]:
    """Fits the basis on the ok items of ``dataset``; writes the npz; returns a summary (path, seconds,
    peak RSS, explained variance at 10/50/100 components)."""
    import resource

    t0 = time.perf_counter()
    ds = open_dataset(dataset)
    rows = ds.ok_rows()
    paths = [ds.item_dir(r["id"]) / "albedo.png" for r in rows]
    n = len(paths)
    if n < 2:
        raise InputError(f"PCA needs at least 2 ok items, {ds.path} has {n}")
    d = size * size * 3
    n_out = min(components, n - 1)
    k = min(n_out + OVERSAMPLE, n)
    rng = np.random.default_rng(seed)

    total = np.zeros(d, np.float64)
    sketch = np.zeros((k, d), np.float32)
    omega_sum = np.zeros(k, np.float64)
    for X in _batches(paths, size):
        omega = rng.standard_normal((X.shape[0], k)).astype(np.float32)
        sketch += omega.T @ X
        omega_sum += omega.sum(0)
        total += X.sum(0, dtype=np.float64)
    mean = (total / n).astype(np.float32)
    sketch -= np.outer(omega_sum, mean).astype(np.float32)
    Q, _ = np.linalg.qr(sketch.T)  # (d, k)
    del sketch

    for _ in range(power_iterations):
        Z = np.zeros((d, k), np.float32)
        for X in _batches(paths, size):
            Xc = X - mean
            Z += Xc.T @ (Xc @ Q)
        Q, _ = np.linalg.qr(Z)
        del Z

    C = np.zeros((k, k), np.float64)
    total_var = 0.0
    for X in _batches(paths, size):
        Xc = X - mean
        B = (Xc @ Q).astype(np.float64)
        C += B.T @ B
        total_var += float(np.einsum("ij,ij->", Xc, Xc, dtype=np.float64))
    evals, evecs = np.linalg.eigh(C)
    order = np.argsort(evals)[::-1][:n_out]
    evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
    comps = (Q @ evecs.astype(np.float32)).T  # (K, d)
    variance = evals / (n - 1)
    ratio = evals / max(total_var, 1e-30)

    out = Path(output) if output else ds.path / f"pca_{size}.npz"
    tmp = out.with_name(f".tmp-{out.name}")
    with open(tmp, "wb") as fh:
        np.savez(fh, mean=mean.reshape(size, size, 3), components=comps.reshape(-1, size, size, 3),
                 explained_variance=variance.astype(np.float32), explained_variance_ratio=ratio.astype(np.float32),
                 ids=np.array([r["id"] for r in rows]), size=np.int64(size), n_items=np.int64(n))
    os.replace(tmp, out)
    cumulative = np.cumsum(ratio)
    return {"output": str(out), "n_items": n, "components": int(n_out), "size": size,
            "seconds": round(time.perf_counter() - t0, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
            "explained_variance_ratio_at": {str(c): float(cumulative[min(c, n_out) - 1]) for c in (10, 50, 100)}}


def sample(pca: str | os.PathLike, output: str | os.PathLike, count: int = 8, seed: int = 0) -> list[Path]:
    """Decodes ``count`` random coefficient vectors (c_j ~ N(0, explained_variance_j)) to sRGB uint8 PNGs
    ``output/sample_###.png``; also writes ``mean.png``. Returns the sample paths."""
    from engine.assets import write_png

    data = np.load(pca)
    mean, comps, var = data["mean"], data["components"], data["explained_variance"]
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    write_png(out / "mean.png", np.clip(mean * 255.0 + 0.5, 0, 255).astype(np.uint8))
    rng = np.random.default_rng(seed)
    flat = comps.reshape(comps.shape[0], -1)
    paths = []
    for i in range(count):
        coeff = rng.standard_normal(len(var)).astype(np.float32) * np.sqrt(var)
        img = mean.reshape(-1) + coeff @ flat
        path = out / f"sample_{i:03d}.png"
        write_png(path, np.clip(img.reshape(mean.shape) * 255.0 + 0.5, 0, 255).astype(np.uint8))
        paths.append(path)
    return paths
