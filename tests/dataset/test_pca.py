"""engine/dataset/pca.py: the streamed randomized PCA against an exact SVD; sample decodes to PNGs."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.dataset.index import write_table
from engine.dataset.pca import fit_pca, sample


def _low_rank_dataset(root, n=40, size=16, rank=5, seed=1):
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((rank, size * size * 3)) * np.array([60, 40, 25, 15, 8])[:rank, None]
    images = []
    for i in range(n):
        img = np.clip(128 + rng.standard_normal(rank) @ basis + rng.normal(0, 1.0, size * size * 3), 0, 255)
        img = img.astype(np.uint8).reshape(size, size, 3)
        (root / "items" / f"i{i:03d}").mkdir(parents=True)
        Image.fromarray(img).save(root / "items" / f"i{i:03d}" / "albedo.png")
        images.append(img.reshape(-1) / 255.0)
    rows = [{"id": f"i{i:03d}", "status": "ok", "settings_hash": "s"} for i in range(n)]
    rows.append({"id": "bad", "status": "no_face", "settings_hash": "s"})  # not part of the PCA
    write_table(root / "index.parquet", rows)
    return np.array(images)


def test_matches_exact_pca(tmp_path):
    X = _low_rank_dataset(tmp_path)
    result = fit_pca(tmp_path, tmp_path / "pca.npz", size=16, components=8, power_iterations=2)
    data = np.load(tmp_path / "pca.npz")
    assert data["components"].shape == (8, 16, 16, 3) and int(data["n_items"]) == 40
    Xc = X - X.mean(0)
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    exact_var = s ** 2 / (len(X) - 1)
    np.testing.assert_allclose(data["mean"].reshape(-1), X.mean(0), atol=1e-6)
    np.testing.assert_allclose(data["explained_variance"][:5], exact_var[:5], rtol=1e-3)
    comps = data["components"].reshape(8, -1)
    for j in range(5):  # same directions up to sign
        assert abs(float(comps[j] @ vt[j])) == pytest.approx(1.0, abs=1e-3)
    ratio = exact_var / exact_var.sum()
    assert result["explained_variance_ratio_at"]["10"] == pytest.approx(ratio[:8].sum(), abs=1e-3)


def test_sample_writes_albedos(tmp_path):
    _low_rank_dataset(tmp_path, n=12)
    fit_pca(tmp_path, tmp_path / "pca.npz", size=16, components=4)
    paths = sample(tmp_path / "pca.npz", tmp_path / "samples", count=3)
    assert len(paths) == 3
    for p in paths:
        assert np.asarray(Image.open(p)).shape == (16, 16, 3)
    assert (tmp_path / "samples" / "mean.png").exists()
